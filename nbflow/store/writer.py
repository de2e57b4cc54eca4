"""The store's event sink: buffers what a run produces and writes it in batches.

A batch is one transaction with one ``INSERT ... SELECT`` per table over an Arrow
table, never a statement per step. Batches go out when enough rows are waiting or
enough time has passed, so a long run's finished steps are on disk within about
half a second, and a 100,000-step run costs a handful of statements.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from nbflow.errors import StoreLockedError
from nbflow.store import history
from nbflow.store.serialize import CHUNKED, TABLE, encode, is_large, pickle_in_chunks, safe_text, table_kind

FLUSH_ROWS = 50_000
FLUSH_SECONDS = 0.5


class RunWriter:
    """Implements the executor's event sink on top of a :class:`~nbflow.store.store.Store`."""

    def __init__(self, store: Any, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self._steps: list[tuple] = []
        self._outputs: list[tuple] = []
        self._events: list[tuple] = []
        self._reused: list[tuple[str, str, str]] = []
        self._parent: str | None = None
        self._assets: list[str] = []
        self._partition_key: str | None = None
        self._last_flush = time.monotonic()
        self._tables = 0

    # -- sink interface -------------------------------------------------------------------------
    def run_started(self, info: dict[str, Any]) -> None:
        self._parent = info.get("parent_run_id")
        self._assets, self._partition_key = info.get("assets") or [], info.get("partition_key")
        self.store.insert_run(info, info.get("reuse"))

    def step(self, record: tuple) -> None:
        # Flush before buffering: a step's row and the outputs the executor sends right
        # after it must land in the same batch, or a crash could store one without the other.
        self._maybe_flush()
        self._steps.append(record)

    def output(self, record: tuple) -> None:
        self._outputs.append(record)

    def event(self, record: tuple) -> None:
        self._events.append(record)

    def reused(self, step: tuple[str, str, str]) -> None:
        self._reused.append(step)

    def run_finished(self, status: str, end: float, error: str | None) -> None:
        self.flush(final=(status, end, error))
        self.store.finish_run(self.run_id, self._assets, self._partition_key)

    def flush(self, final: tuple | None = None) -> None:
        """Write what is buffered. Only the final flush of a run waits for a locked store."""
        steps, outputs, events, reused = self._steps, self._outputs, self._events, self._reused
        self._last_flush = time.monotonic()
        if not (steps or outputs or events or reused or final):
            return
        try:
            self._write(steps, outputs, events, reused, final, lock_timeout=None if final else 0.0)
        except StoreLockedError:
            if final:
                raise
            return  # another process has its turn; the rows stay buffered for the next flush
        self._steps, self._outputs, self._events, self._reused = [], [], [], []

    def _write(self, steps: list, outputs: list, events: list, reused: list, final: tuple | None,
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

    def _maybe_flush(self) -> None:
        if len(self._steps) >= FLUSH_ROWS or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    # -- batch inserts --------------------------------------------------------------------------
    def _insert_steps(self, con: Any, steps: list[tuple]) -> None:
        import pyarrow as pa

        cols = list(zip(*steps, strict=True))
        table = pa.table({
            "step_key": pa.array(cols[0], pa.string()),
            "op": pa.array(cols[1], pa.string()),
            "mapping_key": pa.array(cols[2], pa.string()),
            "key_index": pa.array(cols[3], pa.int64()),
            "status": pa.array(cols[4], pa.string()),
            "attempts": pa.array(cols[5], pa.int32()),
            "start_time": pa.array(cols[6], pa.float64()),
            "end_time": pa.array(cols[7], pa.float64()),
            "error": _text_array(cols[8]),
            "code_version": pa.array(cols[9], pa.string()),
        })
        self._insert(con, table, "steps", (
            "run_id, step_key, op, mapping_key, key_index, status, attempts, start_time, end_time, "
            "error, code_version",
            "?, step_key, op, mapping_key, key_index, status, attempts, to_timestamp(start_time), "
            "to_timestamp(end_time), error, code_version",
        ))

    def _encode_all(self, outputs: list[tuple], lock_timeout: float | None) -> list[tuple]:
        if not any(table_kind(record[5]) or is_large(record[5]) for record in outputs):
            return [_plain(record[5]) for record in outputs]
        with self.store.holder.use(lock_timeout) as con:
            return [self._encode(con, record[5]) for record in outputs]

    def _insert_outputs(self, con: Any, outputs: list[tuple], encoded: list[tuple]) -> None:
        import pyarrow as pa

        kinds, texts, blobs, tables, types = (list(c) for c in zip(*encoded, strict=True))
        cols = list(zip(*outputs, strict=True))
        table = pa.table({
            "step_key": pa.array(cols[0], pa.string()),
            "op": pa.array(cols[1], pa.string()),
            "mapping_key": pa.array(cols[2], pa.string()),
            "key_index": pa.array(cols[3], pa.int64()),
            "output_name": pa.array(cols[4], pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "json_value": pa.array(texts, pa.string()),
            "blob_value": pa.array(blobs, pa.binary()),
            "table_name": pa.array(tables, pa.string()),
            "type_name": pa.array(types, pa.string()),
        })
        self._insert(con, table, "outputs", (
            "run_id, step_key, op, mapping_key, key_index, output_name, kind, json_value, "
            "blob_value, table_name, type_name",
            "?, step_key, op, mapping_key, key_index, output_name, kind, json_value, blob_value, "
            "table_name, type_name",
        ))

    def _encode(self, con: Any, value: Any) -> tuple:
        """``(kind, json_text, blob, table_name, type_name)`` for one output value."""
        frame = table_kind(value)
        if frame is not None:
            stored = self._store_frame(con, value, frame)
            if stored is not None:
                return stored
        elif is_large(value):
            return self._store_chunked(con, value)
        return _plain(value)

    def _store_chunked(self, con: Any, value: Any) -> tuple:
        """Pickle a large value into a table of chunks in the ``frames`` schema, chunk by chunk,
        so storing it needs about one chunk of memory besides the value."""
        self._tables += 1
        name = f"r{self.run_id[:12]}_{self._tables}_{uuid.uuid4().hex[:6]}"
        con.execute(f'CREATE TABLE frames."{name}" (seq INTEGER, chunk BLOB)')
        insert = f'INSERT INTO frames."{name}" VALUES (?, ?)'
        try:
            meta = pickle_in_chunks(value, lambda index, chunk: con.execute(insert, [index, chunk]))
        except Exception:  # not picklable: recorded as not stored, with the reason
            con.execute(f'DROP TABLE IF EXISTS frames."{name}"')
            return _plain(value)
        cls = type(value)
        type_name = f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__name__
        return CHUNKED, json.dumps(meta), None, name, type_name

    def _store_frame(self, con: Any, value: Any, frame: str) -> tuple | None:
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
                con.execute(f'CREATE TABLE frames."{name}" AS SELECT * FROM "{view}"')
            finally:
                con.unregister(view)
            if not _loads_back_alike(con, name, data, frame):
                con.execute(f'DROP TABLE frames."{name}"')
                return None
        except Exception:  # odd dtypes DuckDB cannot hold: the caller pickles the frame instead
            return None
        type_name = "pandas.DataFrame" if frame == "pandas" else "pyarrow.Table"
        return TABLE, json.dumps(meta), None, name, type_name

    def _insert_events(self, con: Any, events: list[tuple]) -> None:
        import pyarrow as pa

        cols = list(zip(*events, strict=True))
        table = pa.table({
            "ts": pa.array(cols[0], pa.float64()),
            "step_key": pa.array(cols[1], pa.string()),
            "kind": pa.array(cols[2], pa.string()),
            "level": pa.array(cols[3], pa.string()),
            "message": _text_array(cols[4]),
        })
        self._insert(con, table, "events", (
            "run_id, ts, step_key, kind, level, message",
            "?, to_timestamp(ts), step_key, kind, level, message",
        ))

    def _insert(self, con: Any, table: Any, target: str, columns: tuple[str, str]) -> None:
        view = f"_nbflow_batch_{target}"
        con.register(view, table)
        try:
            con.execute(f"INSERT INTO {target} ({columns[0]}) SELECT {columns[1]} FROM {view}", [self.run_id])
        finally:
            con.unregister(view)


def _text_array(texts: Any) -> Any:
    """A string column; text UTF-8 cannot hold (lone surrogates) is stored with backslash escapes."""
    import pyarrow as pa

    try:
        return pa.array(texts, pa.string())
    except UnicodeEncodeError:
        return pa.array([safe_text(t) for t in texts], pa.string())


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
    empty = con.sql(f'SELECT * FROM frames."{name}" LIMIT 0').to_arrow_table()
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


def _plain(value: Any) -> tuple:
    kind, text, blob, type_name = encode(value)
    return kind, text, blob, None, type_name
