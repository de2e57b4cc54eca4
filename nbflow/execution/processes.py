"""The process back end: steps run in a pool of worker processes.

For CPU-bound ops. Ops defined in notebook cells and their inputs go to the workers by
cloudpickle (each op once per worker); values, logs and errors come back the same way.

The pool is nbflow's own rather than ``concurrent.futures.ProcessPoolExecutor`` because a
run needs three things that pool does not give: a fan-out step in a worker streams its
items while it runs; a worker that dies (the OOM killer, a segfault) fails only the step it
was running -- a new worker takes its place and the run goes on -- where the standard
pool breaks as a whole; and cancel terminates the running steps at once.

Steps go to idle workers in batches sized by how long steps take: one at a time while
they are slow, up to 64 when they take a few milliseconds, so thousands of
trivial steps do not pay a round trip each.
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
import os
import pickle
import sys
import types
from collections import deque
from collections.abc import Iterator
from typing import Any

from nbflow.execution.backend import Backend, Report
from nbflow.execution.step import FAILURE, DoneReport, ItemReport, StepTask

_MAX_BATCH = 64
_FAST_STEP = 0.005  # seconds: below this mean duration, steps are sent in batches


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a worker without re-running the user's script in it.

    The spawn and forkserver start methods re-import ``__main__`` in every child so that
    functions defined there can be unpickled. Workers get ops by value (cloudpickle), so
    that is never needed, and for a script without an ``if __name__ == "__main__":`` guard
    it would run the whole script -- the job included -- once more per worker.
    """
    main = sys.modules.get("__main__")
    stand_in = types.ModuleType("__main__")
    if main is not None:
        sys.modules["__main__"] = stand_in
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class _Worker:
    def __init__(self, ctx: Any, index: int) -> None:
        from nbflow.execution.worker import main

        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=main, args=(child,), name=f"nbflow-worker-{index}", daemon=True)
        with _main_module_hidden():
            self.process.start()
        child.close()
        self.assigned: deque[int] = deque()  # task ids sent and not done, in the order they run
        self.ops: set[int] = set()


class ProcessBackend(Backend):
    """Runs steps in ``max_concurrent`` worker processes started with ``start_method``."""

    name = "multiprocess"

    def __init__(self, max_concurrent: int | None = None, start_method: str = "forkserver") -> None:
        self.max_concurrent = max_concurrent or os.cpu_count() or 1
        if start_method not in multiprocessing.get_all_start_methods():
            start_method = "spawn"
        self.start_method = start_method
        self._ctx: Any = None
        self._workers: list[_Worker] = []
        self._pending: list[tuple[int, int]] = []  # heap of (priority, task id)
        self._tasks: dict[int, StepTask] = {}
        self._next_id = 0
        self._failed_early: list[Report] = []
        self._durations = [0.0, 0]  # total seconds, count: the mean step time picks batch sizes

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._ctx is not None:
            return
        self._ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            # Forks of a server that has nbflow's worker loaded start in milliseconds.
            self._ctx.set_forkserver_preload(["nbflow.execution.worker"])
        self._workers = [_Worker(self._ctx, i) for i in range(self.max_concurrent)]

    def shutdown(self) -> None:
        for worker in self._workers:
            try:
                worker.conn.send_bytes(pickle.dumps(("stop",)))
            except (OSError, ValueError):
                pass
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=2)
            worker.conn.close()
        self._workers = []

    # -- submitting ----------------------------------------------------------------------------
    def can_submit(self) -> bool:
        # Quick steps: enough waiting here to fill a batch for every worker (with a few, each
        # batch held a few steps and the run paid a round trip per handful).
        return len(self._pending) < (_MAX_BATCH if self._fast() else 4) * self.max_concurrent

    def submit(self, task: StepTask) -> None:
        self.start()
        task_id = self._next_id
        self._next_id += 1
        self._tasks[task_id] = task
        heapq.heappush(self._pending, (task.priority, task_id))
        if not self._fast() and any(not w.assigned for w in self._workers):  # an idle worker starts at once
            self._dispatch()
        # else (or when steps are quick) the next poll dispatches what piled up, in batches

    def _fast(self) -> bool:
        total, count = self._durations
        return count >= 4 and total / count < _FAST_STEP

    def _dispatch(self) -> None:
        fast = self._fast()
        # Slow steps: one per worker, never queued behind another (a fan-out may run for long).
        # Fast ones: a worker is topped up only when its backlog runs low, so batches form.
        per_worker = _MAX_BATCH if fast else 1
        low_water = _MAX_BATCH // 4 if fast else 1
        open_workers = [w for w in self._workers if not self._runs_fan_out(w)]
        for n, worker in enumerate(sorted(open_workers, key=lambda w: len(w.assigned))):
            room = per_worker - len(worker.assigned)
            if not self._pending:
                return
            if room <= 0 or len(worker.assigned) >= low_water:
                continue
            share = max(1, -(-len(self._pending) // (len(open_workers) - n))) if fast else 1
            self._send(worker, [heapq.heappop(self._pending)[1] for _ in range(min(room, share, len(self._pending)))])

    def _runs_fan_out(self, worker: _Worker) -> bool:
        """A fan-out may yield for long: nothing waits in line behind it."""
        return bool(worker.assigned) and self._tasks[worker.assigned[0]].op.is_generator

    def _send(self, worker: _Worker, task_ids: list[int]) -> None:
        """Send steps to a worker. A step that cannot be pickled fails here, with the reason."""
        import cloudpickle

        steps = []
        for task_id in task_ids:
            task = self._tasks[task_id]
            op_id = id(task.op)
            if op_id not in worker.ops:
                try:
                    op_bytes = cloudpickle.dumps(task.op)
                except Exception as exc:
                    self._fail_early(task_id, exc)
                    continue
                worker.conn.send_bytes(pickle.dumps(("op", op_id, op_bytes)))
                worker.ops.add(op_id)
            steps.append((task_id, (task.node, task.key, task.key_index, op_id, task.inputs, task.config,
                                    task.run_id, task.partition_key, task.run_config, task.retry_number)))
        try:
            data = cloudpickle.dumps(steps)  # one pickling pass for the whole batch
        except Exception:
            data, steps = self._pickle_one_by_one(steps)
        for task_id, _ in steps:
            worker.assigned.append(task_id)
        if steps:
            worker.conn.send_bytes(pickle.dumps(("run", data)))

    def _pickle_one_by_one(self, steps: list[tuple[Any, ...]]) -> tuple[bytes, list[tuple[Any, ...]]]:
        import cloudpickle

        good = []
        for step in steps:
            try:
                cloudpickle.dumps(step)
            except Exception as exc:
                self._fail_early(step[0], exc)
                continue
            good.append(step)
        return cloudpickle.dumps(good), good

    def _fail_early(self, task_id: int, exc: Exception) -> None:
        task = self._tasks.pop(task_id)
        self._failed_early.append(DoneReport(task, FAILURE, {}, [], 0.0, 0.0, _unpicklable(task, exc)))

    # -- reports -------------------------------------------------------------------------------
    def poll(self, timeout: float | None = None) -> list[Report]:
        from multiprocessing.connection import wait

        self._dispatch()  # what was submitted since the last poll, in batches
        reports, self._failed_early = self._failed_early, []
        if reports:
            timeout = 0
        by_conn = {w.conn: w for w in self._workers}
        by_sentinel = {w.process.sentinel: w for w in self._workers}
        ready = wait([*by_conn, *by_sentinel], timeout)
        for handle in ready:
            worker = by_conn.get(handle)
            if worker is not None:
                reports.extend(self._receive(worker))
        for handle in ready:
            worker = by_sentinel.get(handle)
            if worker is not None and not worker.process.is_alive():
                reports.extend(self._replace(worker))
        self._dispatch()
        return reports

    def _receive(self, worker: _Worker) -> list[Report]:
        import cloudpickle

        found: list[Report] = []
        try:
            while worker.conn.poll():
                for payload in cloudpickle.loads(worker.conn.recv_bytes()):
                    found.append(self._report(worker, payload))
        except (EOFError, OSError):
            pass  # the worker is gone; its sentinel says so
        return found

    def _report(self, worker: _Worker, payload: tuple[Any, ...]) -> Report:
        kind, task_id = payload[0], payload[1]
        task = self._tasks[task_id]
        if kind == "item":
            return ItemReport(task, payload[2], payload[3], payload[4])
        del self._tasks[task_id]
        if worker.assigned and worker.assigned[0] == task_id:
            worker.assigned.popleft()
        else:
            worker.assigned.remove(task_id)
        _, _, status, outputs, logs, start, end, error, exc = payload
        self._durations[0] += max(0.0, end - start)
        self._durations[1] += 1
        return DoneReport(task, status, outputs, logs, start, end, error, exc)

    def _replace(self, dead: _Worker) -> list[Report]:
        """A worker died: fail the step it was running, requeue the ones it had not started."""
        reports = self._receive(dead)  # whatever it sent before it died
        code = dead.process.exitcode
        index = self._workers.index(dead)
        dead.conn.close()
        self._workers[index] = _Worker(self._ctx, index)
        if dead.assigned:
            running = dead.assigned.popleft()
            task = self._tasks.pop(running)
            reports.append(DoneReport(
                task, FAILURE, {}, [], 0.0, 0.0,
                f"worker process died (exit code {code}) while running step {task.step_key}: it was killed "
                f"(-9 is usually the out-of-memory killer) or crashed in native code. The other steps go on.",
            ))
            for task_id in dead.assigned:
                heapq.heappush(self._pending, (self._tasks[task_id].priority, task_id))
        return reports

    def in_flight(self) -> int:
        return len(self._tasks) + len(self._failed_early)

    def cancel(self) -> list[StepTask]:
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=2)
            worker.conn.close()
        self._workers = []
        dropped = list(self._tasks.values()) + [r.task for r in self._failed_early]
        self._tasks.clear()
        self._pending.clear()
        self._failed_early = []
        return dropped


def _unpicklable(task: StepTask, exc: Exception) -> str:
    """Why this step cannot be sent to a worker process, and what to do."""
    return (
        f"op '{task.op.name}' cannot run in a worker process: {_find_culprit(task)} cannot be pickled "
        f"({type(exc).__name__}: {exc}). Create such objects inside the op (open the connection or "
        f"file there), pass plain data between ops, or run this job with the thread executor."
    )


def _find_culprit(task: StepTask) -> str:
    import cloudpickle

    for name, value in task.inputs.items():
        try:
            cloudpickle.dumps(value)
        except Exception:
            return f"its input '{name}' (a {type(value).__module__}.{type(value).__qualname__})"
    try:
        cloudpickle.dumps(task.config)
    except Exception:
        return "its config"
    return "the op's function (it refers to something global that cannot be pickled)"
