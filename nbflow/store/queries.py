"""Reads that the layers above ask of the store, each named for what it returns.

SQL lives in ``nbflow.store`` only: a run handle, the instance and the views call these
functions instead of writing queries of their own. Each takes the :class:`~nbflow.store.store.Store`.
"""

from __future__ import annotations

from typing import Any

from nbflow.definitions.status import Status


def _rows(store: Any, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with store.holder.use() as con:
        rows: list[tuple[Any, ...]] = con.execute(query, params).fetchall()
    return rows


# -- steps and outputs of one run ---------------------------------------------------------------
def count_succeeded_steps(store: Any, run_id: str, op: str) -> int:
    """How many steps of ``op`` succeeded in the run."""
    rows = _rows(store, "SELECT count(*) FROM steps WHERE run_id = ? AND op = ? AND status = ?",
                 [run_id, op, Status.SUCCESS.value])
    return int(rows[0][0])


def has_mapped_steps(store: Any, run_id: str, op: str) -> bool:
    """Whether any step of ``op`` in the run has a mapping key."""
    rows = _rows(store, "SELECT bool_or(mapping_key IS NOT NULL) FROM steps WHERE run_id = ? AND op = ?",
                 [run_id, op])
    return bool(rows[0][0]) if rows else False


def has_keyed_outputs(store: Any, run_id: str, op: str, output_name: str) -> bool:
    """Whether ``op`` stored values of ``output_name`` per mapping key in the run."""
    rows = _rows(store, "SELECT count(*) FROM outputs WHERE run_id = ? AND op = ? AND output_name = ? "
                 "AND mapping_key IS NOT NULL", [run_id, op, output_name])
    return bool(rows[0][0])


def step_statuses(store: Any, run_id: str, op: str, key: str | None = None,
                  limit: int = 5) -> list[tuple[str, str]]:
    """``(step_key, status)`` of the first ``limit`` steps of ``op`` (of one mapping key if given)."""
    where, params = "run_id = ? AND op = ?", [run_id, op]
    if key is not None:
        where += " AND mapping_key = ?"
        params.append(key)
    rows = _rows(store, f"SELECT step_key, status FROM steps WHERE {where} LIMIT ?", [*params, int(limit)])
    return [(str(r[0]), str(r[1])) for r in rows]


def output_names_by_step(store: Any, run_id: str) -> Any:
    """``step_key``, ``output_name``, ``mapping_key`` of every output the run stored (a DataFrame)."""
    return store.sql("SELECT step_key, output_name, mapping_key FROM outputs WHERE run_id = ?", [run_id])


# -- runs ---------------------------------------------------------------------------------------------
def runs_by_id(store: Any, run_ids: list[str]) -> Any:
    """``status``, ``partition_key``, ``job_name`` of the given runs, indexed by ``run_id``
    (deleted runs are absent)."""
    return store.sql("SELECT run_id, status, partition_key, job_name FROM runs WHERE list_contains(?, run_id)",
                     [run_ids]).set_index("run_id")


def jobs_of_partitions(store: Any, partitions_def: str) -> list[str]:
    """The names of the jobs that ran partitions of ``partitions_def``, sorted."""
    rows = _rows(store, "SELECT DISTINCT job_name FROM runs WHERE partitions_def = ? ORDER BY 1", [partitions_def])
    return [str(r[0]) for r in rows]


# -- assets -----------------------------------------------------------------------------------------
def assets_of_partitions(store: Any, partitions_def: str) -> list[str]:
    """The assets materialized (or attempted) by runs of ``partitions_def``, sorted."""
    rows = _rows(store, "SELECT DISTINCT m.asset FROM materializations m JOIN runs r USING (run_id) "
                 "WHERE r.partitions_def = ? ORDER BY 1", [partitions_def])
    return [str(r[0]) for r in rows]


def latest_materialization(store: Any, asset: str) -> tuple[str, str | None, float] | None:
    """``(run_id, partition_key, seconds since the epoch)`` of the newest successful
    materialization of ``asset``, or None."""
    rows = _rows(store, "SELECT run_id, partition_key, epoch(ts) FROM materializations "
                 "WHERE asset = ? AND status = 'materialized' ORDER BY ts DESC LIMIT 1", [asset])
    if not rows:
        return None
    run_id, partition, ts = rows[0]
    return str(run_id), partition, float(ts)


# -- partitions -------------------------------------------------------------------------------------
def partitions_def_names(store: Any) -> list[str]:
    """Every dynamic partitions definition that has a recorded add or delete."""
    return [str(r[0]) for r in _rows(store, "SELECT DISTINCT def_name FROM partition_events", [])]


def partition_key_position(store: Any, def_name: str, key: str, text: str | None, regex: bool) -> int | None:
    """Where ``key`` is among the keys of ``def_name`` (those matching ``text``, a regular
    expression if ``regex`` else a case-blind substring), 0-based; None if it is not there."""
    where, params = "def_name = ?", [def_name]
    if text:
        where += " AND " + ("regexp_matches(key, ?)" if regex else "contains(lower(key), lower(?))")
        params.append(text)
    rows = _rows(
        store,
        f"SELECT (SELECT count(*) FROM partitions WHERE {where} AND seq < p.seq) AS position "
        f"FROM partitions p WHERE p.def_name = ? AND p.key = ? AND "
        f"EXISTS (SELECT 1 FROM partitions WHERE {where} AND seq = p.seq)",
        [*params, def_name, key, *params])
    return int(rows[0][0]) if rows else None


def newest_partition_events(store: Any, def_name: str, limit: int) -> Any:
    """The newest ``limit`` adds and deletes of ``def_name``: ``key``, ``action``, ``ts``,
    ``source`` (a DataFrame, newest first)."""
    return store.sql("SELECT key, action, ts, source FROM partition_events WHERE def_name = ? "
                     "ORDER BY ts DESC, rowid DESC LIMIT ?", [def_name, int(limit)])


# -- sensors ----------------------------------------------------------------------------------------
def tick_record(store: Any, tick_id: str) -> Any:
    """The stored record of one sensor tick (a pandas row), or None if there is none."""
    found = store.sql(
        "SELECT tick_id, status, skip_reason, error, logs, run_ids, run_keys_skipped, partitions_added, "
        "partitions_deleted, cursor_before, cursor_after FROM sensor_ticks WHERE tick_id = ?", [tick_id])
    return None if found.empty else found.iloc[0]
