"""Rerunning a stored run: the chosen steps run again, everything else is reused.

The code that runs is what the kernel has now: the job is looked up by name (so a
job whose cell was re-run is used) and every op is replaced by its newest
definition (so a fix typed into an op's cell is picked up).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nbflow.errors import NbflowError

if TYPE_CHECKING:
    from nbflow.execution.resume import KeptFrom
    from nbflow.runtime.run import Run


class RerunError(NbflowError):
    """A run cannot be rerun as asked (see the message)."""


def current_job(job_name: str, run_id: str) -> Any:
    from nbflow.definitions.graph import JOBS

    job = JOBS.get(job_name)
    if job is None:
        raise RerunError(
            f"Job '{job_name}' of run {run_id[:8]} is not defined in this kernel (after a restart, "
            f"definitions are gone). Run the cell that defines job '{job_name}', then rerun."
        )
    return job.with_latest_ops()


_LINEAGE_DEPTH = 10  # how far back a rerun of what failed looks for finished steps to keep


def _lineage(store: Any, record: dict[str, Any], view: Any, loader: Any, nodes: dict[str, Any]) -> list[KeptFrom]:
    """The run and the runs it descends from (nearest first), each with what it finished."""
    from nbflow.errors import RunNotFoundError
    from nbflow.execution.resume import KeptFrom

    lineage = [KeptFrom(view, loader)]
    seen = {record["run_id"]}
    parent_id = record.get("parent_run_id")
    while parent_id and parent_id not in seen and len(lineage) < _LINEAGE_DEPTH:
        try:
            parent = store.run_row(parent_id)
        except RunNotFoundError:  # deleted: what it finished is gone with it
            break
        seen.add(parent_id)
        lineage.append(KeptFrom(store.parent_view(parent_id, nodes), store.stored_outputs(parent_id)))
        parent_id = parent.get("parent_run_id")
    return lineage


def rerun(
    run: Any,
    op: str | None = None,
    keys: Iterable[str] | None = None,
    downstream: bool = True,
    failed: bool = False,
    raise_on_error: bool = False,
    observer: Any = None,
    executor: Any = None,
    background: bool = False,
    wait: bool = True,
) -> Run:
    """Start a child run of ``run``; see :meth:`nbflow.Run.rerun` (``observer``: a live view)."""
    from nbflow.execution.resume import Resume, select_failed, select_op
    from nbflow.runtime.instance import launch

    if failed and (op is not None or keys is not None):
        raise RerunError("Pass either failed=True or an op (with keys=...), not both.")
    if keys is not None and op is None:
        raise RerunError("keys= needs the op whose keys to rerun: run.rerun('op', keys=[...]).")
    store = run.instance.store
    record = run._record()  # a finished run's row is read once
    job = current_job(record["job_name"], run.run_id)
    resume = None
    if failed or op is not None:
        view = store.parent_view(record["run_id"], job.nodes)
        if failed:
            executed = select_failed(job.nodes, view)
            if not executed:
                raise RerunError(
                    f"Run {record['run_id'][:8]} has no failed, skipped or unfinished steps to rerun. "
                    f"run.rerun() reruns the whole job."
                )
        else:
            executed = select_op(job.nodes, view, op, keys, downstream)  # type: ignore[arg-type]
        reused_sources = {s: k for s, k in view.keys.items() if s.node not in executed}
        loader = store.stored_outputs(record["run_id"])
        memo = _lineage(store, record, view, loader, job.nodes) if failed else None
        resume = Resume(record["run_id"], executed, reused_sources, loader, memo=memo, parent=view)
    return launch(
        job, record["run_config"], run.instance, record["tags"], raise_on_error,
        record["partition_key"], parent=record, resume=resume, observer=observer,
        executor=executor, background=background, wait=wait,
    )
