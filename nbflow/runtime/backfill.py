"""Backfills: one run of a partitioned job per partition key, one after the other."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbflow.definitions.status import Status
from nbflow.errors import UnknownPartitionError, closest_first
from nbflow.partitions.dynamic import PartitionsError

if TYPE_CHECKING:
    from nbflow.runtime.instance import Instance

SELECTIONS = ("all", "missing", "failed", "failed_or_missing")


@dataclass
class BackfillResult:
    """The runs a backfill launched, by partition key."""

    backfill_id: str
    runs: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> list[str]:
        return [k for k, r in self.runs.items() if r.status == Status.SUCCESS]

    @property
    def failed(self) -> list[str]:
        """Keys whose run did not succeed: ``job.backfill(result.failed)`` tries them again."""
        return [k for k, r in self.runs.items() if r.status != Status.SUCCESS]

    def summary(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [(k, r.status, r.run_id) for k, r in self.runs.items()], columns=["partition_key", "status", "run_id"]
        )

    def __repr__(self) -> str:
        return (f"<Backfill {self.backfill_id}: {len(self.runs)} partitions, {len(self.succeeded)} succeeded, "
                f"{len(self.failed)} failed>")


def _selected(job: Any, inst: Instance, select: Any) -> list[str]:
    pdef = job.partitions_def
    if isinstance(select, Mapping):
        unknown = set(select) - {"regex", "like"}
        if unknown:
            raise PartitionsError(f"select= takes 'regex' and/or 'like', got {sorted(unknown)}.")
        return inst.select_dynamic_partitions(pdef.name, regex=select.get("regex"), like=select.get("like"))
    if select not in SELECTIONS:
        raise PartitionsError(
            f"select= must be one of {list(SELECTIONS)} or a dict with 'regex'/'like', got {select!r}."
        )
    if select == "all":
        return inst.get_dynamic_partitions(pdef.name)
    status = inst.partition_status(pdef, job)
    wanted = {"missing": {"missing"}, "failed": {"failed"}, "failed_or_missing": {"failed", "missing"}}[select]
    return list(dict.fromkeys(status[status.status.isin(wanted)].key))


def backfill(job: Any, partition_keys: list[str] | None = None, select: Any = None, instance: Any = None,
             run_config: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
             progress: bool = True) -> BackfillResult:
    """Run ``job`` once per partition key: the keys given, or those ``select`` picks
    (``"all"`` by default, ``"missing"``, ``"failed"``, ``"failed_or_missing"``, or
    ``{"regex": ...}`` / ``{"like": ...}``)."""
    from nbflow.partitions.dynamic import _key_list
    from nbflow.runtime.instance import instance as default_instance
    from nbflow.runtime.instance import launch

    pdef = job.partitions_def
    if pdef is None:
        raise PartitionsError(f"Job '{job.name}' is not partitioned; a backfill needs a job with partitions_def=.")
    if partition_keys is not None and select is not None:
        raise PartitionsError("Pass partition_keys= or select=, not both.")
    inst = instance if instance is not None else default_instance()
    if partition_keys is not None:
        keys = list(dict.fromkeys(_key_list(partition_keys, "backfill")))
        known = set(inst.get_dynamic_partitions(pdef.name))
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise UnknownPartitionError(
                f"Could not find partition(s) {unknown[:5]} in DynamicPartitionsDefinition '{pdef.name}'; "
                f"nothing was run. {closest_first(inst.closest_dynamic_partitions(pdef.name, unknown[0]))}"
            )
    else:
        keys = _selected(job, inst, select or "all")
    result = BackfillResult(uuid.uuid4().hex[:8])
    run_tags = {**dict(tags or {}), "nbflow/backfill": result.backfill_id}
    for number, key in enumerate(keys, 1):
        result.runs[key] = launch(job, run_config, inst, run_tags, partition_key=key)
        if progress:
            failed = len(result.failed)
            sys.stdout.write(f"\rbackfill {result.backfill_id} of {job.name}: {number}/{len(keys)} partitions, "
                             f"{failed} failed")
            sys.stdout.flush()
    if progress:
        sys.stdout.write("\n" if keys else f"backfill {result.backfill_id} of {job.name}: no partitions selected\n")
    return result
