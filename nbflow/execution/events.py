"""Where the executor sends what happens: an event sink.

The store implements the sink with batched writes; tests can use :class:`MemorySink`.
Records are plain tuples, built once per step, so the hot path allocates little:

* step:   ``(step_key, node, mapping_key, key_index, status, attempts, start, end, error, code_version)``
* output: ``(step_key, node, mapping_key, key_index, output_name, value)``
* event:  ``(ts, step_key, kind, level, message)``
* reused: ``(node, mapping_key)`` -- a step of a rerun kept from the parent run
"""

from __future__ import annotations

from typing import Any, Protocol


class EventSink(Protocol):
    def run_started(self, info: dict[str, Any]) -> None: ...
    def step(self, record: tuple) -> None: ...
    def output(self, record: tuple) -> None: ...
    def event(self, record: tuple) -> None: ...
    def reused(self, step: tuple[str, str]) -> None: ...
    def run_finished(self, status: str, end: float, error: str | None) -> None: ...
    def flush(self) -> None: ...


class MemorySink:
    """Keeps every record in lists; for tests and for runs that must not persist."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.steps: list[tuple] = []
        self.outputs: list[tuple] = []
        self.events: list[tuple] = []
        self.reused_steps: list[tuple[str, str]] = []
        self.status: str | None = None
        self.error: str | None = None

    def run_started(self, info: dict[str, Any]) -> None:
        self.info = info

    def step(self, record: tuple) -> None:
        self.steps.append(record)

    def output(self, record: tuple) -> None:
        self.outputs.append(record)

    def event(self, record: tuple) -> None:
        self.events.append(record)

    def reused(self, step: tuple[str, str]) -> None:
        self.reused_steps.append(step)

    def run_finished(self, status: str, end: float, error: str | None) -> None:
        self.status, self.error = status, error

    def flush(self) -> None:
        pass

    def statuses(self) -> dict[str, str]:
        """``{step_key: status}`` of every recorded step."""
        return {r[0]: r[4] for r in self.steps}
