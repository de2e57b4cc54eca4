"""Sensor state in the store: cursor and its history, status, ticks, run keys.

A tick is applied in one transaction (:meth:`SensorStore.apply_tick`): partition
requests, then the runs it launches (recorded QUEUED), then its run keys, then the
cursor, then the tick record. A failure anywhere rolls all of it back; the failed
tick is then recorded on its own.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from nbflow.definitions.status import Status
from nbflow.store.columns import registered, string_columns
from nbflow.store.serialize import config_to_json, safe_json, safe_text

STATE_COLUMNS = ("cursor", "status", "reason", "failures", "pid", "hostname", "started_at",
                 "last_tick_time", "last_run_key")


@dataclass
class SensorState:
    cursor: str | None = None
    status: str = "STOPPED"
    reason: str | None = None
    failures: int = 0
    pid: int | None = None
    hostname: str | None = None
    started_at: float | None = None
    last_tick_time: float | None = None
    last_run_key: str | None = None


@dataclass
class QueuedRun:
    """A run a tick launches: recorded QUEUED in the tick's transaction, executed after."""

    run_id: str
    job_name: str
    run_config: dict[str, Any]
    tags: dict[str, str]
    partition_key: str | None
    partitions_def: str | None
    run_key: str | None


@dataclass
class TickRecord:
    """Everything stored about one tick."""

    tick_id: str
    sensor: str
    start: float
    status: str = Status.SKIPPED
    origin: str = "manual"
    cursor_before: str | None = None
    cursor_after: str | None = None
    skip_reason: str | None = None
    partitions_added: dict[str, list[str]] = field(default_factory=dict)
    partitions_deleted: dict[str, list[str]] = field(default_factory=dict)
    runs: list[QueuedRun] = field(default_factory=list)
    run_keys_skipped: list[str] = field(default_factory=list)
    error: str | None = None
    logs: list[tuple[float, str, str, str]] = field(default_factory=list)
    end: float = 0.0


class SensorStore:
    """The sensor part of a :class:`~nbflow.store.store.Store`."""

    def __init__(self, store: Any) -> None:
        self.store = store

    # -- state -----------------------------------------------------------------------------------
    def state(self, name: str) -> SensorState:
        # epoch() in SQL: fetching TIMESTAMPTZ values into Python would need pytz.
        columns = ", ".join(f"epoch({c})" if c in ("started_at", "last_tick_time") else c
                            for c in STATE_COLUMNS)
        with self.store.holder.use() as con:
            rows = con.execute(f"SELECT {columns} FROM sensor_state WHERE sensor = ?", [name]).fetchall()
        if not rows:
            return SensorState()
        return SensorState(**dict(zip(STATE_COLUMNS, rows[0], strict=True)))

    def states(self) -> Any:
        return self.store.sql(f"SELECT sensor, {', '.join(STATE_COLUMNS)}, updated_at FROM sensor_state "
                              "ORDER BY sensor")

    def _upsert(self, con: Any, name: str, **values: Any) -> None:
        exists = con.execute("SELECT count(*) FROM sensor_state WHERE sensor = ?", [name]).fetchall()[0][0]
        if not exists:
            con.execute("INSERT INTO sensor_state (sensor, status, failures, updated_at) "
                        "VALUES (?, 'STOPPED', 0, now())", [name])
        sets = "".join(f"{column} = ?, " for column in values)
        con.execute(f"UPDATE sensor_state SET {sets}updated_at = now() WHERE sensor = ?",
                    [*values.values(), name])

    def set_status(self, name: str, status: str, reason: str | None = None, reset_failures: bool = False) -> None:
        running = status == "RUNNING"
        values: dict[str, Any] = {"status": status, "reason": reason,
                                  "pid": os.getpid() if running else None,
                                  "hostname": socket.gethostname() if running else None}
        if reset_failures:
            values["failures"] = 0
        with self.store.holder.transaction() as con:
            self._upsert(con, name, **values)
            if running:
                con.execute("UPDATE sensor_state SET started_at = now() WHERE sensor = ?", [name])

    def set_cursor(self, name: str, cursor: str | None, source: str) -> None:
        with self.store.holder.transaction() as con:
            self._upsert(con, name, cursor=cursor)
            con.execute("INSERT INTO sensor_cursors VALUES (?, now(), ?, ?, NULL)", [name, cursor, source])

    def cursor_history(self, name: str) -> Any:
        return self.store.sql("SELECT ts, cursor, source, tick_id FROM sensor_cursors WHERE sensor = ? "
                              "ORDER BY ts, rowid", [name])

    # -- run keys --------------------------------------------------------------------------------
    def run_keys(self, name: str) -> Any:
        return self.store.sql("SELECT run_key, run_id, ts FROM sensor_run_keys WHERE sensor = ? "
                              "ORDER BY ts, rowid", [name])

    def forget_run_keys(self, name: str, keys: list[str] | None) -> int:
        with self.store.holder.transaction() as con:
            if keys is None:
                found = con.execute("DELETE FROM sensor_run_keys WHERE sensor = ? RETURNING run_key",
                                    [name]).fetchall()
            else:
                found = con.execute(
                    "DELETE FROM sensor_run_keys WHERE sensor = ? AND list_contains(?, run_key) "
                    "RETURNING run_key", [name, keys]).fetchall()
        return len(found)

    # -- ticks -----------------------------------------------------------------------------------
    def apply_tick(self, tick: TickRecord, requests: list[Any], planned: list[QueuedRun],
                   cursor: tuple[bool, str | None], checkpoint: Callable[[str], None]) -> TickRecord:
        """Apply a tick's result in one transaction and return the completed record."""
        from nbflow.partitions.dynamic import AddDynamicPartitionsRequest

        parts = self.store.partitions
        with parts.writing() as con:
            for request in requests:
                keys, name = list(request.partition_keys), request.partitions_def_name
                if isinstance(request, AddDynamicPartitionsRequest):
                    added = parts.add(name, keys, "sensor", tick.tick_id, con=con).added
                    tick.partitions_added.setdefault(name, []).extend(added)
                else:
                    deleted = parts.delete(name, keys, "sensor", tick.tick_id, con=con).deleted
                    tick.partitions_deleted.setdefault(name, []).extend(deleted)
            checkpoint("partitions")
            _check_partition_keys(con, parts, planned)
            tick.runs, tick.run_keys_skipped = self._dedupe(con, tick.sensor, planned)
            self._queue(con, tick)
            checkpoint("runs")
            changed, new_cursor = cursor
            tick.cursor_after = new_cursor if changed else tick.cursor_before
            if changed and new_cursor != tick.cursor_before:
                con.execute("INSERT INTO sensor_cursors VALUES (?, now(), ?, 'tick', ?)",
                            [tick.sensor, new_cursor, tick.tick_id])
            tick.status = _status(tick)
            tick.end = time.time()
            last_key = next((r.run_key for r in reversed(tick.runs) if r.run_key), None)
            self._upsert(con, tick.sensor, cursor=tick.cursor_after, failures=0)
            con.execute("UPDATE sensor_state SET last_tick_time = to_timestamp(?), "
                        "last_run_key = coalesce(?, last_run_key) WHERE sensor = ?",
                        [tick.end, last_key, tick.sensor])
            checkpoint("cursor")
            self._insert_tick(con, tick)
        return tick

    def record_failure(self, tick: TickRecord) -> int:
        """Record a FAILURE tick (nothing else changes); return the consecutive failure count."""
        tick.status, tick.end = Status.FAILURE, time.time()
        tick.cursor_after = tick.cursor_before
        tick.partitions_added, tick.partitions_deleted, tick.runs = {}, {}, []
        with self.store.holder.transaction() as con:
            self._upsert(con, tick.sensor)
            con.execute("UPDATE sensor_state SET failures = failures + 1, last_tick_time = to_timestamp(?) "
                        "WHERE sensor = ?", [tick.end, tick.sensor])
            self._insert_tick(con, tick)
            return cast(int, con.execute("SELECT failures FROM sensor_state WHERE sensor = ?",
                                         [tick.sensor]).fetchall()[0][0])

    def ticks(self, name: str, limit: int | None = 100, status: str | None = None) -> Any:
        where, params = "sensor = ?", [name]
        if status is not None:
            where += " AND status = ?"
            params.append(status.upper())
        tail = f"LIMIT {int(limit)}" if limit else ""
        frame = self.store.sql(
            "SELECT tick_id, start_time, end_time, status, origin, cursor_before, cursor_after, skip_reason, "
            "partitions_added, partitions_deleted, run_ids, run_keys_skipped, error, logs "
            f"FROM sensor_ticks WHERE {where} ORDER BY start_time DESC, rowid DESC {tail}", params)
        for column in ("partitions_added", "partitions_deleted", "run_ids", "run_keys_skipped", "logs"):
            frame[column] = [json.loads(v) if v is not None else None for v in frame[column]]
        for column in ("cursor_before", "cursor_after", "skip_reason", "error"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        frame.insert(3, "duration", (frame.end_time - frame.start_time).dt.total_seconds())
        return frame

    def tick_count(self, name: str) -> int:
        with self.store.holder.use() as con:
            return cast(int, con.execute("SELECT count(*) FROM sensor_ticks WHERE sensor = ?", [name]).fetchall()[0][0])

    def queued_runs(self, name: str) -> list[str]:
        """Runs a tick of this sensor queued that were never executed (e.g. the process ended)."""
        rows = self.store.sql(
            "SELECT run_id FROM runs WHERE status = 'QUEUED' AND json_extract_string(tags, "
            "'$.\"nbflow/sensor_name\"') = ? ORDER BY start_time, rowid", [name])
        return cast("list[str]", rows.run_id.tolist())

    # -- helpers ---------------------------------------------------------------------------------
    def _dedupe(self, con: Any, sensor: str, planned: list[QueuedRun]) -> tuple[list[QueuedRun], list[str]]:
        keys = [r.run_key for r in planned if r.run_key is not None]
        seen: set[str] = set()
        if keys:
            seen = {row[0] for row in con.execute(
                "SELECT run_key FROM sensor_run_keys WHERE sensor = ? AND list_contains(?, run_key)",
                [sensor, keys]).fetchall()}
        launch, skipped = [], []
        for run in planned:
            if run.run_key is not None and run.run_key in seen:
                skipped.append(run.run_key)
                continue
            if run.run_key is not None:
                seen.add(run.run_key)
            launch.append(run)
        return launch, skipped

    def _queue(self, con: Any, tick: TickRecord) -> None:
        if not tick.runs:
            return
        runs = string_columns(
            run_id=[r.run_id for r in tick.runs],
            job_name=[r.job_name for r in tick.runs],
            tags=[safe_json(r.tags) for r in tick.runs],
            run_config=[config_to_json(r.run_config) for r in tick.runs],
            partition_key=[r.partition_key for r in tick.runs],
            partitions_def=[r.partitions_def for r in tick.runs],
            run_key=[r.run_key for r in tick.runs],
        )
        with registered(con, "_nbflow_queued", runs):
            con.execute(
                "INSERT INTO runs (run_id, job_name, status, tags, run_config, partition_key, root_run_id, "
                "start_time, partitions_def) SELECT run_id, job_name, 'QUEUED', tags, run_config, "
                "partition_key, run_id, to_timestamp(?), partitions_def FROM _nbflow_queued", [tick.start])
            con.execute("INSERT INTO sensor_run_keys SELECT ?, run_key, run_id, now() FROM _nbflow_queued "
                        "WHERE run_key IS NOT NULL", [tick.sensor])

    def _insert_tick(self, con: Any, tick: TickRecord) -> None:
        con.execute(
            "INSERT INTO sensor_ticks VALUES (?, ?, to_timestamp(?), to_timestamp(?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tick.tick_id, tick.sensor, tick.start, tick.end, tick.status, tick.origin, tick.cursor_before,
             tick.cursor_after, tick.skip_reason, json.dumps(tick.partitions_added),
             json.dumps(tick.partitions_deleted), json.dumps([r.run_id for r in tick.runs]),
             json.dumps(tick.run_keys_skipped), safe_text(tick.error), safe_json(tick.logs)])


def _status(tick: TickRecord) -> str:
    changed = any(tick.partitions_added.values()) or any(tick.partitions_deleted.values())
    if tick.runs or changed:
        return Status.SUCCESS
    if tick.run_keys_skipped and tick.skip_reason is None:
        tick.skip_reason = (f"Skipping {len(tick.run_keys_skipped)} run(s) for sensor {tick.sensor}: already "
                            f"launched with run keys {tick.run_keys_skipped}")
    elif tick.skip_reason is None:
        tick.skip_reason = "Nothing new: no runs requested and no partitions changed"
    return Status.SKIPPED


def _check_partition_keys(con: Any, parts: Any, planned: list[QueuedRun]) -> None:
    """Partitioned requests must name a key that exists once this tick's adds are applied."""
    from nbflow.errors import UnknownPartitionError, closest_first

    for run in planned:
        if run.partitions_def is None:
            continue
        index = parts.index(con, run.partitions_def)
        if run.partition_key not in index:
            raise UnknownPartitionError(
                f"RunRequest for job '{run.job_name}' names partition {run.partition_key!r}, which is not "
                f"in DynamicPartitionsDefinition '{run.partitions_def}' even after this tick's partition "
                f"requests. Add it in the same SensorResult with "
                f"dynamic_partitions_requests=[{run.partitions_def}.build_add_request([...])]. "
                f"{closest_first(parts.closest(run.partitions_def, str(run.partition_key), con=con))}"
            )
