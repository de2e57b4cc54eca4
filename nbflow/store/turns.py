"""A first-come, first-served queue of the processes that want one store file.

DuckDB's own file lock has no queue: a process that closes the file and reopens it
at once usually wins again, and a waiter retrying with back-off can wait forever.
So each holder that wants the file takes a ticket first. A ticket is a file in the
folder ``<store>.turns/`` named by a number from a shared counter; its owner holds
an exclusive ``flock`` on it for as long as it waits or has its turn. The holder of
the lowest ticket has the turn. Everyone else waits for the ticket just before its
own to go away: that ticket's owner finished its turn (and deleted the file) or gave
up waiting, or its process died (the kernel dropped its lock; the next in line
deletes the file). No process can block the queue by dying.

A holder whose turn it is and that sees tickets behind its own (``others_waiting``)
closes the store as soon as its current read or write ends.
"""

from __future__ import annotations

import os
import uuid

from nbflow._state import STATE

try:
    import fcntl
except ImportError:  # Windows: no queue, opening the file is retried as before
    fcntl = None  # type: ignore[assignment]

_COUNTER = "counter"
_POLL_MIN, _POLL_MAX = 0.0005, 0.005  # seconds between looks at the ticket ahead


class TurnQueue:
    """One holder's place in the queue for one store file."""

    def __init__(self, store_path: str) -> None:
        self.folder = store_path + ".turns"
        self._fd: int | None = None
        self._name: str | None = None

    @staticmethod
    def available() -> bool:
        return fcntl is not None

    @property
    def has_turn(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float) -> float | None:
        """Wait for this holder's turn; return the seconds waited, or None after ``timeout``."""
        started = STATE.clock.monotonic()
        deadline = started + timeout
        fd, name = self._take_ticket()
        try:
            while True:
                ahead = self._tickets_before(name)
                if not ahead:
                    self._fd, self._name = fd, name
                    return STATE.clock.monotonic() - started
                if not self._wait_for(ahead[-1], deadline):
                    self._drop(fd, name)
                    return None
        except BaseException:
            self._drop(fd, name)
            raise

    def release(self) -> None:
        """End this holder's turn: the next in line gets it."""
        if self._fd is not None and self._name is not None:
            self._drop(self._fd, self._name)
        self._fd = self._name = None

    def others_waiting(self) -> bool:
        """Whether a ticket behind this holder's exists (someone wants the file)."""
        if self._name is None:
            return False
        try:
            names = os.listdir(self.folder)
        except OSError:
            return False
        return any(n > self._name for n in names if n[:1].isdigit())

    # -- tickets --------------------------------------------------------------------------------
    def _take_ticket(self) -> tuple[int, str]:
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        name = f"{self._next_number():020d}-{os.getpid()}"
        # Locked before it becomes visible under its name: a waiter that can lock a
        # visible ticket knows its owner is gone.
        draft = os.path.join(self.folder, f"draft-{uuid.uuid4().hex}")
        fd = os.open(draft, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(draft, os.path.join(self.folder, name))
        except BaseException:
            os.close(fd)
            _unlink(draft)
            raise
        return fd, name

    def _next_number(self) -> int:
        fd = os.open(os.path.join(self.folder, _COUNTER), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 32, 0).strip()
            number = int(raw) + 1 if raw.isdigit() else 1
            os.pwrite(fd, f"{number:020d}".encode(), 0)
            return number
        finally:
            os.close(fd)  # closing drops the lock

    def _tickets_before(self, name: str) -> list[str]:
        return sorted(n for n in os.listdir(self.folder) if n[:1].isdigit() and n < name)

    def _wait_for(self, ticket: str, deadline: float) -> bool:
        """Wait until ``ticket``'s owner lets go; False if ``deadline`` passes first."""
        path = os.path.join(self.folder, ticket)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return True
        try:
            delay = _POLL_MIN
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if STATE.clock.monotonic() >= deadline:
                        return False
                    STATE.clock.sleep(delay)
                    delay = min(delay * 2, _POLL_MAX)
            # Lockable: its owner finished (the file is gone already) or died (remove it).
            _unlink(path)
            return True
        finally:
            os.close(fd)

    def _drop(self, fd: int, name: str) -> None:
        # Delete first, then unlock: a waiter that gets the lock finds the ticket gone.
        try:
            _unlink(os.path.join(self.folder, name))
        finally:
            os.close(fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
