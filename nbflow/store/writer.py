"""The store's event sink: buffers what a run produces and writes it in batches.

A batch is one transaction with one ``INSERT ... SELECT`` per table over its columns
(lists for a small batch, NumPy arrays for a large one), never a statement per step. A
flusher thread writes what is buffered every half second, whatever the run is doing (a long
step, a pool of workers), so a finished step is on disk within a second; a 100,000-step run
still costs a handful of statements.

The executor holds :attr:`RunWriter.lock` while it records what one report produced, so a
step's row and its outputs always land in the same batch. Rows are swapped out of the
buffers under that lock and written outside it, so the run goes on while a batch is written.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import operator
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, cast

from nbflow.errors import StoreLockedError
from nbflow.store import history, value_files
from nbflow.store.columns import int_column, registered, varying_columns
from nbflow.store.connection import ConnectionHolder, deferred_interrupts
from nbflow.store.serialize import (
    CHUNKED,
    JSON,
    TABLE,
    encode,
    frame_table,
    is_large,
    pickle_in_chunks,
    safe_texts,
    scalar_json,
    scalar_json_column,
    table_kind,
)

FLUSH_ROWS = 100_000  # buffered step rows the run's thread writes itself: a bound on memory
WAKE_ROWS = 10_000  # buffered step rows that wake the flusher before its period is up
FLUSH_SECONDS = 0.5
IDLE_FLUSH_SECONDS = 0.25
MIDRUN_TURN_WAIT = 2.0  # seconds a mid-run flush waits for its turn before leaving rows buffered

if TYPE_CHECKING:
    from nbflow.execution.events import EventRecord, OutputRecord, ReusedStep, StepRecord

#: ``(status, end, error)`` of a run's closing write
Final: TypeAlias = tuple[str, float, "str | None"]
#: ``(kind, json_text, blob, table_name, type_name)`` of one stored output value
Encoded: TypeAlias = tuple[str, "str | None", "bytes | None", "str | None", str]
#: what a batch holds: step rows, outputs, events and steps reused from the parent run
Batch: TypeAlias = tuple[
    "list[StepRecord]", "list[OutputRecord]", "list[EventRecord]", "list[ReusedStep]"
]


class RunStore(Protocol):
    """The store as a :class:`RunWriter` uses it: a run's first and last rows, and turns with
    the file for the batches in between (:class:`~nbflow.store.store.Store` is one)."""

    path: str
    holder: ConnectionHolder

    def insert_run(self, info: dict[str, Any], reuse: tuple[dict[str, Any], dict[str, Any]] | None = None,
                   ) -> None: ...
    def finish_run(self, run_id: str, assets_made: list[str] | None = None,
                   partition_key: str | None = None) -> None: ...


class RunWriter:
    """Implements the executor's event sink on top of a :class:`~nbflow.store.store.Store`."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self._steps: list[StepRecord] = []
        self._outputs: list[OutputRecord] = []
        self._events: list[EventRecord] = []
        self._reused: list[ReusedStep] = []
        self._parent: str | None = None
        self._assets: list[str] = []
        self._partition_key: str | None = None
        self._last_flush = time.monotonic()
        self._committed_at = 0.0  # when the last batch committed
        self._tables = 0
        self.lock = threading.RLock()  # guards the buffers; held by the executor per report
        self._write_lock = threading.Lock()  # one batch at a time, in order
        self._unwritten: Batch = ([], [], [], [])  # swapped out, not committed yet
        self._stop_flusher = threading.Event()
        self._wake_flusher = threading.Event()
        self._flusher: threading.Thread | None = None

    # -- sink interface -------------------------------------------------------------------------
    def run_started(self, info: dict[str, Any]) -> None:
        self._parent = info.get("parent_run_id")
        self._assets, self._partition_key = info.get("assets") or [], info.get("partition_key")
        self.store.insert_run(info, info.get("reuse"))
        self._flusher = threading.Thread(target=self._flush_every, name=f"nbflow-flush-{self.run_id[:8]}",
                                         daemon=True)
        self._flusher.start()

    def _flush_every(self) -> None:
        while True:
            self._wake_flusher.wait(FLUSH_SECONDS)
            self._wake_flusher.clear()
            if self._stop_flusher.is_set():
                return
            try:
                self.flush()
            except Exception:  # the final flush reports it; the run must go on meanwhile
                logging.getLogger("nbflow").debug("background flush failed", exc_info=True)

    def idle(self) -> None:
        """The run waits for its steps: a good moment to write what is buffered, instead of at
        the end or while steps compete for the interpreter (at most every :data:`IDLE_FLUSH_SECONDS`)."""
        if (self._steps or self._outputs) and time.monotonic() - self._last_flush >= IDLE_FLUSH_SECONDS \
                and not self._write_lock.locked():
            self.flush()  # in the caller's thread, which has nothing else to do right now

    def step(self, record: StepRecord) -> None:
        # Before buffering: a step's row and the outputs the executor sends right after it
        # must land in one batch. The flusher thread writes every FLUSH_SECONDS beside the run
        # (DuckDB inserts without holding the interpreter, so on a second core), and at once
        # when WAKE_ROWS are buffered. The run's own thread writes only to bound memory
        # (FLUSH_ROWS buffered: the flusher is far behind) or when the flusher has not run for
        # two periods after its last write ended (a starved thread). A write in the run's
        # thread stops the run while DuckDB works: at a million items those writes, made
        # whenever a write took longer than a period, were a fifth of the run's time.
        # The clock is read for each of a batch's first 64 steps, then for every 64th: a
        # million steps are not a million clock reads.
        buffered = len(self._steps)
        if buffered >= FLUSH_ROWS:
            self.flush()
        elif buffered == WAKE_ROWS:
            self._wake_flusher.set()
        elif (buffered < 64 or not buffered & 63) and time.monotonic() - self._last_flush >= 2 * FLUSH_SECONDS \
                and not self._write_lock.locked():
            self.flush()
        self._steps.append(record)

    def output(self, record: OutputRecord) -> None:
        self._outputs.append(record)

    def event(self, record: EventRecord) -> None:
        self._events.append(record)

    def reused(self, step: ReusedStep) -> None:
        self._reused.append(step)

    def run_finished(self, status: str, end: float, error: str | None) -> None:
        # The flusher stops at its next wake-up; no need to wait for it: a batch it is writing
        # holds the write lock, which the final flush takes in turn, and after that it finds
        # nothing left to write.
        self._stop_flusher.set()
        self._wake_flusher.set()
        self.flush(final=(status, end, error))
        self.store.finish_run(self.run_id, self._assets, self._partition_key)

    def flush(self, final: Final | None = None) -> None:
        """Write what is buffered; rows stay buffered until they are written.

        A mid-run flush waits a little for its turn with the store and, if another process
        keeps it longer, leaves the rows for the next flush. The final flush of a run waits
        as long as it takes, saying so every ``lock_timeout`` seconds: a run never ends
        without what it buffered. Interrupted while it waits, it says loudly what is lost.
        """
        with self.lock:
            fresh = (self._steps, self._outputs, self._events, self._reused)
            if not (final or any(fresh) or any(self._unwritten)):
                return  # nothing to write: leave the write lock to whoever has rows
            self._steps, self._outputs, self._events, self._reused = [], [], [], []
        with self._write_lock:
            # zip() over a batch's four lists of different record types yields each typed object
            self._unwritten = cast(Batch, tuple(old + new for old, new in zip(self._unwritten, fresh, strict=True)))  # type: ignore[operator]
            self._flush_unwritten(final)

    def _flush_unwritten(self, final: Final | None) -> None:
        steps, outputs, events, reused = self._unwritten
        self._last_flush = time.monotonic()
        if not (steps or outputs or events or reused or final):
            return
        try:
            self._write_unwritten(steps, outputs, events, reused, final)
        finally:
            # From the end of the write: a long write does not make the flusher look late.
            self._last_flush = time.monotonic()

    def _write_unwritten(self, steps: list[StepRecord], outputs: list[OutputRecord],
                         events: list[EventRecord], reused: list[ReusedStep], final: Final | None) -> None:
        waited_since, said_at = time.monotonic(), None
        while True:
            tried_at = time.monotonic()
            try:
                self._write(steps, outputs, events, reused, final,
                            lock_timeout=None if final else min(MIDRUN_TURN_WAIT, self._lock_timeout()))
                return
            except Exception as exc:
                full = not isinstance(exc, StoreLockedError)
                if full and not _is_disk_full(exc):
                    raise
                if not final:
                    return  # busy store or full disk: the rows stay buffered for the next flush
                now = time.monotonic()
                if said_at is None or now - said_at >= max(self._lock_timeout(), 5.0):
                    (self._say_disk_full if full else self._say_still_waiting)(exc, now - waited_since)
                    said_at = now
                # A lock_timeout of 0 must not spin; a full disk is tried again every second.
                time.sleep(max(0.0, (1.0 if full else 0.05) - (now - tried_at)))
            except KeyboardInterrupt:
                if final and not self._written_since(tried_at):  # not a Ctrl-C held back until commit
                    self._say_lost("the wait for the store was interrupted")
                raise

    def _written_since(self, moment: float) -> bool:
        return self._committed_at >= moment

    def _lock_timeout(self) -> float:
        return float(self.store.holder.lock_timeout)

    def _say_still_waiting(self, exc: Exception, waited: float) -> None:
        logging.getLogger("nbflow").warning(
            "Run %s has finished; waiting %.0f s so far to write its last %d step rows and %d outputs "
            "to %s, which another process keeps busy. Still waiting (nothing is dropped). %s",
            self.run_id, waited, len(self._unwritten[0]), len(self._unwritten[1]), self.store.path, exc)

    def _say_disk_full(self, exc: Exception, waited: float) -> None:
        message = (
            f"nbflow: run {self.run_id} has finished, but its last {len(self._unwritten[0])} step rows "
            f"and {len(self._unwritten[1])} outputs cannot be written to {self.store.path}: {exc}. "
            f"Free space on that disk: they are written as soon as there is room (tried for "
            f"{waited:.0f} s so far; nothing is dropped; interrupting gives them up)."
        )
        logging.getLogger("nbflow").warning(message)
        print(message, file=sys.stderr, flush=True)

    def _say_lost(self, why: str) -> None:
        message = (
            f"nbflow: run {self.run_id} ended but {why}: its last {len(self._unwritten[0])} step rows, "
            f"{len(self._unwritten[1])} outputs and {len(self._unwritten[2])} events were NOT written to "
            f"{self.store.path}. The run will show as INTERRUPTED; run.rerun(failed=True) redoes "
            f"what is missing."
        )
        logging.getLogger("nbflow").error(message)
        print(message, file=sys.stderr, flush=True)

    def _write(self, steps: list[StepRecord], outputs: list[OutputRecord], events: list[EventRecord],
               reused: list[ReusedStep], final: Final | None,
               lock_timeout: float | None) -> None:
        # One turn with the store for the whole batch, with Ctrl-C held back until it commits
        # (an interrupted batch would be rolled back and lost).
        with self.store.holder.use(lock_timeout), deferred_interrupts():
            self._write_batch(steps, outputs, events, reused, final, lock_timeout)
            # Committed: forget the rows before a held-back Ctrl-C is let through, or the
            # run's closing write would store them a second time.
            self._unwritten = ([], [], [], [])
            self._committed_at = time.monotonic()

    def _write_batch(self, steps: list[StepRecord], outputs: list[OutputRecord], events: list[EventRecord],
                     reused: list[ReusedStep], final: Final | None,
                     lock_timeout: float | None) -> None:
        # Frames are created first, each in its own statement: a frame DuckDB refuses must
        # not abort the batch transaction (it falls back to a pickle).
        encoded = self._encode_all(outputs, lock_timeout) if outputs else []
        with self.store.holder.transaction(lock_timeout) as con:
            if steps:
                self._insert_steps(con, steps)
            if outputs:
                self._insert_outputs(con, outputs, encoded)
            if events:
                self._insert_events(con, events)
            if reused and self._parent is not None:
                history.copy_reused_keys(con, self.run_id, self._parent, reused)
            if final:
                status, end, error = final
                con.execute(
                    "UPDATE runs SET status = ?, end_time = to_timestamp(?), error = ? WHERE run_id = ?",
                    [status, end, error, self.run_id],
                )

    # -- batch inserts --------------------------------------------------------------------------
    def _insert_steps(self, con: Any, steps: list[StepRecord]) -> None:
        self._insert(con, zip(*steps, strict=True), len(steps), _STEP_COLUMNS, 8, "steps", (
            "run_id, step_key, op, mapping_key, key_index, status, attempts, start_time, end_time, "
            "error, code_version",
            "?, step_key, op, mapping_key, key_index, status, attempts, to_timestamp(start_time), "
            "to_timestamp(end_time), error, code_version",
        ))

    def _encode_all(self, outputs: list[OutputRecord], lock_timeout: float | None) -> list[list[Any]]:
        """The outputs' values as five columns: ``kind, json_text, blob, table_name,
        type_name``. Plain scalars (most outputs of a large fan-out) are encoded here without
        a ``json.dumps`` call each. Columns, not a row per output: a batch of 100,000 outputs
        holds 4 MB of them instead of 14 MB of tuples while it is written."""
        count = len(outputs)
        values = list(map(_VALUE_OF, outputs))
        numbers = int_column(values) if count > _LIST_BATCH_ROWS else None
        if numbers is not None:  # a large batch of ints: DuckDB writes their text
            return [[JSON] * count, numbers, [None] * count, [None] * count, ["int"] * count]
        one_type = scalar_json_column(values)
        if one_type is not None:  # a batch of ints, floats or strs alone: encoded in C loops
            return [[JSON] * count, one_type[0], [None] * count, [None] * count, [one_type[1]] * count]
        kinds: list[Any] = [JSON] * count
        texts: list[Any] = [None] * count
        types: list[Any] = [None] * count
        blobs: list[Any] = [None] * count
        tables: list[Any] = [None] * count
        others: list[int] = []  # positions of values that are no plain scalar
        for at, value in enumerate(values):
            found = scalar_json(value)
            if found is None:
                others.append(at)
            else:
                texts[at], types[at] = found
        if others:
            plain = not any(table_kind(values[i]) or is_large(values[i]) for i in others)
            with nullcontext() if plain else self.store.holder.use(lock_timeout) as con:
                for i in others:
                    value = values[i]
                    kinds[i], texts[i], blobs[i], tables[i], types[i] = (
                        _plain(value) if plain else self._encode(con, value))
        return [kinds, texts, blobs, tables, types]

    def _insert_outputs(self, con: Any, outputs: list[OutputRecord], encoded: list[list[Any]]) -> None:
        # the records' first five fields, then the encoded values' five columns
        columns = itertools.chain(itertools.islice(zip(*outputs, strict=True), 5), encoded)
        self._insert(con, columns, len(outputs), _OUTPUT_COLUMNS, None, "outputs", (
            "run_id, step_key, op, mapping_key, key_index, output_name, kind, json_value, "
            "blob_value, table_name, type_name",
            "?, step_key, op, mapping_key, key_index, output_name, kind, json_value, blob_value, "
            "table_name, type_name",
        ))

    def _encode(self, con: Any, value: Any) -> Encoded:
        """``(kind, json_text, blob, table_name, type_name)`` for one output value."""
        frame = table_kind(value)
        if frame is not None:
            stored = self._store_frame(con, value, frame)
            if stored is not None:
                return stored
        elif is_large(value):
            if self.store.holder.in_memory:
                return self._store_chunked(con, value)
            return self._store_file(value)
        return _plain(value)

    def _store_file(self, value: Any) -> Encoded:
        """Pickle a large value into a file beside the store (see :mod:`~nbflow.store.value_files`)."""
        self._tables += 1
        name = f"r{self.run_id[:12]}_{self._tables}_{uuid.uuid4().hex[:6]}"
        try:
            meta = value_files.write(self.store.path, name, value)
        except Exception:  # not picklable: recorded as not stored, with the reason
            return _plain(value)
        return value_files.VALUE_FILE, json.dumps(meta), None, name, _type_name(value)

    def _store_chunked(self, con: Any, value: Any) -> Encoded:
        """Pickle a large value into a table of chunks in the ``frames`` schema, chunk by chunk,
        so storing it needs about one chunk of memory besides the value."""
        self._tables += 1
        name = f"r{self.run_id[:12]}_{self._tables}_{uuid.uuid4().hex[:6]}"
        con.execute(f"CREATE TABLE {frame_table(name)} (seq INTEGER, chunk BLOB)")
        insert = f"INSERT INTO {frame_table(name)} VALUES (?, ?)"
        try:
            meta = pickle_in_chunks(value, lambda index, chunk: con.execute(insert, [index, chunk]))
        except Exception:  # not picklable: recorded as not stored, with the reason
            con.execute(f"DROP TABLE IF EXISTS {frame_table(name)}")
            return _plain(value)
        return CHUNKED, json.dumps(meta), None, name, _type_name(value)

    def _store_frame(self, con: Any, value: Any, frame: str) -> Encoded | None:
        """Write a DataFrame as a table in the ``frames`` schema (None if DuckDB refuses it)."""
        self._tables += 1
        name = f"r{self.run_id[:12]}_{self._tables}_{uuid.uuid4().hex[:6]}"
        meta: dict[str, Any] = {"frame": frame}
        view = f"_nbflow_frame_{self._tables}"
        try:
            data = value
            if frame == "pandas" and not _is_default_index(value):
                # Index levels go in under internal names (an index may share its name with a
                # column, or have none); the real names are restored on load.
                names = list(value.index.names)
                if not all(n is None or isinstance(n, str) for n in names):
                    return None
                meta["index"] = [f"__nbflow_index_{i}__" for i in range(len(names))]
                meta["index_names"] = names
                data = value.reset_index(names=meta["index"])
            con.register(view, data)
            try:
                con.execute(f'CREATE TABLE {frame_table(name)} AS SELECT * FROM "{view}"')
            finally:
                con.unregister(view)
            if not _loads_back_alike(con, name, data, frame):
                con.execute(f"DROP TABLE {frame_table(name)}")
                return None
        except Exception:  # odd dtypes DuckDB cannot hold: the caller pickles the frame instead
            return None
        type_name = "pandas.DataFrame" if frame == "pandas" else "pyarrow.Table"
        return TABLE, json.dumps(meta), None, name, type_name

    def _insert_events(self, con: Any, events: list[EventRecord]) -> None:
        self._insert(con, zip(*events, strict=True), len(events), _EVENT_COLUMNS, 4, "events", (
            "run_id, ts, step_key, kind, level, message",
            "?, to_timestamp(ts), step_key, kind, level, message",
        ))

    def _insert(self, con: Any, columns: Iterable[Sequence[Any]], count: int, spec: tuple[tuple[str, str], ...],
                text_at: int | None, target: str, names: tuple[str, str]) -> None:
        """One ``INSERT ... SELECT`` of ``count`` rows into ``target``, given as ``columns`` in
        the order of ``spec`` (read one at a time: a batch is not held twice over).

        A batch of up to :data:`_LIST_BATCH_ROWS` rows (a short run, the batches of a slow one)
        goes in as one list parameter per column, unnested by DuckDB, so a short run does not
        even import NumPy. A larger one goes in as NumPy columns, which DuckDB takes in faster
        (at 100,000 items lists cost 30 % more in all) and which import neither pyarrow nor
        pandas; its columns of one value as parameters (see :mod:`~nbflow.store.columns`).
        """
        if count > _LIST_BATCH_ROWS:
            view = f"_nbflow_batch_{target}"
            arrays, constants = varying_columns(columns, spec, text_at)
            # a column of one value is selected as a parameter, in the place of its array
            inner = ", ".join(_selected(name, kind, arrays) for name, kind in spec)
            with registered(con, view, arrays):
                con.execute(f"INSERT INTO {target} ({names[0]}) SELECT {names[1]} FROM (SELECT {inner} FROM {view})",
                            [self.run_id, *constants.values()])
            return
        lists = [list(column) for column in columns]
        if text_at is not None:  # free text UTF-8 cannot hold (lone surrogates): backslash escapes
            lists[text_at] = list(safe_texts(lists[text_at]))
        unnested = ", ".join(f"unnest(?::{_SQL_TYPES[kind]}[]) AS {name}" for name, kind in spec)
        con.execute(f"INSERT INTO {target} ({names[0]}) SELECT {names[1]} FROM (SELECT {unnested})",
                    [self.run_id, *lists])


def _selected(name: str, kind: str, arrays: dict[str, Any]) -> str:
    """How the inner SELECT of a large batch gives column ``name``: its array, a text column's
    integers as their text, or a parameter (a column of one value)."""
    if name not in arrays:
        return f"?::{_SQL_TYPES[kind]} AS {name}"
    if kind == "string" and arrays[name].dtype.kind == "i":
        return f"CAST({name} AS VARCHAR) AS {name}"
    return name


_VALUE_OF = operator.itemgetter(5)  # an OutputRecord's value
# Batches of at most this many rows go in as list parameters (see ``RunWriter._insert``).
_LIST_BATCH_ROWS = 2_000
_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "float64": "DOUBLE", "binary": "BLOB"}

# The columns of each batch: (name, kind), in the order of the records' fields.
_STEP_COLUMNS = (
    ("step_key", "string"), ("op", "string"), ("mapping_key", "string"), ("key_index", "int64"),
    ("status", "string"), ("attempts", "int32"), ("start_time", "float64"), ("end_time", "float64"),
    ("error", "string"), ("code_version", "string"),
)
_OUTPUT_COLUMNS = (
    ("step_key", "string"), ("op", "string"), ("mapping_key", "string"), ("key_index", "int64"),
    ("output_name", "string"), ("kind", "string"), ("json_value", "string"), ("blob_value", "binary"),
    ("table_name", "string"), ("type_name", "string"),
)
_EVENT_COLUMNS = (("ts", "float64"), ("step_key", "string"), ("kind", "string"), ("level", "string"),
                  ("message", "string"))


def _is_default_index(frame: Any) -> bool:
    index = frame.index
    return type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1 and index.name is None


def _loads_back_alike(con: Any, name: str, data: Any, frame: str) -> bool:
    """Whether the stored table reads back with ``data``'s column names and types.

    DuckDB accepts frames it cannot give back unchanged: it renames duplicate and
    non-string column names, turns mixed object columns into text and dicts into
    key/value lists, tz-aware times into UTC, nullable ``Int64`` into floats. Such
    frames are pickled instead. Only the schema is read back (``LIMIT 0``).
    """
    empty = con.sql(f"SELECT * FROM {frame_table(name)} LIMIT 0").to_arrow_table()
    if frame == "arrow":
        return bool(empty.schema.equals(data.schema))
    import pandas as pd

    back = empty.to_pandas()
    if list(back.columns) != list(data.columns) or not all(isinstance(c, str) for c in data.columns):
        return False
    for column, want, got in zip(data.columns, data.dtypes, back.dtypes, strict=True):
        if str(want) != str(got):
            return False
        if str(want) == "category" and pd.api.types.infer_dtype(want.categories) != "string":
            return False  # DuckDB enums hold text only
        if str(want) == "object" and pd.api.types.infer_dtype(data[column], skipna=True) not in (
            "string", "bytes", "date", "empty"
        ):
            return False
    return True


def _plain(value: Any) -> Encoded:
    kind, text, blob, type_name = encode(value)
    return kind, text, blob, None, type_name


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__name__


def _is_disk_full(exc: BaseException) -> bool:
    """Whether writing failed because the disk (or the user's quota) is full."""
    while exc is not None:
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False
