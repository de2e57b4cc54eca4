"""The Dask back end: steps run on a Dask cluster (``pip install "nbflow[dask]"``).

Where: a cluster already running (``{"cluster": {"existing": {"address": ...}}}``), a
``distributed.LocalCluster`` started for the run and closed at its end
(``{"cluster": {"local": {...LocalCluster arguments}}}``), or a ``distributed.Client``
passed in (left open at the end: it is the caller's).

How:

* Ops (cloudpickled by value, so ops defined in notebook cells or in the project's own
  modules need only nbflow and the libraries they import on the workers) and their
  inputs go to the workers; a worker runs them with
  :func:`nbflow.execution.dask_worker.run_batch` and returns values, logs and errors. The
  workers never open the store: the process that runs the job writes it.
* Mapped steps go in batches -- one Dask task runs several steps -- so Dask's per-task
  overhead (about a millisecond at the scheduler) does not dominate thousands of trivial
  steps. Unless ``batch_size`` is set, a batch is sized from how many steps are waiting and
  how long steps took so far: one step per task when steps take 20 ms or more, otherwise
  up to about 50 ms of work per task, and never so large that the cluster's threads get
  fewer than two tasks each.
* A fan-out step runs in its own task and streams its items while it still yields: each
  item is a Dask event on the run's topic (``Worker.log_event``) that the scheduler pushes
  to this process's client, so ``f[k]`` starts on the cluster while the fan-out op is still
  running. The items pass through the scheduler; keep fan-out items small (paths, ids,
  parameters) and load big data inside the mapped op.
* A worker that dies (the OOM killer, a segfault) fails the step it was running, as Dask
  reports it (``KilledWorker``, after the scheduler's ``allowed-failures`` retries); the
  other steps of its batch run again one per task, and the run goes on.
* ``cancel()`` cancels the run's futures at once. Dask cannot interrupt a task that is
  already running, but marks it canceled on its worker: a batch stops before its next
  step and a fan-out op before its next item (its generator is closed); a step already
  running finishes in the background and its result is discarded.

Items go through Dask events rather than a ``distributed.Queue``: measured on 2 cores,
2,000 small items reach the coordinator in 0.05-0.1 s as events and in 2.6-2.9 s through
a queue, whose every ``put`` waits for the scheduler.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, cast

from nbflow.errors import ConfigError
from nbflow.execution.backend import Backend, Report
from nbflow.execution.step import FAILURE, DoneReport, ItemReport, StepTask

_SLOW_STEP = 0.02  # seconds: steps this long go one per Dask task
_BATCH_SECONDS = 0.05  # fast steps: about this much work per Dask task
_MAX_BATCH = 256
_FIRST_BATCH = 16  # the most steps per task before any step's duration is known
_ITEM_WAIT = 10.0  # seconds a finished fan-out step waits for items still on their way
_BY_VALUE = threading.Lock()  # cloudpickle's by-value registry is global: one op at a time


def import_distributed() -> Any:
    """``distributed``, or an error saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            'The Dask executor needs Dask\'s distributed scheduler: pip install "nbflow[dask]" '
            '(or pip install "dask[distributed]").'
        ) from exc
    return distributed


class DaskBackend(Backend):
    """Runs steps on a Dask cluster (see the module doc).

    Parameters
    ----------
    config:
        The ``dask_executor`` settings: ``cluster``, ``batch_size``, ``client``.
    client:
        A ``distributed.Client`` to run on (not closed at the end).
    address:
        The address of a running scheduler, e.g. ``"tcp://127.0.0.1:8786"``.
    batch_size:
        How many mapped steps one Dask task runs (None: chosen as the run goes).
    """

    name = "dask"

    def __init__(self, config: Mapping[str, Any] | None = None, *, client: Any = None,
                 address: str | None = None, batch_size: int | None = None) -> None:
        from nbflow.definitions.executors import ExecutorDefinition

        settings = dict(config or {})
        if address is not None:
            settings["cluster"] = {"existing": {"address": address}}
        if batch_size is not None:
            settings["batch_size"] = batch_size
        checked = ExecutorDefinition("dask", settings).config  # the same checks as dask_executor
        self._given_client = client if client is not None else checked["client"]
        if self._given_client is not None and not _is_client(self._given_client):
            raise ConfigError(f"dask_executor: client must be a distributed.Client, got {self._given_client!r}.")
        self.cluster_spec: dict[str, Any] = dict(checked["cluster"])
        self.batch_size: int | None = checked["batch_size"]
        self.client: Any = None
        self._cluster: Any = None  # a LocalCluster this back end started (closed at shutdown)
        self._topic = f"nbflow-items-{uuid.uuid4().hex}"
        self._arrived: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._tasks: dict[int, StepTask] = {}  # every step submitted and not reported done
        self._pending: list[int] = []  # submitted, not sent to Dask yet
        self._solo: set[int] = set()  # steps to send one per Dask task
        self._batches: dict[str, tuple[Any, list[int]]] = {}  # future key -> (future, task ids)
        self._items_seen: dict[int, int] = {}  # task id -> items received
        self._held: dict[int, tuple[float, int, DoneReport]] = {}  # done, waiting for items
        self._failed_early: list[Report] = []
        self._op_blobs: dict[int, tuple[str, bytes] | Exception] = {}
        self._durations = [0.0, 0]  # total seconds, count
        self._nthreads = 1
        self._next_id = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.client is not None:
            return
        distributed = import_distributed()
        if self._given_client is not None:
            self.client = self._given_client
        elif "existing" in self.cluster_spec:
            address = self.cluster_spec["existing"]["address"]
            try:
                self.client = distributed.Client(address, set_as_default=False)  # waits distributed.comm.timeouts.connect
            except OSError as exc:
                raise ConnectionError(
                    f"dask_executor: no Dask scheduler answered at {address!r} ({exc}). Start one "
                    f"(`dask scheduler` and `dask worker {address}`, or distributed.LocalCluster()) and "
                    f'pass its address, or use {{"cluster": {{"local": {{}}}}}} to start one for the run.'
                ) from exc
        else:
            kwargs = dict(self.cluster_spec["local"])
            try:
                self._cluster = distributed.LocalCluster(**kwargs)
            except TypeError as exc:
                raise ConfigError(f"dask_executor: cluster.local has an argument LocalCluster does not take: {exc}.") from exc
            self.client = distributed.Client(self._cluster, set_as_default=False)
        self.client.subscribe_topic(self._topic, self._on_event)
        self._nthreads = max(1, sum(self.client.nthreads().values()))

    def shutdown(self) -> None:
        client = self.client
        if client is None:
            return
        self.client = None
        futures = [future for future, _ in self._batches.values()]
        self._batches.clear()
        try:
            if futures:
                client.cancel(futures)
            client.unsubscribe_topic(self._topic)
            from nbflow.execution.dask_worker import forget_topic

            client.run_on_scheduler(forget_topic, self._topic)
        except Exception:
            pass  # a cluster that went away keeps nothing of this run anyway
        if client is not self._given_client:
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    # -- submitting ----------------------------------------------------------------------------
    def can_submit(self) -> bool:
        return True  # Dask queues tasks itself; this back end batches whatever is waiting

    def submit(self, task: StepTask) -> None:
        self.start()
        task_id = self._next_id
        self._next_id += 1
        self._tasks[task_id] = task
        self._pending.append(task_id)
        if any(out.is_dynamic for out in task.op.outs.values()):
            self._solo.add(task_id)  # a fan-out step streams its items from a task of its own

    def _flush(self) -> None:
        """Send the steps submitted since the last poll, in batches."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        solo = [task_id for task_id in pending if task_id in self._solo]
        rest = [task_id for task_id in pending if task_id not in self._solo]
        for task_id in solo:
            self._solo.discard(task_id)
            self._send([task_id])
        size = self._batch_size(len(rest))
        for i in range(0, len(rest), size):
            self._send(rest[i:i + size])

    def _batch_size(self, waiting: int) -> int:
        if self.batch_size is not None:
            return self.batch_size
        total, count = self._durations
        if count < 4:
            cap = _FIRST_BATCH
        else:
            mean = total / count
            if mean >= _SLOW_STEP:
                return 1
            cap = max(1, min(_MAX_BATCH, int(_BATCH_SECONDS / max(mean, 1e-6))))
        return max(1, min(cap, math.ceil(waiting / (2 * self._nthreads))))

    def _send(self, task_ids: list[int]) -> None:
        """One Dask task for these steps. A step that cannot be pickled fails here, with the reason."""
        import cloudpickle

        from nbflow.execution.dask_worker import run_batch

        ops: dict[str, bytes] = {}
        fields = []
        for task_id in task_ids:
            task = self._tasks[task_id]
            blob = self._op_blob(task.op)
            if isinstance(blob, Exception):
                self._fail_early(task_id, _unpicklable(task, blob))
                continue
            ops[blob[0]] = blob[1]
            fields.append((task_id, (task.node, task.key, task.key_index, blob[0], task.inputs, task.config,
                                     task.run_id, task.partition_key, task.run_config, task.retry_number)))
        if not fields:
            return
        try:
            steps = cloudpickle.dumps(fields)
        except Exception:
            fields = self._picklable(fields)  # find the steps that cannot go; send the others
            if not fields:
                return
            steps = cloudpickle.dumps(fields)
        first = self._tasks[fields[0][0]]
        future = self.client.submit(run_batch, self._topic, ops, steps, pure=False,
                                    key=f"nbflow-{first.node}-{uuid.uuid4().hex}")
        self._batches[future.key] = (future, [task_id for task_id, _ in fields])
        future.add_done_callback(self._on_done_future)

    def _op_blob(self, op: Any) -> tuple[str, bytes] | Exception:
        found = self._op_blobs.get(id(op))
        if found is None:
            try:
                found = (f"{self._topic}-{id(op)}", _dumps_by_value(op))
            except Exception as exc:
                found = exc
            self._op_blobs[id(op)] = found
        return found

    def _picklable(self, fields: list[Any]) -> list[Any]:
        import cloudpickle

        kept = []
        for entry in fields:
            try:
                cloudpickle.dumps(entry)
            except Exception as exc:
                self._fail_early(entry[0], _unpicklable(self._tasks[entry[0]], exc))
                continue
            kept.append(entry)
        return kept

    def _fail_early(self, task_id: int, error: str) -> None:
        task = self._tasks.pop(task_id)
        self._failed_early.append(DoneReport(task, FAILURE, {}, [], time.time(), time.time(), error))

    # -- reports -------------------------------------------------------------------------------
    def _on_event(self, event: tuple[float, Any]) -> None:  # the client's event loop thread
        self._arrived.put(("item", event[1]))

    def _on_done_future(self, future: Any) -> None:  # Dask's callback thread
        self._arrived.put(("done", future))

    def poll(self, timeout: float | None = None) -> list[Report]:
        self._flush()
        reports, self._failed_early = self._failed_early, []
        arrived = _drain(self._arrived, 0.0 if reports else timeout)
        finished = []
        for kind, payload in arrived:
            if kind == "item":
                item = self._item(payload)
                if item is not None:
                    reports.append(item)
                    reports.extend(self._release(item.task))
            else:
                finished.append(payload)
        if finished:
            reports.extend(self._collect(finished))
        if self._held:
            reports.extend(self._overdue())
        return reports

    def _item(self, payload: bytes) -> ItemReport | None:
        import cloudpickle

        task_id, seq, output_name, key, value = cloudpickle.loads(payload)
        task = self._tasks.get(task_id)
        if task is None or seq != self._items_seen.get(task_id, 0):
            return None  # a canceled step's, or sent again by a task Dask re-ran
        self._items_seen[task_id] = seq + 1
        return ItemReport(task, output_name, key, value)

    def _collect(self, futures: list[Any]) -> list[Report]:
        reports: list[Report] = []
        live = [f for f in futures if f.key in self._batches]
        finished = [f for f in live if f.status == "finished"]
        if finished:
            try:
                results = self.client.gather(finished)
            except Exception:  # a result lost on the way (its worker died): one by one
                results = [_result_or_error(f) for f in finished]
            for future, result in zip(finished, results, strict=True):
                reports.extend(self._settle(future, result))
        for future in live:
            if future.status in ("error", "cancelled"):
                reports.extend(self._settle(future, _result_or_error(future)))
            elif future.status != "finished":  # lost with its worker: Dask runs it again
                future.add_done_callback(self._on_done_future)
        return reports

    def _settle(self, future: Any, outcome: Any) -> list[Report]:
        """The reports of one ended Dask task: its steps' results, or their failure."""
        _, task_ids = self._batches.pop(future.key)
        if isinstance(outcome, BaseException):
            return self._batch_failed(task_ids, outcome)
        reports = self._done(outcome)
        unreported = [task_id for task_id in task_ids if task_id in self._tasks and task_id not in self._held]
        if unreported:  # the task stopped early: Dask marked it canceled on its worker
            reports.extend(self._batch_failed(unreported, RuntimeError(
                "its Dask task was canceled on the worker before the step ran")))
        return reports

    def _done(self, results: list[tuple[int, bytes]]) -> list[Report]:
        import cloudpickle

        reports: list[Report] = []
        for sent, blob in results:
            if not blob:  # a fan-out stopped because its task was canceled
                continue
            _, task_id, status, outputs, logs, start, end, error, exc = cloudpickle.loads(blob)
            task = self._tasks.get(task_id)
            if task is None:
                continue
            self._durations[0] += max(0.0, end - start)
            self._durations[1] += 1
            report = DoneReport(task, status, outputs, logs, start, end, error, exc)
            if self._items_seen.get(task_id, 0) < sent:  # items still on their way: done after them
                self._held[task_id] = (time.monotonic(), sent, report)
                continue
            reports.extend(self._finish(task_id, report))
        return reports

    def _finish(self, task_id: int, report: DoneReport) -> list[Report]:
        self._tasks.pop(task_id, None)
        self._items_seen.pop(task_id, None)
        return [report]

    def _release(self, task: StepTask) -> list[Report]:
        """The held done report of ``task`` once all of its items arrived."""
        for held_id, (_, sent, report) in list(self._held.items()):
            if report.task is task and self._items_seen.get(held_id, 0) >= sent:
                del self._held[held_id]
                return self._finish(held_id, report)
        return []

    def _overdue(self) -> list[Report]:
        reports: list[Report] = []
        now = time.monotonic()
        for task_id, (since, sent, report) in list(self._held.items()):
            if now - since > _ITEM_WAIT:
                del self._held[task_id]
                got = self._items_seen.get(task_id, 0)
                reports.extend(self._finish(task_id, DoneReport(
                    report.task, FAILURE, {}, report.logs, report.start, report.end,
                    f"op '{report.task.op.name}' yielded {sent} items on Dask, but only {got} reached this "
                    f"process within {_ITEM_WAIT:g} s of the step's end (the scheduler dropped events). "
                    f"Rerun the failed steps.")))
        return reports

    def _batch_failed(self, task_ids: list[int], exc: BaseException) -> list[Report]:
        """A Dask task ended without results: its worker died, or it could not start."""
        from distributed import KilledWorker

        live = [task_id for task_id in task_ids if task_id in self._tasks and task_id not in self._held]
        if isinstance(exc, KilledWorker) and len(live) > 1:
            # Which step killed the worker is not known: run each alone, so only that one fails.
            self._solo.update(live)
            self._pending.extend(live)
            return []
        reports: list[Report] = []
        now = time.time()
        for task_id in live:
            task = self._tasks[task_id]
            reports.extend(self._finish(task_id, DoneReport(task, FAILURE, {}, [], now, now, _why_failed(task, exc))))
        return reports

    def in_flight(self) -> int:
        return len(self._tasks) + len(self._failed_early)

    def cancel(self) -> list[StepTask]:
        futures = [future for future, _ in self._batches.values()]
        if futures and self.client is not None:
            try:
                self.client.cancel(futures)
            except Exception:
                pass  # the cluster is gone: nothing of this run runs there any more
        self._batches.clear()
        dropped = list(self._tasks.values()) + [r.task for r in self._failed_early]
        self._tasks.clear()
        self._pending.clear()
        self._solo.clear()
        self._held.clear()
        self._items_seen.clear()
        self._failed_early = []
        return dropped


def _is_client(value: Any) -> bool:
    return type(value).__name__ == "Client" and type(value).__module__.startswith("distributed")


def _drain(arrived: queue.SimpleQueue[tuple[str, Any]], timeout: float | None) -> list[tuple[str, Any]]:
    found = []
    try:
        found.append(arrived.get(timeout=timeout) if timeout != 0 else arrived.get_nowait())
        while True:
            found.append(arrived.get_nowait())
    except queue.Empty:
        pass
    return found


def _result_or_error(future: Any) -> Any:
    try:
        return future.result(timeout=10)
    except BaseException as exc:
        return exc


def _dumps_by_value(op: Any) -> bytes:
    """The op cloudpickled with its function's module by value (unless it is an installed package),
    so workers need nbflow and the op's libraries, not the notebook's or project's own modules."""
    import sys

    import cloudpickle

    module_name = getattr(getattr(op, "fn", None), "__module__", None) or "__main__"
    module = sys.modules.get(module_name)
    by_value = (module is not None and module_name != "__main__" and _is_project_module(module)
                and module_name not in cloudpickle.list_registry_pickle_by_value())  # the user's own registration stays
    if not by_value:
        return cast(bytes, cloudpickle.dumps(op))
    with _BY_VALUE:
        cloudpickle.register_pickle_by_value(module)
        try:
            return cast(bytes, cloudpickle.dumps(op))
        finally:
            cloudpickle.unregister_pickle_by_value(module)


def _is_project_module(module: Any) -> bool:
    """A module of the user's own code: not nbflow, not from an installed package or the standard library."""
    import sysconfig

    name, path = module.__name__, getattr(module, "__file__", None)
    if path is None or name == "nbflow" or name.startswith("nbflow."):
        return False
    installed = {sysconfig.get_path(p) for p in ("stdlib", "platstdlib", "purelib", "platlib")}
    return not any(path.startswith(prefix) for prefix in installed if prefix)


def _unpicklable(task: StepTask, exc: Exception) -> str:
    from nbflow.execution.processes import _find_culprit

    return (
        f"op '{task.op.name}' cannot run on Dask: {_find_culprit(task)} cannot be pickled "
        f"({type(exc).__name__}: {exc}). Create such objects inside the op (open the connection or "
        f"file there), pass plain data between ops, or run this job with the thread executor."
    )


def _why_failed(task: StepTask, exc: BaseException) -> str:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return (
            f"Dask worker died while running step {task.step_key} ({type(exc).__name__}: {exc}): it was "
            f"killed (often by the out-of-memory killer) or crashed in native code. The other steps go on."
        )
    if isinstance(exc, ModuleNotFoundError | ImportError):
        return (
            f"step {task.step_key} could not start on a Dask worker: {type(exc).__name__}: {exc}. Install "
            f"nbflow and the libraries the op uses on every worker (the same versions as here)."
        )
    return f"step {task.step_key} did not run on Dask: {type(exc).__name__}: {exc}"
