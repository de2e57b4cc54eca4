"""Runs coordinated by a thread of their own: follow, wait for and cancel them.

``job.run()`` starts its run here: the coordinator (the executor's loop) runs in a
background thread, so the kernel can answer a view's clicks, and ``job.run(wait=False)``
gives the cell back at once. Waiting is interruptible: Jupyter's interrupt (or Ctrl-C)
cancels the run -- steps not started are not launched, running ones are stopped (worker
processes terminated, Dask futures cancelled, an in-process step interrupted, threads
abandoned after a grace period) -- and every finished step stays stored. The cell then
shows one short message instead of a traceback through nbflow's internals.
"""

from __future__ import annotations

import contextvars
import ctypes
import threading
import time
from typing import Any

from nbflow._state import STATE
from nbflow.definitions.status import Status
from nbflow.errors import RunInterrupted
from nbflow.execution.executor import CANCEL_GRACE
from nbflow.runtime.observers import _tell

__all__ = ["LIVE", "Execution", "RunInterrupted", "summary"]

#: Runs coordinated in this process that have not finished, by run id.
LIVE: dict[str, Execution] = STATE.live_runs


class Execution:
    """The coordinator thread of one run and what it produced."""

    def __init__(self, prepared: Any, run: Any) -> None:
        self.prepared, self.run = prepared, run
        self.executor = prepared.executor
        self.done = threading.Event()
        self.outcome: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        LIVE[self.prepared.run_id] = self
        context = contextvars.copy_context()  # output of the run's steps goes to the cell that started it
        self.thread = threading.Thread(target=context.run, args=(self._coordinate,),
                                       name=f"nbflow-run-{self.prepared.run_id[:8]}", daemon=True)
        self.thread.start()

    def _coordinate(self) -> None:
        try:
            self.outcome = self.prepared.run_here()
        except BaseException as exc:
            self.error = exc
        finally:
            LIVE.pop(self.prepared.run_id, None)
            # The run handle keeps this execution; once it ended, this execution lets go of
            # the handle, so a handle the user drops frees the run's values at once instead
            # of at the next full garbage collection.
            run, self.run = self.run, None
            run._outcome = self.outcome
            self.done.set()

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (``timeout`` seconds at most); True if it ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done.is_set():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            self.done.wait(left)  # short waits: a KeyboardInterrupt reaches this thread promptly
        return True

    def cancel(self, reason: str) -> None:
        """Stop the run and wait until it is recorded CANCELED with what finished."""
        if self.done.is_set():
            return
        self.executor.request_cancel(reason)
        interrupt = getattr(self.executor.backend, "interrupt_target", None)
        if self.done.wait(0.5) or interrupt is None:
            self.done.wait(CANCEL_GRACE + 1.0)
        else:
            # An in-process step runs in the coordinator thread itself: interrupt it there.
            ident = interrupt()
            if ident is not None:
                _raise_in_thread(ident, KeyboardInterrupt)
            self.done.wait(CANCEL_GRACE + 1.0)
        if not self.done.is_set():
            # The coordinator is stuck in a step that ignores interrupts (a blocking C call):
            # record the run CANCELED from here; whatever that step returns later is dropped.
            self.executor.cancel_from_outside(reason)
            self.prepared.instance.store.finish_run(self.prepared.run_id)
            observer = self.prepared.observer
            if observer is not None:
                _tell(observer.on_finish, Status.CANCELED.value)


def _raise_in_thread(ident: int, exc_type: type[BaseException]) -> None:
    """Raise ``exc_type`` in the thread ``ident`` at its next Python instruction."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc_type))


def summary(run: Any) -> str:
    """One line: what finished, what was canceled, how to finish the run."""
    steps = run.steps()
    counts = steps.groupby("status").size().to_dict() if len(steps) else {}
    done = sum(n for s, n in counts.items() if s in (Status.SUCCESS, Status.FAILURE, Status.SKIPPED))
    canceled = counts.get(Status.CANCELED, 0)
    return (
        f"run {run.run_id[:8]} of {run.job_name} was canceled: {done} step(s) finished and are stored, "
        f"{canceled} canceled. Finish it with run.rerun(failed=True) "
        f"(run = nf.instance().get_run({run.run_id[:8]!r}))."
    )
