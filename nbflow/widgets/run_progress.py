"""Following a run as it executes: counts per node and status, pushed to a view, throttled.

The executor calls ``on_step`` / ``on_item`` / ``on_reused`` once per step, so each is a
few dictionary updates. The view is told at most every :data:`PUSH_SECONDS` (progress)
and :data:`DRAW_SECONDS` (graph), plus once at the end.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from nbflow.definitions.status import Status
from nbflow.definitions.topology import JobTopology

PUSH_SECONDS = 0.25
DRAW_SECONDS = 1.0


class RunProgress:
    """Counts of a run in flight, from the executor's records."""

    def __init__(self, topology: JobTopology) -> None:
        self.counts: dict[str, dict[str, int]] = defaultdict(dict)
        self.reused: dict[str, int] = defaultdict(int)
        self.yielding: set[str] = set()  # fan-out ops that yielded items and have not finished
        # How many mapped steps each new key of a fan-out adds: the mapped nodes fed by it.
        self.per_item = topology.mapped_per_fanout
        self.total = len(topology.order) - len(topology.scopes)
        self.done = self.failed = self.skipped = self.canceled = 0
        # Per node, the first start and last end of the steps this run executed itself
        # (reused steps carry their parent's times, which are not this run's).
        self.spans: dict[str, list[float]] = {}
        self.started = time.monotonic()

    def step(self, node: str, status: str, start: float | None = None, end: float | None = None) -> None:
        self.yielding.discard(node)
        counts = self.counts[node]
        counts[status] = counts.get(status, 0) + 1
        self.done += 1
        if start is not None and end is not None:
            span = self.spans.get(node)
            if span is None:
                self.spans[node] = [start, end]
            else:
                span[0], span[1] = min(span[0], start), max(span[1], end)
        if status == Status.CANCELED:
            self.canceled += 1
        elif status == Status.FAILURE:
            self.failed += 1
        elif status == Status.SKIPPED:
            self.skipped += 1

    def item(self, node: str) -> None:
        self.total += self.per_item.get(node, 0)
        if node not in self.counts:
            self.yielding.add(node)

    def as_dict(self, live: bool) -> dict[str, Any]:
        return {"done": self.done - self.canceled, "total": max(self.total, self.done),
                "canceled": self.canceled, "failed": self.failed,
                "skipped": self.skipped, "reused": sum(self.reused.values()),
                "elapsed": round(time.monotonic() - self.started, 1), "live": live}


    def final_states(self) -> dict[str, Any]:
        """``{node: NodeState}`` of the run as it ended: what the store holds for a run that was
        followed from its start and copied nothing from a parent."""
        from nbflow.viz.states import NodeState

        states = {}
        for node, counts in self.counts.items():
            span = self.spans.get(node)
            duration = max(0.0, span[1] - span[0]) if span is not None else None
            states[node] = NodeState(dict(counts), duration, self.reused.get(node, 0))
        return states

    def final_progress(self, elapsed: float) -> dict[str, Any]:
        """The progress of the run as it ended: every recorded step counts, none is to come."""
        return {**self.as_dict(live=False), "total": self.done, "elapsed": elapsed}


class Throttle:
    """Says when enough time has passed to push again."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.next = 0.0

    def due(self, now: float) -> bool:
        if now < self.next:
            return False
        self.next = now + self.seconds
        return True
