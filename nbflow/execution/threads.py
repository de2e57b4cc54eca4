"""The thread back end: steps run in a pool of threads of this process.

For I/O-bound ops (HTTP calls, file and database reads) that wait more than they compute.
Worker threads are started as work arrives, up to ``max_concurrent``. A worker takes a
few ready steps at a time when many are waiting, so thousands of trivial steps do not
pay a thread hand-off each; with few steps waiting, each worker takes one, so slow
steps spread over every thread. A fan-out step runs in a worker and its items reach
the executor as they are yielded.

Threads cannot be killed: on cancel, steps not started are dropped at once, and running
ones are abandoned after the executor's grace period (they finish in the background and
their results are discarded).
"""

from __future__ import annotations

import _thread
import heapq
import queue
import threading
import time

from nbflow.execution.aio import AsyncSteps, is_async
from nbflow.execution.backend import Backend, Report, _drain
from nbflow.execution.step import FAILURE, DoneReport, StepTask, execute_step

_MAX_BATCH = 64
_FAST_STEP = 0.002
_IDLE_CHECK = 1.0  # seconds between an idle thread's looks at the shutdown flag  # seconds: below this mean duration, workers take steps in batches


class ThreadBackend(Backend):
    """Runs steps in up to ``max_concurrent`` threads (``async def`` steps on an event loop)."""

    name = "thread"

    def __init__(self, max_concurrent: int = 32) -> None:
        self.max_concurrent = max_concurrent
        self._ready: list[tuple[int, int, StepTask]] = []  # heap of (priority, sequence, step)
        self._seq = 0
        self._cond = threading.Condition()
        self._reports: queue.SimpleQueue[Report] = queue.SimpleQueue()
        self._threads = 0
        self._idle = 0
        self._running: dict[int, StepTask] = {}
        self._stopping = False
        self._async = AsyncSteps(max_concurrent, self._reports.put)
        self._durations = [0.0, 0]  # total seconds, count (updated racily: an estimate is enough)

    def can_submit(self) -> bool:
        # A bounded backlog beyond the running steps lets workers take batches.
        return len(self._ready) < 4 * self.max_concurrent

    def submit(self, task: StepTask) -> None:
        if is_async(task):
            self._async.submit(task)
            return
        with self._cond:
            self._seq += 1
            heapq.heappush(self._ready, (task.priority, self._seq, task))
            if self._idle:  # taken off the idle count here, so the next step wakes another thread
                self._idle -= 1
                self._cond.notify()
            elif self._threads < self.max_concurrent:
                self._spawn()

    def _spawn(self) -> None:
        # threading.Thread.start() waits until the new thread runs: 200 of them cost the
        # coordinator tens of milliseconds of hand-offs. A bare thread starts without waiting;
        # nothing joins these workers (they stop when told, or with the process).
        self._threads += 1
        _thread.start_new_thread(self._work, ())

    def _work(self) -> None:
        put, running = self._reports.put, self._running
        while True:
            with self._cond:
                while not self._ready and not self._stopping:
                    self._idle += 1
                    # Whoever notifies takes this thread off the idle count. The timeout lets
                    # idle threads see a shutdown without being woken all at once by it.
                    if not self._cond.wait(timeout=_IDLE_CHECK):
                        self._idle -= 1
                if self._stopping:
                    return
                n = self._batch_size()
                batch = [heapq.heappop(self._ready)[2] for _ in range(min(n, len(self._ready)))]
                for task in batch:  # marked while the lock is held: never in neither place
                    running[id(task)] = task
            for task in batch:
                if self._stopping:
                    return
                began = time.perf_counter()
                try:
                    for report in execute_step(task):
                        put(report)
                except BaseException as exc:
                    put(DoneReport(task, FAILURE, {}, [], 0.0, 0.0, f"{type(exc).__name__}: {exc}", None))
                finally:
                    running.pop(id(task), None)
                    self._durations[0] += time.perf_counter() - began
                    self._durations[1] += 1

    def _batch_size(self) -> int:
        # Slow steps go one per thread so they spread over every thread; steps that take
        # microseconds go in batches so they do not pay a thread hand-off each.
        total, count = self._durations
        if count < 8 or total / count >= _FAST_STEP:
            return 1
        return min(_MAX_BATCH, max(1, len(self._ready) // self.max_concurrent))

    def poll(self, timeout: float | None = None) -> list[Report]:
        return _drain(self._reports, timeout)

    def in_flight(self) -> int:
        return len(self._ready) + len(self._running) + self._async.in_flight() + self._reports.qsize()

    def cancel(self) -> list[StepTask]:
        with self._cond:
            dropped = [task for _, _, task in self._ready]
            self._ready.clear()
        return dropped + self._async.cancel()

    def abandon(self) -> list[StepTask]:
        self._stop_threads()
        return list(self._running.values())

    def shutdown(self) -> None:
        self._stop_threads()
        self._async.shutdown()

    def _stop_threads(self) -> None:
        # No notify_all: hundreds of threads waking at once would compete with whatever the
        # process does next (the run's last write, the next cell); each sees the flag within
        # a second and ends.
        self._stopping = True
