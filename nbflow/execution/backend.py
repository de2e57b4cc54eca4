"""Executor back ends: where steps run.

Every back end has the same interface with a lifecycle and a capacity -- ``start``,
``can_submit``, ``submit``, ``poll``, ``cancel``, ``abandon``, ``shutdown`` -- so the
executor does not care whether steps run inline, in threads, in worker processes or on
Dask. Reports are :class:`~nbflow.execution.step.ItemReport` (an item a fan-out step
yielded, sent as soon as it is yielded) and :class:`~nbflow.execution.step.DoneReport`
(the end of one attempt).

The executor keeps the queue of ready steps itself and submits while ``can_submit()``,
so pools, tag limits and cancellation are decided in one place.
"""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Generator

from nbflow import capture
from nbflow.execution.aio import AsyncSteps
from nbflow.execution.step import DoneReport, ItemReport, StepTask, execute_step, run_step

Report = ItemReport | DoneReport
BATCH_STEPS = 1024  # at most this many steps advanced per poll of the in-process back end
BATCH_SECONDS = 0.005  # ... or for about this long: the executor looks at cancel requests between polls


class Backend(ABC):
    """The interface every back end implements."""

    name = "backend"

    def start(self) -> None:  # noqa: B027 -- most back ends start lazily
        """Get ready to run steps (start pools, connect to a cluster)."""

    @abstractmethod
    def can_submit(self) -> bool:
        """Whether another step can be submitted now (the back end's capacity)."""

    @abstractmethod
    def submit(self, task: StepTask) -> None:
        """Start one attempt of one step."""

    @abstractmethod
    def poll(self, timeout: float | None = None) -> list[Report]:
        """Return the reports that are ready, waiting up to ``timeout`` seconds for the first."""

    @abstractmethod
    def in_flight(self) -> int:
        """How many submitted steps have not sent their final report yet."""

    @abstractmethod
    def cancel(self) -> list[StepTask]:
        """Stop running work where it can be stopped at once (processes terminated, futures
        cancelled); return the submitted steps that will never report. Steps that may still
        finish (threads) stay in flight until :meth:`abandon`."""

    def abandon(self) -> list[StepTask]:
        """Give up on the steps still in flight after a cancel; return them."""
        return []

    def shutdown(self) -> None:  # noqa: B027 -- nothing to release by default
        """Release pools, processes and connections."""


class InProcessBackend(Backend):
    """Runs steps one at a time in the thread that runs the job, interleaving fan-out generators.

    A fan-out step is advanced one item per poll and then goes back in the queue
    behind the steps its item made ready, so ``f[k]`` starts right after the
    fan-out op yields ``k`` and ``g[k]`` right after ``f[k]``: pipelined per key.
    ``async def`` steps run concurrently on an event loop, up to ``max_concurrent``.
    """

    name = "in_process"

    def __init__(self, max_concurrent: int = 32) -> None:
        self._queue: deque[tuple[StepTask, Generator[Report, None, None] | None]] = deque()
        self._current: tuple[StepTask, Generator[Report, None, None] | None] | None = None  # the step being advanced
        self._reports: queue.SimpleQueue[Report] = queue.SimpleQueue()
        self._async = AsyncSteps(max_concurrent, self._reports.put)
        self._runner: int | None = None  # the thread advancing steps
        self._interrupted: BaseException | None = None  # raised at the next poll
        # The capture buffer current while a poll advances steps; each step takes out what it
        # printed. One list for the back end's life: a fan-out step resumed in a later poll
        # finds the same one.
        self._capturing: list[capture.LogChunk] = []

    def can_submit(self) -> bool:
        return True

    def interrupt_target(self) -> int | None:
        """The thread running a step's code right now, if any (a cancel interrupts it)."""
        return self._runner if self._current is not None else None

    def submit(self, task: StepTask) -> None:
        op = task.op
        if getattr(op, "is_async", False):  # what is_async(task) asks, without a call per step
            self._async.submit(task)
        elif op.is_generator:
            self._queue.append((task, execute_step(task, self._capturing)))
        else:  # run by run_step when its turn comes: no generator per step
            self._queue.append((task, None))

    def poll(self, timeout: float | None = None) -> list[Report]:
        """Advance every step queued now by one report (up to :data:`BATCH_STEPS` of them or
        :data:`BATCH_SECONDS`); the steps their reports make ready run at the next poll.

        That is the order of one step per poll -- what a report makes ready is queued behind
        what was queued before it -- with one round trip through the executor per batch.
        """
        if self._interrupted is not None:
            exc, self._interrupted = self._interrupted, None
            raise exc
        steps = self._queue
        if not steps:
            return _drain(self._reports, timeout)
        # Async steps' reports, if any: checked without raising Empty on every sync step.
        ready = _drain(self._reports, None, wait=False) if self._reports.qsize() else []
        self._runner = threading.get_ident()
        deadline = time.monotonic() + BATCH_SECONDS
        capturing = self._capturing
        capturing.clear()  # what an interrupted step printed before it was stopped
        outside = capture.set_buffer(capturing)
        try:
            for _ in range(min(len(steps), BATCH_STEPS)):
                entry = self._current = steps.popleft()
                if entry[1] is None:
                    ready.append(run_step(entry[0], capturing))
                else:
                    report = next(entry[1])
                    if type(report) is ItemReport:
                        steps.append(entry)
                    ready.append(report)
                if time.monotonic() > deadline:
                    break
        except BaseException as exc:  # Ctrl-C or a cancel's interrupt inside a step
            if not ready:
                raise
            # Hand over the reports of the steps that finished first; the interrupt follows
            # at the next poll (the interrupted step stays current, so a cancel records it).
            self._interrupted = exc
            return ready
        finally:
            capture.set_buffer(outside)
        self._current = None
        return ready

    def in_flight(self) -> int:
        if self._queue:  # the common case, asked once per step: no need to count the rest
            return len(self._queue)
        return self._async.in_flight() + self._reports.qsize() + (self._interrupted is not None)

    def cancel(self) -> list[StepTask]:
        self._interrupted = None
        entries = ([self._current] if self._current else []) + list(self._queue)
        for entry in entries:
            if entry is self._current and self._runner != threading.get_ident():
                continue  # running in the coordinator thread, stuck: it is dropped, not closed
            if entry[1] is not None:
                entry[1].close()
        self._queue.clear()
        self._current = None
        return [task for task, _ in entries] + self._async.cancel()

    def shutdown(self) -> None:
        self._async.shutdown()


def _drain(reports: queue.SimpleQueue[Report], timeout: float | None, wait: bool = True,
           limit: int = 50_000) -> list[Report]:
    """Every report waiting in ``reports``; with ``wait``, block up to ``timeout`` for the first."""
    found: list[Report] = []
    try:
        found.append(reports.get(timeout=timeout) if wait else reports.get_nowait())
        while len(found) < limit:
            found.append(reports.get_nowait())
    except queue.Empty:
        pass
    return found
