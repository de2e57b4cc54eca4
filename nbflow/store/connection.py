"""Holding the DuckDB file only while busy, so several processes can take turns.

DuckDB lets one process at a time open a file for writing. :class:`ConnectionHolder`
opens the file on first use, keeps the connection while work goes on, and closes
it after ``idle_release`` seconds without use. Opening a file another process
holds is retried with back-off for up to ``lock_timeout`` seconds, then
:class:`~nbflow.errors.StoreLockedError` says which file and what to do.

On every (re)open the store's change counter is read; if another process wrote
since we last looked, the registered invalidation callbacks run, so caches held
in memory never serve stale data.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nbflow.errors import StoreError, StoreLockedError, StoreVersionError
from nbflow.store.schema import LATEST, META, MIGRATIONS

DEFAULT_LOCK_TIMEOUT = float(os.environ.get("NBFLOW_LOCK_TIMEOUT", "30"))
DEFAULT_IDLE_RELEASE = 1.0

# Holders with a release thread. At interpreter exit their files are closed first: a
# connection still referenced from a frozen daemon thread makes DuckDB's bindings print
# "nanobind: leaked ... instances!" to stderr when any script or CLI command ends.
_with_reaper: weakref.WeakSet[ConnectionHolder] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    for holder in list(_with_reaper):
        if not holder._lock.acquire(timeout=1.0):  # busy in a daemon thread: leave it
            continue
        try:
            if holder._con is not None:
                holder._close()
        except Exception:
            pass
        finally:
            holder._lock.release()


class ConnectionHolder:
    """One process's access to one store file (or an in-memory store)."""

    def __init__(self, path: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 idle_release: float = DEFAULT_IDLE_RELEASE) -> None:
        self.path = path
        self.in_memory = path == ":memory:"
        self.lock_timeout = lock_timeout
        self.idle_release = idle_release
        self._lock = threading.RLock()
        self._con: Any = None
        self._busy = 0
        self._last_used = 0.0
        self._seen_counter: int | None = None
        self._reaper: threading.Thread | None = None
        self._on_change: list[Callable[[], None]] = []
        self._on_open: list[Callable[[Any], object]] = []
        self._tx_callbacks: list[tuple[Callable[[], object], Callable[[], object]]] = []
        self.opens = 0  # how often the file was (re)opened; for tests and diagnostics

    # -- public -------------------------------------------------------------------------------
    @contextmanager
    def use(self, lock_timeout: float | None = None) -> Iterator[Any]:
        """The open connection, held for the duration of the ``with`` block.

        ``lock_timeout`` overrides how long to wait for another process's lock.
        """
        with self._lock:
            if self._con is None:
                self._open(self.lock_timeout if lock_timeout is None else lock_timeout)
            self._busy += 1
            try:
                yield self._con
            finally:
                self._busy -= 1
                self._last_used = time.monotonic()

    @contextmanager
    def transaction(self, lock_timeout: float | None = None) -> Iterator[Any]:
        """A connection inside BEGIN/COMMIT that also bumps the change counter."""
        with self.use(lock_timeout) as con:
            con.execute("BEGIN TRANSACTION")
            self._tx_callbacks = []
            try:
                yield con
                con.execute("UPDATE nbflow_meta SET value = value + 1 WHERE key = 'change_counter'")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                callbacks, self._tx_callbacks = self._tx_callbacks, []
                for _, on_rollback in callbacks:
                    on_rollback()
                raise
            if self._seen_counter is not None:
                self._seen_counter += 1
            callbacks, self._tx_callbacks = self._tx_callbacks, []
            for on_commit, _ in callbacks:
                on_commit()

    def after_commit(self, on_commit: Callable[[], object], on_rollback: Callable[[], object]) -> None:
        """Run ``on_commit`` once the current transaction commits, ``on_rollback`` if it does not."""
        self._tx_callbacks.append((on_commit, on_rollback))

    def on_open(self, callback: Callable[[Any], object]) -> None:
        """Run ``callback(connection)`` each time the file is (re)opened."""
        self._on_open.append(callback)

    def on_change(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the store was changed by another process."""
        self._on_change.append(callback)

    @property
    def is_open(self) -> bool:
        return self._con is not None

    def release(self) -> None:
        """Close the file now if nothing is using it (other processes can then open it)."""
        with self._lock:
            if self._con is not None and not self._busy and not self.in_memory:
                self._close()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._close()

    # -- opening ------------------------------------------------------------------------------
    def _open(self, lock_timeout: float) -> None:
        import duckdb

        if not self.in_memory:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)) or ".", exist_ok=True)
        deadline = time.monotonic() + lock_timeout
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(self.path)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise StoreError(f"Cannot open the nbflow store {self.path}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise StoreLockedError(_locked_message(self.path, str(exc), lock_timeout)) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            _migrate(con, self.path)
        except BaseException:
            con.close()
            raise
        self._con = con
        self.opens += 1
        self._check_counter()
        if not self.in_memory:
            self._start_reaper()
        for callback in self._on_open:
            callback(con)

    def _check_counter(self) -> None:
        # fetchall, not fetchone: DuckDB refuses new work while a result is unfinished.
        counter = self._con.execute(
            "SELECT value FROM nbflow_meta WHERE key = 'change_counter'"
        ).fetchall()[0][0]
        changed = self._seen_counter is not None and counter != self._seen_counter
        self._seen_counter = counter
        if changed:
            for callback in self._on_change:
                callback()

    def _close(self) -> None:
        try:
            self._con.close()
        finally:
            self._con = None

    def _start_reaper(self) -> None:
        # Called with self._lock held. A reaper clears self._reaper under the same lock when it
        # stops, so one that has closed the file and is still winding down never counts as
        # running (checking is_alive() here left a reopened file held forever).
        if self._reaper is not None:
            return
        _with_reaper.add(self)
        self._reaper = threading.Thread(target=self._reap, name=f"nbflow-store-release:{self.path}",
                                        daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(min(0.25, self.idle_release / 2))
            with self._lock:
                if self._con is None:
                    self._reaper = None
                    return
                if not self._busy and time.monotonic() - self._last_used >= self.idle_release:
                    self._close()
                    self._reaper = None
                    return


def _locked_message(path: str, detail: str, timeout: float) -> str:
    pid = re.search(r"PID (\d+)", detail)
    holder = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"The nbflow store {path} is locked by {holder}, and it was not released within "
        f"{timeout:g} s. Another kernel or script is using it: let it finish, or release it "
        f"there with nbflow.instance().close() (or stop that process). To wait longer, set "
        f"NBFLOW_LOCK_TIMEOUT or pass lock_timeout= to nbflow.instance()."
    )


def _migrate(con: Any, path: str) -> None:
    con.execute(META)
    rows = con.execute("SELECT value FROM nbflow_meta WHERE key = 'schema_version'").fetchall()
    version = rows[0][0] if rows else 0
    if version > LATEST:
        raise StoreVersionError(
            f"The nbflow store {path} has schema version {version}, but this nbflow only knows "
            f"versions up to {LATEST}: it was written by a newer nbflow. Upgrade nbflow "
            f"(pip install -U nbflow), or point NBFLOW_HOME at another folder."
        )
    if version == LATEST:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for number, _title, sql in MIGRATIONS:
            if number > version:
                con.execute(sql)
        con.execute(
            "INSERT OR REPLACE INTO nbflow_meta VALUES ('schema_version', ?), ('change_counter', "
            "coalesce((SELECT value FROM nbflow_meta WHERE key = 'change_counter'), 0))",
            [LATEST],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
