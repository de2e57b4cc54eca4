"""Where the executor sends what happens: an event sink, and the records it receives.

The store implements the sink with batched writes; tests can use :class:`MemorySink`.
Records are named tuples (:class:`StepRecord`, :class:`OutputRecord`, :class:`EventRecord`,
:class:`ReusedStep`): read them by field name; they are still tuples, so a batch of them
splits into columns with one ``zip``. On the hot path the executor builds the per-step
kinds with ``tuple.__new__(StepRecord, (...))``, which skips the keyword-handling
constructor of a named tuple.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from nbflow.definitions.topology import JobTopology


class StepRecord(NamedTuple):
    """One attempt of one step, as it ended."""

    step_key: str
    node: str
    mapping_key: str | None
    key_index: int | None
    status: str
    attempts: int
    start: float
    end: float
    error: str | None
    code_version: str | None


class OutputRecord(NamedTuple):
    """One output value of a step (or one item a fan-out yielded: ``step_key == node``)."""

    step_key: str
    node: str
    mapping_key: str | None
    key_index: int | None
    output_name: str
    value: Any


class EventRecord(NamedTuple):
    """A captured log line or an engine event."""

    ts: float
    step_key: str | None
    kind: str
    level: str
    message: str


class ReusedStep(NamedTuple):
    """A step of a rerun kept from an earlier run of its lineage."""

    node: str
    mapping_key: str
    run_id: str


@dataclass(frozen=True)
class RunStarted:
    """What an observer (a live view) is told as a run starts, so that it need not read the
    run back from the store: the run, its job's shape (``{node: ShapeNode}``), its parent."""

    run_id: str
    job_name: str
    start: float  # seconds since the epoch, as stored
    parent_run_id: str | None
    shape: Mapping[str, Any]
    topology: JobTopology
    #: A rerun copies the steps it keeps from its parent in the store, unseen by observers.
    copies_from_parent: bool = False


class EventSink(Protocol):
    """Everything the executor tells about a run, in the order it happens.

    A sink may also have a ``lock`` (held by the executor while it records what one report
    produced) and an ``idle()`` method (called while the run waits for its steps); the
    executor looks them up with ``getattr``, so a plain sink need not define them.
    """

    def run_started(self, info: dict[str, Any]) -> None: ...
    def step(self, record: StepRecord) -> None: ...
    def output(self, record: OutputRecord) -> None: ...
    def event(self, record: EventRecord) -> None: ...
    def reused(self, step: ReusedStep) -> None: ...
    def run_finished(self, status: str, end: float, error: str | None) -> None: ...
    def flush(self) -> None: ...


class StepObserver(Protocol):
    """What :class:`ObservedSink` tells a live view; each call must be cheap."""

    def on_step(self, record: StepRecord) -> None: ...
    def on_item(self, node: str, output: str, key: str) -> None: ...
    def on_reused(self, step: ReusedStep) -> None: ...


class MemorySink:
    """Keeps every record in lists; for tests and for runs that must not persist."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.info: dict[str, Any] = {}
        self.steps: list[StepRecord] = []
        self.outputs: list[OutputRecord] = []
        self.events: list[EventRecord] = []
        self.reused_steps: list[ReusedStep] = []
        self.status: str | None = None
        self.error: str | None = None

    def run_started(self, info: dict[str, Any]) -> None:
        self.info = info

    def step(self, record: StepRecord) -> None:
        self.steps.append(record)

    def output(self, record: OutputRecord) -> None:
        self.outputs.append(record)

    def event(self, record: EventRecord) -> None:
        self.events.append(record)

    def reused(self, step: ReusedStep) -> None:
        self.reused_steps.append(step)

    def run_finished(self, status: str, end: float, error: str | None) -> None:
        self.status, self.error = status, error

    def flush(self) -> None:
        pass

    def statuses(self) -> dict[str, str]:
        """``{step_key: status}`` of every recorded step."""
        return {r.step_key: r.status for r in self.steps}


class ObservedSink:
    """Forwards everything to a sink and tells an observer about steps and fan-out items.

    Live views observe a run this way. The observer's ``on_step(record)``,
    ``on_item(node, output, key)`` and ``on_reused(step)`` must be cheap: they run once per step.
    """

    def __init__(self, sink: EventSink, observer: StepObserver) -> None:
        self.sink, self.observer = sink, observer
        self.lock = getattr(sink, "lock", None)

    def run_started(self, info: dict[str, Any]) -> None:
        self.sink.run_started(info)

    def step(self, record: StepRecord) -> None:
        self.sink.step(record)
        try:
            self.observer.on_step(record)
        except Exception:  # a broken view must never break the run
            self._detach()

    def output(self, record: OutputRecord) -> None:
        self.sink.output(record)
        if record.mapping_key is not None and record.step_key == record.node:  # an item a fan-out yielded
            try:
                self.observer.on_item(record.node, record.output_name, record.mapping_key)
            except Exception:
                self._detach()

    def _detach(self) -> None:
        import logging

        logging.getLogger("nbflow").exception("A live view failed; it stops following this run")
        detached = getattr(self.observer, "on_detached", None)  # optional: it then reads the store at the end
        self.observer = _Deaf()
        if detached is not None:
            try:
                detached()
            except Exception:
                pass

    def event(self, record: EventRecord) -> None:
        self.sink.event(record)

    def reused(self, step: ReusedStep) -> None:
        self.sink.reused(step)
        try:
            self.observer.on_reused(step)
        except Exception:
            self._detach()

    def run_finished(self, status: str, end: float, error: str | None) -> None:
        self.sink.run_finished(status, end, error)
        recorded = getattr(self.observer, "on_run_recorded", None)  # optional: the view's final picture
        if recorded is not None:
            try:
                recorded(status, end, error)
            except Exception:
                self._detach()

    def flush(self) -> None:
        self.sink.flush()

    def idle(self) -> None:
        idle = getattr(self.sink, "idle", None)
        if idle is not None:
            idle()


class _Deaf:
    def on_step(self, record: StepRecord) -> None:
        pass

    def on_item(self, node: str, output: str, key: str) -> None:
        pass

    def on_reused(self, step: ReusedStep) -> None:
        pass
