"""Run history in the store: lineage, reuse of a parent's results, recovery, deletion.

* :func:`parent_view` -- what a rerun needs to know about the parent run;
* :func:`copy_reused` -- the child run gets the parent's rows for every reused step,
  marked ``reused_from``, in one transaction of set-based statements;
* :func:`recover_interrupted` -- runs left ``STARTED`` by a process that died are
  marked ``INTERRUPTED`` when the store is next opened;
* :func:`delete_run` -- a run's steps, events, outputs and the tables only it uses.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from nbflow._liveness import process_alive
from nbflow._state import STATE
from nbflow.definitions.compose import DynSource
from nbflow.definitions.status import Status
from nbflow.store.columns import registered, string_columns
from nbflow.store.serialize import frame_table

INTERRUPTED = Status.INTERRUPTED.value


def parent_view(store: Any, run_id: str, nodes: dict[str, Any]) -> Any:
    """Statuses, succeeded keys and fan-out keys of ``run_id``, for rerun selection."""
    from nbflow.execution.resume import ParentView

    with store.holder.use() as con:
        status = dict(con.execute(
            "SELECT op, status FROM steps WHERE run_id = ? AND mapping_key IS NULL", [run_id]
        ).fetchall())
        ok_keys = {op: set(keys) for op, keys in con.execute(
            "SELECT op, list(mapping_key) FROM steps WHERE run_id = ? AND mapping_key IS NOT NULL "
            "AND status = 'SUCCESS' GROUP BY op", [run_id]
        ).fetchall()}
        sources = sorted({n for n, node in nodes.items() for o in node.op.outs.values() if o.is_dynamic})
        keys = {}
        if sources:
            for op, output, ks in con.execute(
                "SELECT op, output_name, list(mapping_key ORDER BY key_index) FROM outputs "
                "WHERE run_id = ? AND mapping_key IS NOT NULL AND list_contains(?, op) "
                "GROUP BY op, output_name", [run_id, sources]
            ).fetchall():
                keys[DynSource(op, output)] = ks
        bad_keys: dict[str, dict[str, str]] = {}
        for op, key, st in con.execute(
            "SELECT op, mapping_key, status FROM steps WHERE run_id = ? AND mapping_key IS NOT NULL "
            "AND status <> 'SUCCESS'", [run_id]
        ).fetchall():
            bad_keys.setdefault(op, {})[key] = st
        versions = dict(con.execute(
            "SELECT op, any_value(code_version) FROM steps WHERE run_id = ? GROUP BY op", [run_id]
        ).fetchall())
    return ParentView(run_id, status, ok_keys, keys, versions, bad_keys)


class StoredOutputs:
    """Loads a parent run's outputs on demand (the executor's ``ParentLoader``)."""

    def __init__(self, store: Any, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def load(self, node: str, output: str, key: str | None) -> Any:
        from nbflow.errors import OutputNotFoundError

        rows = self.store.output_rows(self.run_id, node, output, key, key is not None)
        if not rows:
            raise OutputNotFoundError(f"run {self.run_id[:8]} stored no output '{output}' for {node}")
        return rows[0][1]

    def load_all(self, node: str, output: str) -> dict[str, Any]:
        return dict(self.store.output_rows(self.run_id, node, output, None, True))

    def load_some(self, node: str, output: str, keys: list[str]) -> dict[str, Any]:
        found = {}
        for key in keys:
            found.update(self.store.output_rows(self.run_id, node, output, key, True))
        return found


def _copy_rows(con: Any, child: str, parent: str, kept: str, params: dict[str, Any],
               steps_also: str = "TRUE") -> None:
    """Copy the parent's step and output rows matching ``kept`` (SQL over ``p``) into ``child``."""
    params = {**params, "parent": parent, "child": child}
    con.execute(
        "INSERT INTO steps SELECT $child, step_key, op, mapping_key, key_index, status, attempts, "
        "start_time, end_time, error, code_version, coalesce(reused_from, run_id) "
        f"FROM steps p WHERE p.run_id = $parent AND {steps_also} AND {kept}",
        params,
    )
    con.execute(
        "INSERT INTO outputs SELECT $child, step_key, op, mapping_key, key_index, output_name, kind, "
        "json_value, blob_value, table_name, type_name, coalesce(from_run_id, run_id) "
        f"FROM outputs p WHERE p.run_id = $parent AND {kept}",
        params,
    )


def _pairs_table(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return string_columns(op=[p[0] for p in pairs], mapping_key=[p[1] for p in pairs])


def copy_reused(con: Any, child: str, parent: str, executed: dict[str, Any], nodes: dict[str, Any]) -> None:
    """Give ``child`` the parent's step and output rows of every step it does not execute."""
    whole = [n for n, keys in executed.items() if keys is None]
    pairs = [(n, k) for n, keys in executed.items() if keys is not None for k in keys]
    # A fan-out that runs again yields new items: none of its old ones may be copied.
    with registered(con, "_nbflow_rerun_keys", _pairs_table(pairs)):
        kept = ("NOT list_contains($whole, p.op) AND NOT EXISTS (SELECT 1 FROM _nbflow_rerun_keys e "
                "WHERE e.op = p.op AND e.mapping_key = p.mapping_key)")
        # Steps that succeeded are reused; mapped steps that did not are carried as they were.
        _copy_rows(con, child, parent, kept, {"whole": whole or [""]},
                   steps_also="(p.status = 'SUCCESS' OR p.mapping_key IS NOT NULL)")


def copy_reused_keys(con: Any, child: str, parent: str, steps: Sequence[tuple[str, str, str]]) -> None:
    """Copy the rows of single mapped steps a rerun kept: ``(op, mapping_key, from_run)``
    triples, ``from_run`` being the parent or an earlier run of its lineage."""
    by_run: dict[str, list[tuple[str, str]]] = {}
    for step in steps:
        by_run.setdefault(step[2] if len(step) > 2 else parent, []).append((step[0], step[1]))
    for source, pairs in by_run.items():
        with registered(con, "_nbflow_reused_keys", _pairs_table(pairs)):
            kept = ("EXISTS (SELECT 1 FROM _nbflow_reused_keys e WHERE e.op = p.op "
                    "AND e.mapping_key = p.mapping_key)")
            _copy_rows(con, child, source, kept, {})


# Runs executing in this process, whatever Store object (Instance) started them: a second
# Instance on the same file must not take another one's live run for a dead one.
RUNNING_HERE: set[str] = STATE.running_here

HEARTBEAT_SECONDS = 10.0  # how often the process running a run writes its heartbeat
HEARTBEAT_STALE = 120.0  # a run not heard from for this long is taken for dead (other hosts)


def recover_interrupted(con: Any, active: set[str]) -> list[str]:
    """Mark runs whose process is gone ``INTERRUPTED``; return their ids.

    On this host a run's process is asked directly (its pid, which must not belong to a
    process created after the run started: pids are reused); a run started on another
    host is taken for dead once its heartbeat is older than ``HEARTBEAT_STALE`` seconds.
    """
    host, me, now = socket.gethostname(), os.getpid(), STATE.clock.now()
    dead = []
    for run_id, pid, hostname, heartbeat, started in con.execute(
        "SELECT run_id, pid, hostname, heartbeat, epoch(start_time) FROM runs WHERE status = 'STARTED'"
    ).fetchall():
        if run_id in active or run_id in RUNNING_HERE:
            continue
        if hostname == host and pid is not None:
            if pid == me or not process_alive(pid, started_at=started):
                dead.append((run_id, f"The process running it (pid {pid}) ended before the run finished."))
        elif heartbeat is not None and now - heartbeat > HEARTBEAT_STALE:
            dead.append((run_id, f"The process running it (pid {pid} on host {hostname}) has not been heard "
                                 f"from for {now - heartbeat:.0f} s."))
    for run_id, why in dead:
        con.execute(
            "UPDATE runs SET status = ?, error = ?, end_time = coalesce("
            "(SELECT max(end_time) FROM steps WHERE run_id = ?), start_time) WHERE run_id = ?",
            [INTERRUPTED, f"{why} Finished steps are kept: run.rerun(failed=True) completes it.",
             run_id, run_id],
        )
    return [run_id for run_id, _ in dead]


def beat(con: Any, run_ids: list[str]) -> None:
    """Record that this process is still running ``run_ids``."""
    con.execute("UPDATE runs SET heartbeat = ? WHERE list_contains(?, run_id) AND status = 'STARTED'",
                [STATE.clock.now(), run_ids])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def drop_orphan_frames(con: Any, run_id: str | None = None) -> int:
    """Drop frame tables that no output row refers to; return how many.

    A frame is written as a table just before the batch whose output row names it, so a
    process killed in between leaves a table nothing refers to. Tables of runs still going
    (``STARTED``) are left alone: their batch may be on its way. ``run_id``: only that run's.
    """
    only_run = "AND starts_with(t.table_name, ?) " if run_id is not None else ""
    names = [r[0] for r in con.execute(
        "SELECT t.table_name FROM duckdb_tables() t WHERE t.database_name = current_database() "
        "AND t.schema_name = 'frames' " + only_run +
        "AND NOT EXISTS (SELECT 1 FROM outputs o WHERE o.table_name = t.table_name) "
        "AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.status = 'STARTED' "
        "AND starts_with(t.table_name, 'r' || left(r.run_id, 12) || '_'))",
        [f"r{run_id[:12]}_"] if run_id is not None else [],
    ).fetchall()]
    for name in names:
        con.execute(f"DROP TABLE IF EXISTS frames.{_quoted(name)}")
    return len(names)


class FrameSweeper:
    """Drops orphan frame tables the first time a store is opened (see :func:`drop_orphan_frames`)."""

    def __init__(self) -> None:
        self.done = False

    def on_open(self, con: Any) -> None:
        if not self.done:
            self.done = True
            drop_orphan_frames(con)


def delete_run(con: Any, run_id: str) -> int:
    """Delete a run and what only it refers to; return how many frame tables were dropped."""
    orphans = [r[0] for r in con.execute(
        "SELECT DISTINCT table_name FROM outputs o WHERE run_id = ? AND table_name IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM outputs x WHERE x.table_name = o.table_name AND x.run_id <> ?)",
        [run_id, run_id],
    ).fetchall()]
    for table in ("steps", "events", "outputs", "runs"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
    for name in orphans:
        con.execute(f"DROP TABLE IF EXISTS {frame_table(name)}")
    # Frames of this run that a killed process wrote but never referred to.
    return len(orphans) + drop_orphan_frames(con, run_id)
