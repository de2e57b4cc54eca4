"""Holding the DuckDB file only while busy, so several processes can take turns.

DuckDB lets one process at a time open a file for writing. :class:`ConnectionHolder`
opens the file on first use and keeps the connection while work goes on. Processes
(and holders) that want the same file line up in a first-come, first-served queue
(:class:`~nbflow.store.turns.TurnQueue`): while another one waits, the file is closed
as soon as the current read or batch write ends, and the next in line opens it.
Nobody waiting, the file stays open and is closed after ``idle_release`` seconds
without use. Waiting for a turn longer than ``lock_timeout`` seconds raises
:class:`~nbflow.errors.StoreLockedError`, which says which file and what to do.

On every (re)open the store's change counter is read; if another process wrote
since we last looked, the registered invalidation callbacks run, so caches held
in memory never serve stale data. The rest of the work of opening (``on_open``:
marking runs of dead processes, sweeps) runs before the first use, unless that use
is a quick read that needs none of it (a partition membership check), which leaves
it for the next use.
"""

from __future__ import annotations

import atexit
import errno
import math
import os
import re
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nbflow._state import STATE
from nbflow.errors import StoreError, StoreLockedError, StoreVersionError
from nbflow.store.schema import LATEST, META, MIGRATIONS
from nbflow.store.turns import TurnQueue

DEFAULT_LOCK_TIMEOUT = 30.0  # seconds; NBFLOW_LOCK_TIMEOUT overrides it (see lock_timeout_from_env)
DEFAULT_IDLE_RELEASE = 1.0
_ALIAS = "nbflow_store"  # the name a store file is attached under
# Seconds between looks for processes waiting for the file: by the release thread while
# the file is idle, and at the end of a read or write while it is busy. The thread polls
# less often: each wake-up takes the GIL from a busy main thread.
_REAPER_POLL = 0.05
_BUSY_LOOK = 0.01
_REAPER_PARK = 60.0  # seconds a release thread waits for a reopen before it ends


def _duckdb_threads() -> int:
    """One core fewer than the process may use, at least one.

    A run keeps two threads of its own busy (the executor's and the writer's, which hands
    DuckDB its batches); a DuckDB with a thread per core took the executor's core for its
    parallel inserts and made a million-item fan-out about 15 % slower on two cores. Reads
    lose little: DuckDB's scans of a store's tables are short.
    """
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may run on (containers, taskset)
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


# Extensions are never installed or loaded on their own: a store file must not be able to
# make this process fetch or run code it did not ask for.
DUCKDB_CONFIG: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                 "threads": _duckdb_threads()}

# Holders with a release thread. At interpreter exit their files are closed first: a
# connection still referenced from a frozen daemon thread makes DuckDB's bindings print
# "nanobind: leaked ... instances!" to stderr when any script or CLI command ends.
_with_reaper: weakref.WeakSet[ConnectionHolder] = weakref.WeakSet()
_all_holders: weakref.WeakSet[ConnectionHolder] = weakref.WeakSet()  # waited for at exit


# Set when the interpreter exits. From then on a thread other than the main one that asks
# for the store waits forever instead (see ``_held``): a daemon thread the interpreter stops
# while it is inside DuckDB aborts the whole process ("FATAL: exception not rethrown").
_exiting = False


def _park_if_exiting() -> None:
    if _exiting and threading.current_thread() is not threading.main_thread():
        threading.Event().wait()  # a daemon thread parked in Python code stops harmlessly


@atexit.register
def _close_all_at_exit() -> None:
    global _exiting
    _exiting = True
    for holder in list(_all_holders):
        # Wait for a daemon thread inside DuckDB to come out (it parks before going in again).
        if holder._lock.acquire(timeout=10.0):
            holder._lock.release()
    for holder in list(_with_reaper):
        if not holder._lock.acquire(timeout=1.0):
            continue
        try:
            holder.close()
        except Exception:
            pass
        finally:
            holder._lock.release()


def lock_timeout_from_env() -> float:
    """``NBFLOW_LOCK_TIMEOUT`` in seconds (default 30), or a StoreError naming the variable."""
    raw = os.environ.get("NBFLOW_LOCK_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        return check_lock_timeout(float(raw), f"NBFLOW_LOCK_TIMEOUT={raw!r}")
    except ValueError:
        raise StoreError(
            f"NBFLOW_LOCK_TIMEOUT={raw!r} is not a number of seconds. Set it to how long to wait "
            f"for another process's turn with the store, e.g. NBFLOW_LOCK_TIMEOUT=30, or unset it "
            f"(default {DEFAULT_LOCK_TIMEOUT:g} s)."
        ) from None


def check_lock_timeout(value: Any, what: str = "lock_timeout") -> float:
    """A wait in seconds: a number >= 0 (``inf`` waits forever); NaN and negatives are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StoreError(f"{what} must be a number of seconds, got {value!r}.")
    if math.isnan(value) or value < 0:
        raise StoreError(
            f"{what} must be a number of seconds >= 0 (inf waits forever), got {value!r}. "
            f"Use e.g. 30."
        )
    return float(value)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) until the block ends, then deliver it.

    A batch write interrupted half way would be rolled back and lost, and DuckDB reports
    the interrupt as ``RuntimeError: Query interrupted``. With the signal held back, the
    batch commits and the interrupt arrives right after, as the ``KeyboardInterrupt`` the
    original handler raises. Only the main thread receives signals; elsewhere this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) or getattr(previous, "_nbflow_deferring", False):
        yield  # SIG_IGN / SIG_DFL, or already deferred by an enclosing block
        return
    pending: list[tuple[int, Any]] = []

    def hold(signum: int, frame: Any) -> None:
        pending.append((signum, frame))

    hold._nbflow_deferring = True  # type: ignore[attr-defined]
    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            previous(*pending[0])


class ConnectionHolder:
    """One process's access to one store file (or an in-memory store)."""

    def __init__(self, path: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 idle_release: float = DEFAULT_IDLE_RELEASE, trust: bool = False) -> None:
        self.path = path
        self.in_memory = path == ":memory:"
        self.lock_timeout = lock_timeout
        self.idle_release = idle_release
        self.trust = trust  # unpickle from this store even if another user could have written it
        self._lock = threading.RLock()
        _all_holders.add(self)
        self._con: Any = None
        self._base: Any = None  # the in-memory DuckDB a file store is attached to
        self._busy = 0
        self._last_used = 0.0
        self._seen_counter: int | None = None
        self._reaper: threading.Thread | None = None
        self._reopened = threading.Event()  # wakes a release thread waiting for the next open
        self._turns = TurnQueue(path) if not self.in_memory and TurnQueue.available() else None
        self._yield_requested = False  # someone waits for the file: close it when not busy
        self._last_look = 0.0
        self._owned_by_me: bool | None = None
        self._on_change: list[Callable[[], None]] = []
        self._on_open: list[Callable[[Any], object]] = []
        self._deferred: list[Callable[[Any], object]] = []  # on_open callbacks still to run
        self._on_quick_open: list[Callable[[], object]] = []
        self._tx_callbacks: list[tuple[Callable[[], object], Callable[[], object]]] = []
        # nbflow_meta as read when the file was last opened; a writer that changes a value
        # there updates it too (the partition store's count of deletes).
        self.meta: dict[str, int] = {}
        self.opens = 0  # how often the file was (re)opened; for tests and diagnostics
        self.turn_waits: list[float] = []  # seconds waited for each turn; for the sharing bench

    # -- public -------------------------------------------------------------------------------
    @contextmanager
    def use(self, lock_timeout: float | None = None, quick: bool = False) -> Iterator[Any]:
        """The open connection, held for the duration of the ``with`` block.

        ``lock_timeout`` overrides how long to wait for another process's turn. ``quick=True``
        is for a short read that needs none of the work done on opening (the ``on_open``
        callbacks: marking runs of dead processes, sweeps): if the file is opened for it, that
        work waits for the next use that is not quick, or for :meth:`finish_opening`.
        """
        with self._held():
            if self._con is None:
                self._open(self.lock_timeout if lock_timeout is None else lock_timeout)
                if quick:
                    for callback in self._on_quick_open:
                        callback()
            if self._deferred and not quick:
                self._run_deferred()
            self._busy += 1
            try:
                yield self._con
            finally:
                self._busy -= 1
                self._last_used = time.monotonic()
                if not self._busy and self._con is not None and self._someone_waits():
                    self._close()  # another process is waiting: its turn now

    @contextmanager
    def _held(self) -> Iterator[None]:
        """This holder's lock; at interpreter exit, never for a thread but the main one."""
        while True:
            _park_if_exiting()
            self._lock.acquire()
            if not _exiting or threading.current_thread() is threading.main_thread():
                break
            self._lock.release()  # the process began to exit while this thread waited
        try:
            yield
        finally:
            self._lock.release()

    @contextmanager
    def use_if_open(self) -> Iterator[Any]:
        """Like :meth:`use`, but None instead of opening the file if it is closed: for work in
        the background that is not worth waiting for another process's turn."""
        with self._held():
            if self._con is None:
                yield None
                return
            with self.use() as con:
                yield con

    @contextmanager
    def transaction(self, lock_timeout: float | None = None) -> Iterator[Any]:
        """A connection inside BEGIN/COMMIT that also bumps the change counter.

        Ctrl-C during the transaction is held back until it commits (or rolls back).
        """
        with self.use(lock_timeout) as con, deferred_interrupts():
            con.execute("BEGIN TRANSACTION")
            self._tx_callbacks = []
            try:
                yield con
                con.execute("UPDATE nbflow_meta SET value = value + 1 WHERE key = 'change_counter'")
                con.execute("COMMIT")
            except BaseException:
                self._roll_back(con)
                callbacks, self._tx_callbacks = self._tx_callbacks, []
                for _, on_rollback in callbacks:
                    on_rollback()
                raise
            if self._seen_counter is not None:
                self._seen_counter += 1
            callbacks, self._tx_callbacks = self._tx_callbacks, []
            for on_commit, _ in callbacks:
                on_commit()

    def _roll_back(self, con: Any) -> None:
        try:
            con.execute("ROLLBACK")
        except Exception:
            # The statement that failed (a COMMIT on a full disk) already ended the transaction,
            # and DuckDB may have invalidated the database: the error to show is the first one,
            # and the file is reopened on next use.
            self._close()

    def after_commit(self, on_commit: Callable[[], object], on_rollback: Callable[[], object]) -> None:
        """Run ``on_commit`` once the current transaction commits, ``on_rollback`` if it does not."""
        self._tx_callbacks.append((on_commit, on_rollback))

    def on_open(self, callback: Callable[[Any], object]) -> None:
        """Run ``callback(connection)`` each time the file is (re)opened, before any use of it
        but a quick one (see :meth:`use`)."""
        self._on_open.append(callback)

    def on_quick_open(self, callback: Callable[[], object]) -> None:
        """Run ``callback()`` when a quick use opened the file, leaving the work of opening
        to do: to have it done soon (:meth:`finish_opening`) rather than on the next use."""
        self._on_quick_open.append(callback)

    @property
    def opening_deferred(self) -> bool:
        """Whether the file was opened by a quick use and the work of opening is still to do."""
        return bool(self._deferred)

    def finish_opening(self) -> None:
        """Do the work of opening that a quick use left, if the file is still open (for a
        background thread: a file closed meanwhile does it all again when it is reopened)."""
        with self.use_if_open():
            pass

    def _run_deferred(self) -> None:
        while self._deferred:
            callback = self._deferred.pop(0)  # taken first: a callback that fails is not rerun
            callback(self._con)

    def on_change(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the store was changed by another process."""
        self._on_change.append(callback)

    @property
    def is_open(self) -> bool:
        return self._con is not None

    @property
    def trusted(self) -> bool:
        """Whether values may be unpickled from this store (see ``check_trusted``)."""
        if self.trust or self.in_memory:
            return True
        if self._owned_by_me is None:
            self._owned_by_me = _written_only_by_me(self.path)
        return self._owned_by_me

    def check_trusted(self) -> None:
        """Refuse to unpickle from a store file another user owns or may write."""
        if self.trusted:
            return
        raise StoreError(
            f"The nbflow store {self.path} belongs to another user, or other users may write to "
            f"it. Loading a pickled output runs code stored in the file, so nbflow does not do "
            f"that for a store it cannot trust. If you trust whoever wrote this file, open it "
            f"with nbflow.instance({self.path!r}, trust=True)."
        )

    def release(self) -> None:
        """Close the file now if nothing is using it (other processes can then open it)."""
        with self._lock:
            if self._con is not None and not self._busy and not self.in_memory:
                self._close()

    def close(self, keep_engine: bool = False) -> None:
        """Release the file and the in-memory DuckDB it is attached to.

        ``keep_engine=True`` keeps that in-memory DuckDB for the next open (starting one
        costs 15-50 ms, attaching the file to it about 1 ms); the file is let go all the same.
        """
        with self._lock:
            try:
                if self._con is not None:
                    self._close()
            finally:
                if self._base is not None and not keep_engine:
                    self._base.close()
                    self._base = None

    # -- opening ------------------------------------------------------------------------------
    def _open(self, lock_timeout: float) -> None:
        if not self.in_memory:
            _prepare_folder(self.path)
        deadline = STATE.clock.monotonic() + lock_timeout  # a test's clock can make the wait instant
        if self._turns is not None:
            try:
                waited = self._turns.acquire(lock_timeout)
            except OSError as exc:
                raise StoreError(
                    f"Cannot take a turn with the nbflow store {self.path}: {exc}. Processes sharing "
                    f"the store line up in {self._turns.folder}, which must be a folder you can write "
                    f"(as must the store's own folder)."
                ) from exc
            if waited is None:
                raise StoreLockedError(_locked_message(self.path, self._turn_holder(), lock_timeout))
            self.turn_waits.append(waited)
        try:
            self._connect(deadline, lock_timeout)
        except BaseException:
            if self._turns is not None:
                self._turns.release()
            raise
        if not self.in_memory:
            self._start_reaper()
        self._deferred = list(self._on_open)  # run by use() before the first use that is not quick

    def _connect(self, deadline: float, lock_timeout: float) -> None:
        import duckdb

        created = not self.in_memory and not os.path.exists(self.path)
        delay = 0.02
        while True:  # a process outside the queue (DuckDB's CLI, an older nbflow) may hold it
            try:
                con = self._attach()
                break
            except duckdb.Error as exc:
                if not (isinstance(exc, duckdb.IOException) and _held_by_another_process(self.path)):
                    raise _open_error(self.path, exc) from exc
                if STATE.clock.monotonic() >= deadline:
                    raise StoreLockedError(_locked_message(self.path, str(exc), lock_timeout)) from None
                STATE.clock.sleep(delay)
                delay = min(delay * 2, 0.5)
        if created:
            _make_private(self.path)
        try:
            self.meta = _migrate(con, self.path)
            self._con = con
            self.opens += 1
            self._check_counter(self.meta.get("change_counter", 0))
        except BaseException as exc:
            self._con = None
            self._detach(con)
            if isinstance(exc, duckdb.Error):
                raise _open_error(self.path, exc) from exc
            raise

    def _attach(self) -> Any:
        """The connection with the store file attached as its default database.

        A file store is attached to an in-memory DuckDB kept for the holder's lifetime,
        and detached to let the file go: attaching costs about 2 ms where starting a
        DuckDB for the file costs 20-40 ms, and a process pays it on every turn when
        others are waiting.
        """
        import duckdb

        if self.in_memory:
            return duckdb.connect(":memory:", config=DUCKDB_CONFIG)
        if self._base is None:
            self._base = duckdb.connect(":memory:", config=DUCKDB_CONFIG)
        quoted = "'" + self.path.replace("'", "''") + "'"
        self._base.execute(f"ATTACH {quoted} AS {_ALIAS}")
        try:
            self._base.execute(f"USE {_ALIAS}")
        except BaseException:
            self._base.execute(f"DETACH {_ALIAS}")
            raise
        return self._base

    def _detach(self, con: Any) -> None:
        if self.in_memory:
            con.close()
            return
        try:
            con.execute("USE memory")
            con.execute(f"DETACH {_ALIAS}")
        except BaseException as exc:
            # Could not let go of the file cleanly (DuckDB refuses new statements while the
            # interpreter shuts down, say): drop the whole DuckDB, which lets go of it too.
            self._base = None
            con.close()
            if not isinstance(exc, Exception):
                raise

    def _someone_waits(self) -> bool:
        if self._yield_requested:
            return True
        if self._turns is None:
            return False
        now = time.monotonic()
        if now - self._last_look < _BUSY_LOOK:
            return False
        self._last_look = now
        self._yield_requested = self._turns.others_waiting()
        return self._yield_requested

    def _turn_holder(self) -> str:
        """``"PID n"`` of the process whose turn it is, for the locked message."""
        if self._turns is None:
            return ""
        try:
            tickets = sorted(n for n in os.listdir(self._turns.folder) if n[:1].isdigit())
        except OSError:
            return ""
        return f"PID {tickets[0].rsplit('-', 1)[-1]}" if tickets else ""

    def _check_counter(self, counter: int) -> None:
        changed = self._seen_counter is not None and counter != self._seen_counter
        self._seen_counter = counter
        if changed:
            for callback in self._on_change:
                callback()

    def _close(self) -> None:
        try:
            self._detach(self._con)
        finally:
            self._con = None
            self._deferred = []  # done on the next open, with the file as it is then
            self._yield_requested = False
            if self._turns is not None:
                self._turns.release()

    def _start_reaper(self) -> None:
        # Called with self._lock held. The release thread clears self._reaper under the same
        # lock when it ends, so one winding down never counts as running (checking
        # is_alive() here left a reopened file held forever). After closing the file it
        # waits a while for a reopen (_reopened) instead of ending: starting a thread costs
        # milliseconds on a busy machine, and a kernel reopens the file after every idle pause.
        if self._reaper is not None:
            self._reopened.set()
            return
        _with_reaper.add(self)
        self._reopened.clear()
        self._reaper = threading.Thread(target=_release_thread, args=(weakref.ref(self),),
                                        name=f"nbflow-store-release:{self.path}", daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        """Close the file once it is idle or another process waits for it; return when closed."""
        while True:
            time.sleep(min(_REAPER_POLL, self.idle_release / 2))
            # Looked at outside the lock: a busy holder closes the file itself when its
            # current read or write ends (see use()).
            if self._turns is not None and self._turns.others_waiting():
                self._yield_requested = True
            with self._lock:
                if self._con is None:
                    return
                idle = time.monotonic() - self._last_used >= self.idle_release
                if not self._busy and (idle or self._yield_requested):
                    self._close()
                    return


def _release_thread(ref: weakref.ref[ConnectionHolder]) -> None:
    """A holder's release thread: closes the file when idle, then waits up to
    ``_REAPER_PARK`` seconds for the next open before ending. It holds the holder weakly
    while it waits, so a holder nobody uses any more can go."""
    while True:
        holder = ref()
        if holder is None:
            return
        holder._reap()
        reopened = holder._reopened
        del holder
        woken = reopened.wait(_REAPER_PARK)
        holder = ref()
        if holder is None:
            return
        with holder._lock:
            reopened.clear()
            if holder._con is None and not woken:
                holder._reaper = None
                return
        del holder


def _prepare_folder(path: str) -> None:
    """Create the store's folder (0700, only its owner may enter) or explain what is wrong."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(folder):
        return
    if os.path.exists(folder):
        raise StoreError(
            f"Cannot create the nbflow store {path}: {folder} is a file, not a folder. "
            f"Point nbflow.instance() (or NBFLOW_HOME) at a folder."
        )
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the folder {folder} for the nbflow store: {exc}. "
                         f"Point nbflow.instance() (or NBFLOW_HOME) at a folder you can write.") from exc


def _make_private(path: str) -> None:
    """A new store file is readable and writable by its owner only (0600)."""
    for name in (path, path + ".wal"):
        try:
            os.chmod(name, 0o600)
        except OSError:
            pass


def _written_only_by_me(path: str) -> bool:
    """Whether this user owns the store file and no one else may write it.

    Group write access counts only for a group other than the user's own (with a umask of
    002, files are group-writable for the user's private group, which is no one else).
    """
    try:
        info = os.stat(path)
    except OSError:
        return True  # not created yet: it will be ours
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows: file ownership is not checked
        return True
    others_write = info.st_mode & 0o002 or (info.st_mode & 0o020 and info.st_gid != os.getgid())
    return info.st_uid == getuid() and not others_write


def _held_by_another_process(path: str) -> bool:
    """Whether another process holds DuckDB's lock on the file (asked of the OS, by errno).

    DuckDB reports a lock held elsewhere and a file it cannot open with the same
    exception type, so the message alone would decide (and a path containing "lock"
    fooled it). A non-blocking shared record lock on the file fails with EAGAIN or
    EACCES exactly when another process holds DuckDB's write lock.
    """
    try:
        import fcntl
    except ImportError:  # Windows: DuckDB's own wording is all there is
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno in (errno.EAGAIN, errno.EACCES)
        return False
    finally:
        os.close(fd)  # also drops the probe's lock


def _open_error(path: str, exc: Exception) -> StoreError:
    """One clear error for a store file that cannot be opened (never a raw DuckDB error)."""
    if isinstance(exc, StoreError):
        return exc
    detail = str(exc)
    damaged = ("not a valid DuckDB database file", "Could not read enough bytes", "orrupt", "checksum")
    if any(sign in detail for sign in damaged):
        what = "is not a readable DuckDB database (it is damaged, truncated, or another kind of file)"
    else:
        what = "could not be opened"
    return StoreError(
        f"The nbflow store {path} {what}; nbflow left it unchanged. Move it away (or restore it "
        f"from a backup), or point nbflow.instance() / NBFLOW_HOME at another file. "
        f"DuckDB said: {detail}"
    )


def _locked_message(path: str, detail: str, timeout: float) -> str:
    pid = re.search(r"PID (\d+)", detail)
    holder = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"The nbflow store {path} is locked by {holder}, and it was not released within "
        f"{timeout:g} s. Another kernel or script is using it: let it finish, or release it "
        f"there with nbflow.instance().close() (or stop that process). To wait longer, set "
        f"NBFLOW_LOCK_TIMEOUT or pass lock_timeout= to nbflow.instance()."
    )


def _migrate(con: Any, path: str) -> dict[str, int]:
    """Bring the store's schema up to date; return its ``nbflow_meta`` values.

    A store already at the latest version costs one query (schema version and change
    counter together): every reopen after an idle release pays it.
    """
    meta = _read_meta(con)
    if meta is None:
        if not _has_meta(con):
            _refuse_foreign(con, path)  # before any write: a file that is not ours stays as it was
            con.execute(META)
        meta = _read_meta(con) or {}
    version = meta.get("schema_version", 0)
    if version > LATEST:
        raise StoreVersionError(
            f"The nbflow store {path} has schema version {version}, but this nbflow only knows "
            f"versions up to {LATEST}: it was written by a newer nbflow. Upgrade nbflow "
            f"(pip install -U nbflow), or point NBFLOW_HOME at another folder."
        )
    if version == LATEST and "change_counter" in meta:
        return meta
    con.execute("BEGIN TRANSACTION")
    try:
        for number, title, sql in MIGRATIONS:
            if number > version:
                _apply_migration(con, path, number, title, sql)
        con.execute(
            "INSERT OR REPLACE INTO nbflow_meta VALUES ('schema_version', ?), ('change_counter', "
            "coalesce((SELECT value FROM nbflow_meta WHERE key = 'change_counter'), 0))",
            [LATEST],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return _read_meta(con) or {}


def _read_meta(con: Any) -> dict[str, int] | None:
    """The ``nbflow_meta`` table (schema version, change counter, count of partition deletes,
    pool limits), or None if there is none."""
    import duckdb

    try:
        # The whole table (a few rows), not a filtered read: a filter costs DuckDB a third
        # more on this query, which every reopen pays. fetchall, not
        # fetchone: DuckDB refuses new work while a result is unfinished.
        rows = con.execute("SELECT key, value FROM nbflow_meta").fetchall()
    except duckdb.CatalogException:
        return None
    return dict(rows)


def _apply_migration(con: Any, path: str, number: int, title: str, sql: str) -> None:
    import duckdb

    try:
        con.execute(sql)
    except duckdb.Error as exc:
        raise StoreError(
            f"Upgrading the nbflow store {path} to schema version {number} ({title}) failed, and "
            f"the store was left as it was. Report this with the message; meanwhile use the nbflow "
            f"version that wrote the store. DuckDB said: {exc}"
        ) from exc


def _has_meta(con: Any) -> bool:
    return bool(con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'nbflow_meta'").fetchall())


def _refuse_foreign(con: Any, path: str) -> None:
    """A DuckDB file with tables of its own but no nbflow metadata is someone else's database."""
    found = [f"{schema}.{name}" for schema, name in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal ORDER BY 1, 2").fetchall()]
    if found:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise StoreError(
            f"{path} is a DuckDB database but not an nbflow store (it holds {shown} and no "
            f"nbflow_meta table); nbflow left it unchanged. Point nbflow.instance() / NBFLOW_HOME "
            f"at another file or folder."
        )
