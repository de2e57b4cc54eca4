"""Asset materializations and per-partition status, and dropping a partition's outputs."""

from __future__ import annotations

import time
from typing import Any

from nbflow.store.serialize import frame_table

_STATUS = (
    # The latest record of a key decides; a 'running' record whose run has ended without
    # finishing (interrupted, canceled) counts as failed.
    "CASE WHEN l.status = 'running' AND r.status NOT IN ('STARTED') THEN 'failed' "
    "ELSE coalesce(l.status, 'missing') END"
)


def record_materializations(con: Any, run_id: str, assets: list[str], partition_key: str | None,
                            final: bool) -> None:
    """At the start of a run, every asset of it is 'running'; at the end, its step decides."""
    if not assets:
        return
    if not final:
        con.execute(
            "INSERT INTO materializations SELECT unnest($assets), $key, $run, 'running', to_timestamp($now)",
            {"assets": assets, "key": partition_key, "run": run_id, "now": time.time()})
        return
    con.execute(
        "INSERT INTO materializations SELECT a.asset, $key, $run, "
        "CASE WHEN s.status = 'SUCCESS' THEN 'materialized' ELSE 'failed' END, to_timestamp($now) "
        "FROM (SELECT unnest($assets) AS asset) a LEFT JOIN steps s ON s.run_id = $run AND s.op = a.asset",
        {"assets": assets, "key": partition_key, "run": run_id, "now": time.time()})


def asset_status(store: Any, def_name: str, assets: list[str], keys: list[str] | None = None) -> Any:
    """Key, asset, status, last run, updated time for every current key of ``def_name``
    (or only ``keys``)."""
    only = "" if keys is None else "AND list_contains($keys, p.key) "
    return store.sql(
        "WITH latest AS ("
        "  SELECT m.asset, m.partition_key, arg_max(m.status, m.ts) AS status, "
        "         arg_max(m.run_id, m.ts) AS run_id, max(m.ts) AS updated "
        "  FROM materializations m JOIN partitions p ON p.def_name = $def AND p.key = m.partition_key "
        "       AND m.ts >= p.valid_from "
        "  JOIN runs mr ON mr.run_id = m.run_id AND mr.partitions_def = $def "
        "  WHERE list_contains($assets, m.asset) GROUP BY ALL) "
        f"SELECT p.key, a.asset, {_STATUS} AS status, l.run_id AS last_run, l.updated "
        "FROM partitions p CROSS JOIN (SELECT unnest($assets) AS asset) a "
        "LEFT JOIN latest l ON l.partition_key = p.key AND l.asset = a.asset "
        "LEFT JOIN runs r ON r.run_id = l.run_id "
        f"WHERE p.def_name = $def {only}ORDER BY a.asset, p.seq",
        {"def": def_name, "assets": assets, **({} if keys is None else {"keys": keys})})


def job_status(store: Any, def_name: str, job_name: str, keys: list[str] | None = None) -> Any:
    """The same for a partitioned op job: its latest run per key (of this definition) decides."""
    only = "" if keys is None else "AND list_contains($keys, p.key) "
    return store.sql(
        "WITH latest AS ("
        "  SELECT r.partition_key, arg_max(r.status, r.start_time) AS run_status, "
        "         arg_max(r.run_id, r.start_time) AS run_id, max(coalesce(r.end_time, r.start_time)) AS updated "
        "  FROM runs r JOIN partitions p ON p.def_name = $def AND p.key = r.partition_key "
        "       AND r.start_time >= p.valid_from "
        "  WHERE r.job_name = $job AND r.partitions_def = $def GROUP BY ALL) "
        "SELECT p.key, $job AS job, CASE WHEN l.run_status IS NULL THEN 'missing' "
        "  WHEN l.run_status = 'SUCCESS' THEN 'materialized' WHEN l.run_status = 'STARTED' THEN 'running' "
        "  ELSE 'failed' END AS status, l.run_id AS last_run, l.updated "
        "FROM partitions p LEFT JOIN latest l ON l.partition_key = p.key "
        f"WHERE p.def_name = $def {only}ORDER BY p.seq",
        {"def": def_name, "job": job_name, **({} if keys is None else {"keys": keys})})


def drop_partition_outputs(con: Any, def_name: str, keys: list[str]) -> None:
    """Delete what runs stored for these keys of ``def_name`` (outputs, frames, materializations)."""
    params = {"def": def_name, "keys": keys}
    runs = "SELECT run_id FROM runs WHERE partitions_def = $def AND list_contains($keys, partition_key)"
    orphans = [r[0] for r in con.execute(
        f"SELECT DISTINCT table_name FROM outputs o WHERE run_id IN ({runs}) AND table_name IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM outputs x WHERE x.table_name = o.table_name AND x.run_id NOT IN ({runs}))",
        params).fetchall()]
    con.execute(f"DELETE FROM outputs WHERE run_id IN ({runs})", params)
    con.execute(f"DELETE FROM materializations WHERE run_id IN ({runs})", params)
    for name in orphans:
        con.execute(f"DROP TABLE IF EXISTS {frame_table(name)}")
