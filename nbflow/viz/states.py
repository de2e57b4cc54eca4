"""Per-node state of a run: step counts by status, duration, for drawing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbflow.definitions.status import node_status


@dataclass
class NodeState:
    """What a node's steps did: ``counts`` by status, wall ``duration`` in seconds."""

    counts: dict[str, int] = field(default_factory=dict)
    duration: float | None = None
    reused: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def status(self) -> str:
        return node_status(self.counts)


def states_from_steps(steps: Any) -> dict[str, NodeState]:
    """``{node: NodeState}`` from a run's steps DataFrame (``Run.steps()``), vectorized."""
    if steps is None or len(steps) == 0:
        return {}
    counts = steps.groupby(["op", "status"]).size()
    spans = steps.groupby("op").agg(start=("start_time", "min"), end=("end_time", "max"))
    reused = steps[steps["reused_from"].notna()].groupby("op").size() if "reused_from" in steps else {}
    states: dict[str, NodeState] = {}
    for (op, status), n in counts.items():
        states.setdefault(op, NodeState()).counts[status] = int(n)
    for op, row in spans.iterrows():
        if row.start is not None and row.end is not None and row.end == row.end:  # NaT != NaT
            states[op].duration = max(0.0, (row.end - row.start).total_seconds())
        states[op].reused = int(reused.get(op, 0)) if len(reused) else 0
    return states


def step_keys(steps: Any, node: str, status: str | None = None, pattern: str | None = None,
              limit: int = 30) -> tuple[list[tuple[str, str]], int]:
    """The first ``limit`` keys of a mapped node (optionally of one status, or matching a
    regular expression), with how many matched in all."""
    mine = steps[(steps["op"] == node) & steps["mapping_key"].notna()]
    if status:
        mine = mine[mine["status"] == status]
    if pattern:
        mine = mine[mine["mapping_key"].str.contains(pattern, regex=True)]
    shown = mine.head(limit)
    return list(zip(shown["mapping_key"], shown["status"], strict=True)), len(mine)
