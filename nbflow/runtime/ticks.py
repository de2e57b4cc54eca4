"""One tick: evaluate a sensor, then have the store apply the result atomically.

The order inside the tick's transaction is partition requests, runs (recorded
QUEUED, run keys deduplicated), cursor, tick record. Only after the commit are the
queued runs executed, so a crash never leaves a tick half-applied: either all of it
is in the store, or none of it is (the failed tick is then recorded by itself).
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from nbflow._state import STATE
from nbflow.definitions.status import Status
from nbflow.sensors.context import SensorEvaluationContext
from nbflow.sensors.evaluate import SensorEvaluationError, evaluate

#: The tag a queued run keeps its RunRequest's asset_selection in (a JSON list of asset names).
ASSET_SELECTION_TAG = "nbflow/asset_selection"


def _checkpoint(stage: str) -> None:
    """Called between the stages of applying a tick; fault-injection tests replace it."""


class TickListener(Protocol):
    def refresh(self, tick: Any = None) -> None: ...


# Views showing a sensor, told after each of its ticks and status changes (weakly held, so
# a view that is no longer displayed anywhere goes away).
_listeners: dict[str, weakref.WeakSet[TickListener]] = STATE.tick_listeners


def listen(name: str, listener: Any) -> None:
    """Call ``listener.refresh(tick_or_None)`` after each tick or status change of sensor ``name``."""
    _listeners.setdefault(name, weakref.WeakSet()).add(listener)


def notify(name: str, tick: Any = None) -> None:
    for listener in list(_listeners.get(name, ())):
        try:
            listener.refresh(tick)
        except Exception:  # a broken view must never break a tick
            pass


class Tick:
    """The outcome of ``sensor.tick()``: what was stored, and the runs it launched.

    Attributes mirror the tick record: ``status`` (SUCCESS / SKIPPED / FAILURE),
    ``cursor_before``, ``cursor_after``, ``partitions_added`` / ``partitions_deleted``
    (``{definition: [keys]}``), ``run_ids``, ``run_keys_skipped``, ``skip_reason``,
    ``error`` (the traceback of a FAILURE), ``logs`` (captured print/logging lines) and
    ``duration``; ``runs`` gives the launched :class:`~nbflow.Run` objects.
    """

    def __init__(self, record: Any, instance: Any, failures: int = 0) -> None:
        self._record, self._instance = record, instance
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)

    @property
    def run_ids(self) -> list[str]:
        return [run.run_id for run in self._record.runs]

    @property
    def duration(self) -> float:
        return cast(float, self._record.end - self._record.start)

    @property
    def runs(self) -> list[Any]:
        return [self._instance.get_run(run_id) for run_id in self.run_ids]

    def __repr__(self) -> str:
        return f"<Tick {self.status}: {summary(self._record)}>"


def summary(record: Any) -> str:
    """One line saying what a tick did."""
    parts = []
    for name, keys in record.partitions_added.items():
        if keys:
            parts.append(f"{len(keys)} keys added to {name}")
    for name, keys in record.partitions_deleted.items():
        if keys:
            parts.append(f"{len(keys)} keys deleted from {name}")
    if record.runs:
        parts.append(f"{len(record.runs)} runs launched")
    if record.run_keys_skipped:
        parts.append(f"{len(record.run_keys_skipped)} run keys skipped")
    if record.cursor_after != record.cursor_before:
        parts.append(f"cursor {record.cursor_before!r} -> {record.cursor_after!r}")
    if record.status == Status.FAILURE:
        parts.append((record.error or "").strip().splitlines()[-1] if record.error else "failed")
    elif not parts and record.skip_reason:
        parts.append(record.skip_reason)
    return ", ".join(parts) or "nothing to do"


def context_for(sensor: Any, instance: Any, state: Any, cursor: Any = ...) -> SensorEvaluationContext:
    return SensorEvaluationContext(
        cursor=state.cursor if cursor is ... else cursor,
        instance=instance,
        sensor_name=sensor.name,
        last_run_key=state.last_run_key,
        last_tick_completion_time=state.last_tick_time,
        last_sensor_start_time=state.started_at,
    )


def plan_runs(sensor: Any, evaluation: Any) -> list[Any]:
    """Turn run requests into queued runs, validating config and partitioning first."""
    from nbflow.definitions.config import resolve_run_config
    from nbflow.definitions.selection import asset_names
    from nbflow.partitions.dynamic import PartitionsError
    from nbflow.partitions.keys import validate_key
    from nbflow.store.sensors import QueuedRun

    planned = []
    for request in evaluation.run_requests:
        selection = None if request.asset_selection is None else asset_names(request.asset_selection)
        job = sensor.job_for(request.job_name, selection)
        resolve_run_config(job, {**job.default_run_config, **request.run_config})
        pdef = job.partitions_def
        if pdef is None and request.partition_key is not None:
            raise PartitionsError(
                f"RunRequest(partition_key={request.partition_key!r}) for job '{job.name}', which is not "
                "partitioned: drop partition_key, or give the job partitions_def=..."
            )
        if pdef is not None and request.partition_key is None:
            raise PartitionsError(
                f"Job '{job.name}' is partitioned by '{pdef.name}': its RunRequests need partition_key=..."
            )
        if request.partition_key is not None:
            validate_key(request.partition_key, "partition key")
        tags = {**request.tags, "nbflow/sensor_name": sensor.name}
        if request.run_key is not None:
            tags["nbflow/run_key"] = request.run_key
        if request.asset_selection is not None:  # kept with the queued run, which runs only these
            tags[ASSET_SELECTION_TAG] = json.dumps(selection)
        planned.append(QueuedRun(str(uuid.uuid4()), job.name, request.run_config, tags,
                                 request.partition_key, pdef.name if pdef is not None else None,
                                 request.run_key))
    return planned


def run_tick(sensor: Any, instance: Any, context: Any = None, execute: bool = True,
             origin: str = "manual", should_stop: Any = None) -> Tick:
    """Evaluate ``sensor`` once and apply its result to ``instance`` (see the module doc)."""
    from nbflow.store.sensors import TickRecord

    store = instance.store.sensors
    state = store.state(sensor.name)
    if context is None:
        context = context_for(sensor, instance, state)
    else:
        if context.sensor_name is None:
            context.sensor_name = sensor.name
        if context._instance is None:  # a context built for a test: it sees the tick's instance
            context._instance = instance
    record = TickRecord(str(uuid.uuid4()), sensor.name, time.time(), origin=origin,
                        cursor_before=context.cursor)
    evaluation = None
    try:
        evaluation = evaluate(sensor, context)
        record.logs, record.skip_reason = evaluation.logs, evaluation.skip_message
        planned = plan_runs(sensor, evaluation)
        for run in planned:
            run.tags["nbflow/tick"] = record.tick_id
        store.apply_tick(record, evaluation.dynamic_partitions_requests, planned,
                         (evaluation.cursor_changed, evaluation.cursor), _checkpoint)
    except Exception as exc:
        record.error = _describe(exc)
        record.logs = evaluation.logs if evaluation is not None else getattr(exc, "logs", [])
        failures = store.record_failure(record)
        tick = Tick(record, instance, failures)
        notify(sensor.name, tick)
        return tick
    tick = Tick(record, instance)
    notify(sensor.name, tick)
    if execute:
        execute_queued(sensor, instance, [run.run_id for run in record.runs], should_stop)
        if record.runs:
            notify(sensor.name, tick)  # the runs' statuses changed
    return tick


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SensorEvaluationError):
        return str(exc)
    return "".join(traceback.format_exception(exc)).rstrip()


def execute_queued(sensor: Any, instance: Any, run_ids: list[str], should_stop: Any = None) -> None:
    """Execute queued runs one after the other (stopping early if ``should_stop()``)."""
    from nbflow.errors import NbflowError
    from nbflow.runtime.instance import launch

    for run_id in run_ids:
        if should_stop is not None and should_stop():
            return  # left QUEUED: the sensor's next start executes them
        row = instance.store.run_row(run_id)
        try:
            selection = row["tags"].get(ASSET_SELECTION_TAG)
            job = sensor.job_for(row["job_name"], None if selection is None else json.loads(selection))
        except StopIteration:
            instance.store.fail_queued(run_id, f"The sensor no longer targets job '{row['job_name']}'.")
            continue
        try:
            launch(job, row["run_config"], instance, row["tags"], partition_key=row["partition_key"],
                   queued_run_id=run_id)
        except NbflowError as exc:  # e.g. its partition was deleted since the tick
            instance.store.fail_queued(run_id, f"{type(exc).__name__}: {exc}")


@dataclass
class TickPreview:
    """What a tick would do, computed without applying anything (``sensor.preview()``)."""

    sensor: str
    cursor_before: str | None
    cursor_after: str | None = None
    skip_reason: str | None = None
    new_keys: dict[str, list[str]] = field(default_factory=dict)
    existing_keys: dict[str, list[str]] = field(default_factory=dict)
    deleted_keys: dict[str, list[str]] = field(default_factory=dict)
    missing_keys: dict[str, list[str]] = field(default_factory=dict)
    run_requests: list[Any] = field(default_factory=list)
    deduplicated: list[str] = field(default_factory=list)
    error: str | None = None
    logs: list[tuple[float, str, str, str]] = field(default_factory=list)

    @property
    def would_fail(self) -> bool:
        return self.error is not None

    def __repr__(self) -> str:
        if self.error:
            return f"<TickPreview {self.sensor}: would FAIL\n{self.error}>"
        parts = [f"{len(v)} new keys for {k}" for k, v in self.new_keys.items() if v]
        parts += [f"{len(v)} keys already in {k}" for k, v in self.existing_keys.items() if v]
        parts += [f"{len(v)} keys to delete from {k}" for k, v in self.deleted_keys.items() if v]
        parts.append(f"{len(self.run_requests)} runs to launch")
        if self.deduplicated:
            parts.append(f"{len(self.deduplicated)} deduplicated by run key")
        if self.cursor_after != self.cursor_before:
            parts.append(f"cursor {self.cursor_before!r} -> {self.cursor_after!r}")
        elif self.skip_reason and not self.run_requests:
            parts.append(f"skip: {self.skip_reason}")
        return f"<TickPreview {self.sensor}: " + ", ".join(parts) + ">"


def preview(sensor: Any, instance: Any, cursor: Any = ...) -> TickPreview:
    """Evaluate from the stored cursor (or ``cursor``) and say what applying would do."""
    state = instance.store.sensors.state(sensor.name)
    context = context_for(sensor, instance, state, cursor)
    result = TickPreview(sensor.name, context.cursor)
    try:
        evaluation = evaluate(sensor, context)
        result.logs, result.skip_reason = evaluation.logs, evaluation.skip_message
        result.cursor_after = evaluation.cursor if evaluation.cursor_changed else context.cursor
        planned = plan_runs(sensor, evaluation)
        added, deleted = _preview_partitions(instance, evaluation.dynamic_partitions_requests, result)
        _preview_runs(instance, sensor, planned, added, deleted, result)
    except Exception as exc:
        result.error = _describe(exc)
    return result


def _preview_partitions(instance: Any, requests: list[Any], result: TickPreview,
                        ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    from nbflow.partitions.dynamic import AddDynamicPartitionsRequest

    added: dict[str, set[str]] = {}
    deleted: dict[str, set[str]] = {}
    for request in requests:
        name = request.partitions_def_name
        for key in dict.fromkeys(request.partition_keys):
            present = (key in added.get(name, ()) or
                       (instance.has_dynamic_partition(name, key) and key not in deleted.get(name, ())))
            if isinstance(request, AddDynamicPartitionsRequest):
                target = result.existing_keys if present else result.new_keys
                if not present:
                    added.setdefault(name, set()).add(key)
                    deleted.get(name, set()).discard(key)
            else:
                target = result.deleted_keys if present else result.missing_keys
                if present:
                    deleted.setdefault(name, set()).add(key)
                    added.get(name, set()).discard(key)
            target.setdefault(name, []).append(key)
    return added, deleted


def _preview_runs(instance: Any, sensor: Any, planned: list[Any], added: dict[str, set[str]],
                  deleted: dict[str, set[str]],
                  result: TickPreview) -> None:
    from nbflow.errors import UnknownPartitionError

    known = set(instance.store.sensors.run_keys(sensor.name).run_key)
    for run in planned:
        if run.partitions_def is not None:
            name, key = run.partitions_def, run.partition_key
            exists = key in added.get(name, ()) or (
                instance.has_dynamic_partition(name, key) and key not in deleted.get(name, ()))
            if not exists:
                raise UnknownPartitionError(
                    f"RunRequest for job '{run.job_name}' names partition {key!r}, which is not in "
                    f"DynamicPartitionsDefinition '{name}' even after this tick's partition requests."
                )
        if run.run_key is not None and run.run_key in known:
            result.deduplicated.append(run.run_key)
            continue
        if run.run_key is not None:
            known.add(run.run_key)
        result.run_requests.append(run)
