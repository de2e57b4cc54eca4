"""Dagster's event view of a stored run: ``result.all_events`` and ``events_for_node``.

nbflow stores steps and outputs as rows, not as an event log; this module reads them back
as events with Dagster's type names (``STEP_START``, ``STEP_OUTPUT``, ``STEP_SUCCESS``,
``STEP_FAILURE``, ``STEP_SKIPPED``, ``RUN_START``, ``RUN_SUCCESS`` / ``RUN_FAILURE``), in
the order they happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nbflow.definitions.status import Status

_END_EVENT = {Status.SUCCESS: "STEP_SUCCESS", Status.FAILURE: "STEP_FAILURE", Status.SKIPPED: "STEP_SKIPPED",
              Status.CANCELED: "STEP_FAILURE"}


@dataclass(frozen=True)
class DagsterEvent:
    """One event of a run, as Dagster names it."""

    event_type_value: str
    step_key: str | None
    node_name: str | None
    timestamp: float
    message: str = ""
    output_name: str | None = None
    mapping_key: str | None = None

    @property
    def event_type(self) -> str:
        return self.event_type_value

    @property
    def is_successful_output(self) -> bool:
        return self.event_type_value == "STEP_OUTPUT"

    @property
    def is_step_success(self) -> bool:
        return self.event_type_value == "STEP_SUCCESS"

    @property
    def is_step_failure(self) -> bool:
        return self.event_type_value == "STEP_FAILURE"

    @property
    def is_step_skipped(self) -> bool:
        return self.event_type_value == "STEP_SKIPPED"


def _present(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _seconds(value: Any) -> float:
    value = _present(value)
    if value is None:
        return 0.0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def run_events(run: Any) -> list[DagsterEvent]:
    """Every event of ``run``, oldest first."""
    steps = run.steps()
    from nbflow.store.queries import output_names_by_step

    outputs = output_names_by_step(run.instance.store, run.run_id)
    by_step: dict[str, list[tuple[str, Any]]] = {}
    for row in outputs.itertuples():
        by_step.setdefault(row.step_key, []).append((row.output_name, _present(row.mapping_key)))
    events: list[DagsterEvent] = []
    first = last = 0.0
    for row in steps.itertuples():
        start, end = _seconds(row.start_time), _seconds(row.end_time)
        first = min(first or start, start)
        last = max(last, end)
        node, key = row.op, _present(row.mapping_key)
        if row.status != Status.SKIPPED:
            events.append(DagsterEvent("STEP_START", row.step_key, node, start, mapping_key=key))
        for output_name, output_key in by_step.get(row.step_key, ()):
            events.append(DagsterEvent("STEP_OUTPUT", row.step_key, node, end,
                                       output_name=output_name, mapping_key=output_key or key))
        end_type = _END_EVENT.get(row.status)
        if end_type is not None:
            events.append(DagsterEvent(end_type, row.step_key, node, end,
                                       str(_present(row.error) or ""), mapping_key=key))
    events.sort(key=lambda e: e.timestamp)
    status = "RUN_SUCCESS" if run.status == Status.SUCCESS else "RUN_FAILURE"
    return [DagsterEvent("RUN_START", None, None, first), *events, DagsterEvent(status, None, None, last)]


def node_events(run: Any, node_name: str) -> list[DagsterEvent]:
    """The events of one node's steps (every mapped step of a mapped node; every op of a graph)."""
    inside = node_name + "."
    return [e for e in run_events(run)
            if e.node_name is not None and (e.node_name == node_name or e.node_name.startswith(inside))]
