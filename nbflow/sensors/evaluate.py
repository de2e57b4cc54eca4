"""Evaluating a sensor: call its function, capture its output, resolve what it returned.

Resolution follows Dagster: a sensor may return or yield RunRequests, a SkipReason,
None, or a single SensorResult; misuse gets Dagster's messages. Nothing is applied
here -- see :mod:`nbflow.runtime.ticks`.
"""

from __future__ import annotations

import inspect
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from nbflow.errors import NbflowError
from nbflow.sensors.results import (
    RunRequest,
    SensorDefinitionError,
    SensorInvariantError,
    SensorResult,
    SkipReason,
)

EMPTY_RESULT = "Sensor function returned an empty result"


class SensorEvaluationError(NbflowError):
    """The sensor function raised; the tick is recorded as FAILURE with the traceback."""


@dataclass
class SensorEvaluation:
    """What one evaluation asked for (Dagster's ``SensorExecutionData``)."""

    run_requests: list[RunRequest] = field(default_factory=list)
    skip_message: str | None = None
    cursor: str | None = None
    cursor_changed: bool = False
    dynamic_partitions_requests: list[Any] = field(default_factory=list)
    logs: list[tuple[float, str, str, str]] = field(default_factory=list)
    duration: float = 0.0

    def __repr__(self) -> str:
        what = (f"skip {self.skip_message!r}" if not self.run_requests and self.skip_message
                else f"{len(self.run_requests)} run requests")
        cursor = f", cursor -> {self.cursor!r}" if self.cursor_changed else ""
        parts = f", {len(self.dynamic_partitions_requests)} partition requests" \
            if self.dynamic_partitions_requests else ""
        return f"<SensorEvaluation {what}{parts}{cursor}>"


def context_param(fn: Any) -> str | None:
    """The name of the parameter a sensor function takes its context in (None if it takes none)."""
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return params[0].name if params else None


def call_sensor_fn(fn: Any, context: Any) -> Any:
    """Call the user's function with the context if it takes one (as Dagster does)."""
    return fn(context) if context_param(fn) is not None else fn()


def drain(generator: Any) -> list[Any]:
    """Everything a generator sensor yields, then what it returns (Dagster uses both)."""
    items = []
    while True:
        try:
            items.append(next(generator))
        except StopIteration as stop:
            returned = stop.value
            break
    if isinstance(returned, list | tuple):
        items.extend(returned)
    elif returned is not None:
        items.append(returned)
    return items


def evaluate(sensor: Any, context: Any) -> SensorEvaluation:
    """Run the sensor function once and resolve its result; raise on any error."""
    from nbflow import capture

    buf: list[tuple[float, str, str, str]] = []
    capture.install()
    previous = capture.set_buffer(buf)
    start = time.perf_counter()
    try:
        try:
            raw = call_sensor_fn(sensor.fn, context)
            items = drain(raw) if inspect.isgenerator(raw) else raw
        except Exception as exc:
            raise SensorEvaluationError(
                f"Error occurred during the execution of evaluation_fn for sensor {sensor.name}:\n"
                + "".join(traceback.format_exception(exc)).rstrip()
            ) from exc
        result = resolve(sensor, items, context)
    except Exception as exc:
        exc.logs = capture.join_chunks(buf)  # type: ignore[attr-defined]  # shown on the FAILURE tick
        raise
    finally:
        capture.set_buffer(previous)
        capture.uninstall()
        logs = capture.join_chunks(buf)
    result.logs = logs
    result.duration = time.perf_counter() - start
    return result


def resolve(sensor: Any, raw: Any, context: Any) -> SensorEvaluation:
    """Turn a return value into a :class:`SensorEvaluation`, with Dagster's misuse errors."""
    if isinstance(raw, SensorResult):
        return _from_result(sensor, raw, context)
    items = list(raw) if isinstance(raw, list | tuple) else ([] if raw is None else [raw])
    if any(isinstance(item, SensorResult) for item in items):
        if len(items) > 1:
            raise SensorDefinitionError(
                "When a SensorResult is returned from a sensor, it must be the only object returned."
            )
        return _from_result(sensor, items[0], context)
    for item in items:
        if not isinstance(item, RunRequest | SkipReason):
            raise SensorDefinitionError(
                f"Error in sensor {sensor.name}: Sensor unexpectedly returned output {item!r} of type "
                f"{type(item)}.  Should only return SkipReason or RunRequest objects."
            )
    requests = [item for item in items if isinstance(item, RunRequest)]
    skips = [item for item in items if isinstance(item, SkipReason)]
    if requests and skips:
        raise SensorDefinitionError(
            "Expected a single SkipReason or one or more RunRequests: received both RunRequest and "
            "SkipReason. Return the requests, or one SkipReason, not both."
        )
    skip = skips[0].skip_message if skips else (None if requests else EMPTY_RESULT)
    check_targets(sensor, requests)
    return SensorEvaluation(requests, skip, context.cursor, context.cursor_updated)


def _from_result(sensor: Any, result: SensorResult, context: Any) -> SensorEvaluation:
    if result.cursor is not None and context.cursor_updated:
        raise SensorInvariantError(
            "SensorResult.cursor cannot be set if context.update_cursor() was called. "
            "Set the cursor one way only."
        )
    check_targets(sensor, result.run_requests)
    if result.cursor is not None:
        cursor, changed = result.cursor, True
    else:
        cursor, changed = context.cursor, context.cursor_updated
    skip = result.skip_reason.skip_message if result.skip_reason is not None else None
    if skip is None and not result.run_requests and not result.dynamic_partitions_requests:
        skip = EMPTY_RESULT
    return SensorEvaluation(list(result.run_requests), skip, cursor, changed,
                            list(result.dynamic_partitions_requests))


def check_targets(sensor: Any, requests: list[RunRequest]) -> None:
    """Every request must name one of the sensor's jobs (or the sensor has exactly one)."""
    names = [job.name for job in sensor.jobs]
    pending = getattr(sensor, "_job_name", None)
    for request in requests:
        if not names and pending is not None:
            raise SensorDefinitionError(
                f"Error in sensor {sensor.name}: it targets job_name={pending!r}, but no job of that "
                "name is defined in this kernel. Run the cell that defines it, or pass job=the_job."
            )
        if not names:
            raise SensorDefinitionError(
                f"Error in sensor {sensor.name}: Sensor evaluation function returned a RunRequest for a "
                "sensor lacking a specified target (job_name, job, or jobs). Targets can be specified by "
                "providing job, jobs, or job_name to the @sensor decorator."
            )
        if request.job_name is None and len(names) > 1:
            raise SensorDefinitionError(
                f"Error in sensor {sensor.name}: the sensor targets several jobs {names}, so each "
                "RunRequest needs job_name=... naming one of them."
            )
        if request.job_name is not None and request.job_name not in names:
            raise SensorDefinitionError(
                f"Error in sensor {sensor.name}: Sensor returned a RunRequest with job_name "
                f"{request.job_name}. Expected one of: {names}"
            )
