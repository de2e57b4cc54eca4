"""The data a PartitionsView shows: one page of keys with their status, and its targets.

Only the visible page is computed: keys come from the store's in-memory index when
unfiltered, from one SQL query when filtered; status only for the page's keys.
"""

from __future__ import annotations

from typing import Any, cast

STATUS_ORDER = ("materialized", "failed", "running", "missing")


def columns_for(instance: Any, pdef: Any, target: Any) -> list[tuple[str, str]]:
    """Status columns: ``("asset", name)`` or ``("job", name)`` pairs."""
    if target is None:
        from nbflow.store.queries import jobs_of_partitions

        return [("job", name) for name in jobs_of_partitions(instance.store, pdef.name)]
    if getattr(target, "is_asset_job", False):
        return [("asset", a.name) for a in target.assets]
    if hasattr(target, "nodes"):
        return [("job", target.name)]
    targets = target if isinstance(target, list | tuple) else [target]
    return [("asset", getattr(t, "name", str(t))) for t in targets]


def page_keys(instance: Any, name: str, text: str, regex: bool, offset: int, limit: int) -> tuple[list[str], int]:
    """One page of keys in insertion order, and how many keys match the filter."""
    return cast("tuple[list[str], int]", instance.store.partitions.page(name, text or None, regex, offset, limit))


def key_position(instance: Any, name: str, key: str, text: str, regex: bool) -> int | None:
    """Where ``key`` is among the keys (those matching the filter), 0-based; None if not there."""
    from nbflow.store.queries import partition_key_position

    return partition_key_position(instance.store, name, key, text, regex)


def page_status(instance: Any, pdef: Any, columns: list[tuple[str, str]], keys: list[str]) -> dict[str, dict[str, str]]:
    """``{key: {column: status}}`` for the page's keys only."""
    from nbflow.store import assets

    status: dict[str, dict[str, str]] = {k: {} for k in keys}
    if not keys or not columns:
        return status
    asset_names = [n for kind, n in columns if kind == "asset"]
    if asset_names:
        frame = assets.asset_status(instance.store, pdef.name, asset_names, keys)
        for row in frame.itertuples():
            status[row.key][row.asset] = row.status
    for kind, job in columns:
        if kind == "job":
            for row in assets.job_status(instance.store, pdef.name, job, keys).itertuples():
                status[row.key][job] = row.status
    return status


def check_lines(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Keys typed one per line, validated with the shared key validator; blank lines are ignored."""
    from nbflow.errors import NbflowError
    from nbflow.partitions.keys import validate_key

    keys, errors = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        key = line.rstrip("\r")
        if not key.strip():
            continue
        try:
            keys.append(validate_key(key, "partition key"))
        except NbflowError as exc:
            errors.append({"line": number, "text": key, "error": str(exc)})
    return keys, errors


def materialize_target(pdef: Any, target: Any) -> Any:
    """The job that "materialize selected" runs: the target if it is a job, or the only job
    of this kernel partitioned by ``pdef``; None when there is no single one."""
    if target is not None and hasattr(target, "nodes"):
        return target
    if target is not None:
        return None
    from nbflow.definitions.graph import JOBS

    jobs = [j for j in JOBS.values() if j.partitions_def is not None and j.partitions_def.name == pdef.name]
    return jobs[0] if len(jobs) == 1 else None
