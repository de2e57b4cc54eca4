"""The run store: the only code that talks to DuckDB.

Everything nbflow records lives in one DuckDB file: runs, steps, outputs, events
(and, in ``frames``, DataFrame outputs as tables). Reads return pandas DataFrames
or Python values; writes from a running job go through
:class:`~nbflow.store.writer.RunWriter` in batches.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from nbflow._state import STATE
from nbflow.errors import OutputNotFoundError, RunNotFoundError
from nbflow.store import assets, history, value_files
from nbflow.store.connection import DEFAULT_IDLE_RELEASE, DEFAULT_LOCK_TIMEOUT, ConnectionHolder
from nbflow.store.partitions import PartitionStore
from nbflow.store.sensors import SensorStore
from nbflow.store.serialize import (
    CHUNKED,
    JSON,
    PICKLE,
    TABLE,
    UNSTORED,
    ConfigNotStorable,
    config_from_json,
    config_to_json,
    decode,
    frame_table,
    safe_json,
    unpickle_chunks,
)
from nbflow.store.writer import RunWriter

RUN_COLUMNS = (
    "run_id, job_name, status, tags, run_config, partition_key, parent_run_id, root_run_id, "
    "epoch(start_time) AS start_time, epoch(end_time) AS end_time, error, backend"
)


class Store:
    """Reads and writes one nbflow DuckDB file (or ``":memory:"``)."""

    def __init__(self, path: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 idle_release: float = DEFAULT_IDLE_RELEASE) -> None:
        self.path = path
        self.holder = ConnectionHolder(path, lock_timeout, idle_release)
        self.active: set[str] = set()  # runs this process is executing right now, from this store
        self._heart: threading.Thread | None = None
        self._heart_lock = threading.Lock()
        self.partitions = PartitionStore(self)
        self.sensors = SensorStore(self)
        self.holder.on_open(lambda con: history.recover_interrupted(con, self.active))
        self.holder.on_open(history.FrameSweeper().on_open)
        if not self.holder.in_memory:
            self.holder.on_open(_ValueFileSweeper(path).on_open)

    # -- writing ---------------------------------------------------------------------------------
    def writer(self, run_id: str) -> RunWriter:
        return RunWriter(self, run_id)

    def insert_run(self, info: dict[str, Any], reuse: tuple[dict[str, Any], dict[str, Any]] | None = None) -> None:
        """Record a run as started; for a rerun, also copy what it reuses from its parent."""
        try:
            run_config = config_to_json(info.get("run_config") or {})
        except ConfigNotStorable as exc:
            from nbflow.errors import ConfigError

            raise ConfigError(f"Job '{info['job_name']}' was not run: {exc}") from None
        with self.holder.transaction() as con:
            self._running(info["run_id"])
            if info.get("queued"):  # a run a sensor tick queued: this is where it starts
                claimed = con.execute("DELETE FROM runs WHERE run_id = ? AND status = 'QUEUED' RETURNING 1",
                                      [info["run_id"]]).fetchall()
                if not claimed:
                    self._not_running(info["run_id"])
                    raise RunNotFoundError(
                        f"Run {info['run_id']} is no longer queued in {self.path}: it was launched or "
                        f"deleted meanwhile (instance.get_run({info['run_id']!r}) shows it)."
                    )
            con.execute(
                "INSERT INTO runs (run_id, job_name, status, tags, run_config, partition_key, "
                "parent_run_id, root_run_id, start_time, backend, pid, hostname, partitions_def, graph, "
                "heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, to_timestamp(?), ?, ?, ?, ?, ?, epoch(now()))",
                [info["run_id"], info["job_name"], info["status"], safe_json(info.get("tags") or {}),
                 run_config, info.get("partition_key"),
                 info.get("parent_run_id"), info.get("root_run_id") or info["run_id"], info["start"],
                 info.get("backend"), info.get("pid"), info.get("hostname"), info.get("partitions_def"),
                 info.get("graph")],
            )
            assets.record_materializations(con, info["run_id"], info.get("assets") or [],
                                           info.get("partition_key"), final=False)
            if reuse is not None:
                executed, nodes = reuse
                history.copy_reused(con, info["run_id"], info["parent_run_id"], executed, nodes)

    def finish_run(self, run_id: str, assets_made: list[str] | None = None,
                   partition_key: str | None = None) -> None:
        self._not_running(run_id)
        if assets_made:
            with self.holder.transaction() as con:
                assets.record_materializations(con, run_id, assets_made, partition_key, final=True)

    def mark_failed(self, run_id: str, error: str) -> None:
        """Close a run that ended through an error of nbflow itself, not of a step."""
        self._not_running(run_id)
        with self.holder.transaction() as con:
            con.execute(
                "UPDATE runs SET status = 'FAILURE', error = ?, end_time = now() WHERE run_id = ? "
                "AND status = 'STARTED'", [error, run_id])

    def fail_queued(self, run_id: str, error: str) -> None:
        """A queued run that could not start: record it FAILURE with the reason."""
        with self.holder.transaction() as con:
            con.execute("UPDATE runs SET status = 'FAILURE', error = ?, end_time = now() WHERE run_id = ? "
                        "AND status = 'QUEUED'", [error, run_id])

    def pool_limits(self) -> dict[str, int]:
        """Concurrency pool limits set on this store, ``{pool: limit}``."""
        with self.holder.use() as con:
            rows = con.execute("SELECT key, value FROM nbflow_meta WHERE starts_with(key, 'pool:')").fetchall()
        return {key[len("pool:"):]: int(value) for key, value in rows}

    def set_pool_limit(self, pool: str, limit: int | None) -> None:
        """Set (or with None remove) the limit of one concurrency pool."""
        with self.holder.transaction() as con:
            con.execute("DELETE FROM nbflow_meta WHERE key = ?", [f"pool:{pool}"])
            if limit is not None:
                con.execute("INSERT INTO nbflow_meta VALUES (?, ?)", [f"pool:{pool}", limit])

    def delete_run(self, run_id: str) -> None:
        self.run_row(run_id)  # raises RunNotFoundError naming the store
        with self.holder.transaction() as con:
            history.delete_run(con, run_id)
        self.sweep_value_files()

    def sweep_value_files(self) -> int:
        """Remove large-value files beside the store that no output refers to any more."""
        if self.holder.in_memory:
            return 0
        with self.holder.use() as con:
            return value_files.sweep(con, self.path)

    # -- liveness --------------------------------------------------------------------------------
    def _running(self, run_id: str) -> None:
        self.active.add(run_id)
        history.RUNNING_HERE.add(run_id)
        if not self.holder.in_memory:
            self._start_heartbeat()

    def _not_running(self, run_id: str) -> None:
        self.active.discard(run_id)
        history.RUNNING_HERE.discard(run_id)

    def _start_heartbeat(self) -> None:
        with self._heart_lock:
            if self._heart is None:
                self._heart = threading.Thread(target=self._beat, name=f"nbflow-heartbeat:{self.path}",
                                               daemon=True)
                self._heart.start()

    def _beat(self) -> None:
        """Every ``HEARTBEAT_SECONDS``, tell the store that this process still runs its runs.

        Other processes (on other hosts too) take a run whose heartbeat went stale for one
        whose process died. The heartbeat is no change to what a cache holds, so it does
        not bump the change counter.
        """
        while True:
            STATE.clock.sleep(history.HEARTBEAT_SECONDS)
            with self._heart_lock:
                running = sorted(self.active)
                if not running:
                    self._heart = None
                    return
            try:
                with self.holder.use(lock_timeout=history.HEARTBEAT_SECONDS) as con:
                    history.beat(con, running)
            except Exception:  # a busy or closed store: the next beat tries again
                pass

    # -- history ---------------------------------------------------------------------------------
    def parent_view(self, run_id: str, nodes: dict[str, Any]) -> Any:
        return history.parent_view(self, run_id, nodes)

    def stored_outputs(self, run_id: str) -> history.StoredOutputs:
        return history.StoredOutputs(self, run_id)

    def children(self, run_id: str) -> list[str]:
        with self.holder.use() as con:
            return [r[0] for r in con.execute(
                "SELECT run_id FROM runs WHERE parent_run_id = ? ORDER BY start_time", [run_id]).fetchall()]

    def lineage(self, root_run_id: str) -> Any:
        return _with_duration(self.sql(
            "SELECT run_id, parent_run_id, job_name, status, start_time, end_time, tags, error "
            "FROM runs WHERE root_run_id = ? ORDER BY start_time", [root_run_id]))

    # -- reading ---------------------------------------------------------------------------------
    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        """Run any SQL against the store and return a pandas DataFrame."""
        with self.holder.use() as con:
            rel = con.sql(query, params=params or None)
            # Through Arrow: DuckDB's own .df() trips pandas deprecation warnings on timestamps.
            return None if rel is None else rel.to_arrow_table().to_pandas()

    def run_row(self, run_id: str) -> dict[str, Any]:
        with self.holder.use() as con:
            cur = con.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", [run_id])
            found = cur.fetchall()
            row = found[0] if found else None
            rows: list[tuple[Any, ...]] = []
            if row is None and len(run_id) >= 4:
                # starts_with, not LIKE: '_' and '%' in what the user typed are not wildcards.
                cur = con.execute(
                    f"SELECT {RUN_COLUMNS} FROM runs WHERE starts_with(run_id, ?) LIMIT 2", [run_id]
                )
                rows = cur.fetchall()
                row = rows[0] if len(rows) == 1 else None
            names = [d[0] for d in cur.description]
        if row is None and len(rows) > 1:
            raise RunNotFoundError(
                f"The run id prefix {run_id!r} matches several runs in the store {self.path}; "
                f"give more characters of the id (instance.runs() lists them)."
            )
        if row is None:
            raise RunNotFoundError(
                f"No run with id {run_id!r} in the store {self.path}. "
                f"List the stored runs with instance.runs()."
            )
        record = dict(zip(names, row, strict=False))
        record["tags"] = json.loads(record["tags"] or "{}")
        record["run_config"] = config_from_json(record["run_config"])
        return record

    def runs(self, job: str | None = None, status: str | None = None, limit: int | None = 100) -> Any:
        where, params = [], []
        if job is not None:
            where.append("job_name = ?")
            params.append(job)
        if status is not None:
            where.append("status = ?")
            params.append(status.upper())
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        tail = f"LIMIT {int(limit)}" if limit else ""
        return _with_duration(self.sql(
            f"SELECT run_id, job_name, status, partition_key, start_time, end_time, "
            f"parent_run_id, root_run_id, tags, error "
            f"FROM runs {clause} ORDER BY start_time DESC {tail}",
            params,
        ))

    def steps(self, run_id: str) -> Any:
        return _with_duration(self.sql(
            "SELECT step_key, op, mapping_key, status, attempts, start_time, end_time, "
            "error, code_version, reused_from FROM steps WHERE run_id = ? "
            "ORDER BY start_time, key_index NULLS FIRST",
            [run_id],
        ))

    def step_summary(self, run_id: str) -> Any:
        """Per op and status: steps, first start, last end, reused steps, and the first start and
        last end of the steps the run executed itself (``own_start``, ``own_end``: a rerun's
        reused steps carry their parent's times), in one aggregate query."""
        return self.sql(
            "SELECT op, status, count(*) AS n, min(start_time) AS start_time, max(end_time) AS end_time, "
            "count(reused_from) AS reused, min(start_time) FILTER (WHERE reused_from IS NULL) AS own_start, "
            "max(end_time) FILTER (WHERE reused_from IS NULL) AS own_end "
            "FROM steps WHERE run_id = ? GROUP BY op, status", [run_id])

    def step_page(self, run_id: str, op: str, status: str | None, text: str | None, offset: int,
                  limit: int) -> tuple[Any, int]:
        """One page of a mapped op's steps in key order, filtered by status and key text."""
        where, params = ["run_id = ?", "op = ?", "mapping_key IS NOT NULL"], [run_id, op]
        if status:
            where.append("status = ?")
            params.append(status)
        if text:
            where.append("contains(lower(mapping_key), lower(?))")
            params.append(text)
        clause = " AND ".join(where)
        with self.holder.use() as con:
            total = con.execute(f"SELECT count(*) FROM steps WHERE {clause}", params).fetchall()[0][0]
        page = self.sql(
            "SELECT mapping_key, status, attempts, epoch(end_time) - epoch(start_time) AS seconds, "
            f"reused_from FROM steps WHERE {clause} ORDER BY key_index LIMIT {int(limit)} OFFSET {int(offset)}",
            params)
        return page, total

    def step_row(self, run_id: str, step_key: str) -> dict[str, Any] | None:
        frame = self.sql(
            "SELECT step_key, op, mapping_key, status, attempts, epoch(end_time) - epoch(start_time) AS seconds, "
            "error, reused_from FROM steps WHERE run_id = ? AND step_key = ?", [run_id, step_key])
        return None if frame.empty else frame.iloc[0].to_dict()

    def logs(self, run_id: str, step_key: str | None = None) -> Any:
        if step_key is None:
            return self.sql(
                "SELECT ts, step_key, kind, level, message FROM events WHERE run_id = ? ORDER BY ts",
                [run_id],
            )
        return self.sql(
            "SELECT ts, step_key, kind, level, message FROM events WHERE run_id = ? AND step_key = ? "
            "ORDER BY ts",
            [run_id, step_key],
        )

    def output_rows(self, run_id: str, op: str, output_name: str, key: str | None, mapped: bool,
                    ) -> list[tuple[Any, ...]]:
        query = (
            "SELECT mapping_key, kind, json_value, blob_value, table_name FROM outputs "
            "WHERE run_id = ? AND op = ? AND output_name = ?"
        )
        params: list[Any] = [run_id, op, output_name]
        if key is not None:
            query += " AND mapping_key = ?"
            params.append(key)
        elif not mapped:
            query += " AND mapping_key IS NULL"
        query += " ORDER BY key_index NULLS FIRST"
        with self.holder.use() as con:
            rows = con.execute(query, params).fetchall()
            if len(rows) > 1 and all(row[1] == JSON for row in rows):
                # One json.loads over the joined texts instead of one call per row.
                values = json.loads("[" + ",".join(row[2] for row in rows) + "]")
                return [(row[0], value) for row, value in zip(rows, values, strict=True)]
            return [(k, self._decode_row(con, kind, text, blob, table)) for k, kind, text, blob, table in rows]

    def _decode_row(self, con: Any, kind: str, text: str | None, blob: bytes | None, table: str | None) -> Any:
        if kind in (PICKLE, CHUNKED, value_files.VALUE_FILE):
            self.holder.check_trusted()  # unpickling runs code from the file
        if kind in (JSON, PICKLE):
            return decode(kind, text, blob)
        if kind == TABLE:
            meta = json.loads(text or "{}")
            if not con.execute("SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() "
                               "AND schema_name = 'frames' AND table_name = ?", [table]).fetchall():
                raise OutputNotFoundError(
                    f"This output refers to the table {table!r}, which is not in the store {self.path} "
                    f"(the file was changed outside nbflow, or the table was dropped)."
                )
            arrow = con.sql(f"SELECT * FROM {frame_table(table or '')}").to_arrow_table()
            if meta.get("frame") == "arrow":
                return arrow
            frame = arrow.to_pandas()
            if meta.get("index"):
                frame = frame.set_index(meta["index"])
                if "index_names" in meta:  # stored under internal column names; restore the real ones
                    frame.index.names = meta["index_names"]
            return frame
        if kind == CHUNKED:
            cursor = con.execute(f"SELECT chunk FROM {frame_table(table or '')} ORDER BY seq")
            return unpickle_chunks(iter(lambda: (cursor.fetchone() or (None,))[0], None))
        if kind == value_files.VALUE_FILE:
            return value_files.read(self.path, table)
        if kind == UNSTORED:
            reason = json.loads(text) if text else "unknown reason"
            raise OutputNotFoundError(f"This output could not be stored: {reason}")
        raise OutputNotFoundError(f"Unknown stored output kind {kind!r}.")

    def graph_shape(self, run_id: str) -> str | None:
        """The JSON shape of the run's job graph (None for runs stored before shapes were)."""
        with self.holder.use() as con:
            rows = con.execute("SELECT graph FROM runs WHERE run_id = ?", [run_id]).fetchall()
        return rows[0][0] if rows else None

    def job_nodes(self, run_id: str) -> list[str]:
        with self.holder.use() as con:
            return [r[0] for r in con.execute(
                "SELECT DISTINCT op FROM steps WHERE run_id = ? ORDER BY op", [run_id]).fetchall()]

    def close(self) -> None:
        # The file is let go; the DuckDB it was attached to is kept for the next use.
        self.holder.close(keep_engine=True)


class _ValueFileSweeper:
    """Removes orphan value files the first time a store is opened (see ``value_files.sweep``)."""

    def __init__(self, path: str) -> None:
        self.path, self.done = path, False

    def on_open(self, con: Any) -> None:
        if not self.done:
            self.done = True
            value_files.sweep(con, self.path)


def _with_duration(frame: Any) -> Any:
    """Add ``duration = end_time - start_time`` after ``end_time``, as a pandas Timedelta.

    Computed in pandas: DuckDB's INTERVAL arrives through Arrow as month/day/nano
    ``DateOffset`` objects, which cannot be summed, compared or sorted.
    """
    frame.insert(frame.columns.get_loc("end_time") + 1, "duration", frame["end_time"] - frame["start_time"])
    return frame
