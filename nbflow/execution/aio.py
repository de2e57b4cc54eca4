"""``async def`` ops: an event loop in a thread of its own runs them concurrently.

The in-process and thread back ends hand async steps to :class:`AsyncSteps`; at most
``limit`` of them are awaited at once. Reports go to the back end's report queue as
the steps produce them, from the loop's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from nbflow.execution.step import DoneReport, ItemReport, StepTask, execute_step_async

if TYPE_CHECKING:
    import asyncio


class AsyncSteps:
    """Runs async steps on a private event loop, at most ``limit`` at a time."""

    def __init__(self, limit: int, emit: Callable[[ItemReport | DoneReport], None]) -> None:
        self.limit, self._emit = limit, emit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running: dict[int, tuple[StepTask, Future[None]]] = {}
        self._lock = threading.Lock()

    def _start(self) -> asyncio.AbstractEventLoop:
        # asyncio is imported here, by the first async step: importing it costs a run
        # without async ops 20-30 ms of its cold start.
        import asyncio

        if self._loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()
                loop.close()

            self._thread = threading.Thread(target=run, name="nbflow-async-steps", daemon=True)
            self._thread.start()
            ready.wait()
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self.limit)
        return self._loop

    def submit(self, task: StepTask) -> None:
        import asyncio

        loop = self._start()
        future = asyncio.run_coroutine_threadsafe(self._run(task), loop)
        with self._lock:
            self._running[id(task)] = (task, future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            for key, (_, running) in list(self._running.items()):
                if running is future:
                    del self._running[key]
                    return

    async def _run(self, task: StepTask) -> None:
        import asyncio

        async with self._semaphore:
            # Its own asyncio task, so its capture buffer (a context variable) is its own.
            await asyncio.get_running_loop().create_task(execute_step_async(task, self._emit))

    def in_flight(self) -> int:
        return len(self._running)

    def cancel(self) -> list[StepTask]:
        """Cancel every async step; return those that had not finished."""
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for _, future in running:
            future.cancel()
        return [task for task, _ in running]

    def shutdown(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and self._thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)


def is_async(task: Any) -> bool:
    return bool(getattr(task.op, "is_async", False))
