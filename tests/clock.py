"""A clock that moves only when a test moves it, for code that waits on time."""

from __future__ import annotations

import threading
import time

from nbflow._state import Clock


class FakeClock(Clock):
    """Time that stands still until :meth:`advance` or :meth:`step`. A wait ends when the clock
    reaches its deadline (or its event is set). :meth:`step` moves the clock to the end of the
    wait a given thread is parked in, once it is there, so a test never races the thread."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start  # near real time: stored times stay plausible
        self._changed = threading.Condition()
        self._pending: dict[int, tuple[str, float]] = {}  # thread id -> (thread name, deadline)
        self.waits: list[tuple[str, float]] = []  # every wait asked for: (thread name, seconds)

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.wait(threading.Event(), seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        me = threading.current_thread()
        with self._changed:
            deadline = self._now + seconds
            self.waits.append((me.name, seconds))
            self._pending[me.ident or 0] = (me.name, deadline)
            self._changed.notify_all()
            try:
                while not event.is_set() and self._now < deadline:
                    self._changed.wait(0.005)  # also see an event set by another thread
            finally:
                self._pending.pop(me.ident or 0, None)
                self._changed.notify_all()
        return event.is_set()

    def waits_of(self, thread_prefix: str) -> list[float]:
        """The waits asked for by threads whose name starts with ``thread_prefix``."""
        return [seconds for name, seconds in self.waits if name.startswith(thread_prefix)]

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def step(self, thread_prefix: str, count: int = 1, timeout: float = 10.0) -> None:
        """``count`` times: once a thread named ``thread_prefix...`` waits on the clock, move
        the clock to the end of that wait (real time out: AssertionError)."""
        def parked() -> float | None:
            ends = [end for name, end in self._pending.values() if name.startswith(thread_prefix) and end > self._now]
            return min(ends) if ends else None

        for _ in range(count):
            with self._changed:
                if not self._changed.wait_for(lambda: parked() is not None, timeout):
                    raise AssertionError(f"no thread {thread_prefix}... waited on the clock within {timeout} s")
                self._now = parked() or self._now
                self._changed.notify_all()


class SkippingClock(FakeClock):
    """A clock on which every wait ends at once, the clock moving on by the time waited (or
    until the event, when it is already set): a wait of minutes takes no real time."""

    def wait(self, event: threading.Event, seconds: float) -> bool:
        me = threading.current_thread()
        with self._changed:
            self.waits.append((me.name, seconds))
            if not event.is_set():
                self._now += seconds
            self._changed.notify_all()
        return event.is_set()
