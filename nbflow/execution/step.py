"""Running one step: the op body for one node (and one mapping key).

:func:`execute_step` is what a back end runs. It is a generator: it yields an
:class:`ItemReport` for every ``DynamicOutput`` as soon as the op yields it (so
mapped steps can start while the fan-out op is still running), then one final
:class:`DoneReport`. It needs no store, so it can run in a worker process.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Generator, Sequence
from typing import Any

from nbflow import capture
from nbflow.definitions.op import DEFAULT_OUTPUT, DynamicOutput, Output
from nbflow.definitions.status import Status
from nbflow.errors import DuplicateMappingKeyError, NbflowError
from nbflow.execution.context import OpExecutionContext
from nbflow.execution.values import PLAIN_TYPES, check_storable

# Plain strings of the same values, for the per-step path: an enum member hashes through
# Python code, and these are dictionary keys and list items once per step.
SUCCESS, FAILURE, SKIPPED, CANCELED = (Status.SUCCESS.value, Status.FAILURE.value, Status.SKIPPED.value,
                                       Status.CANCELED.value)


class StepTask:
    """Everything needed to run one attempt of one step."""

    __slots__ = (
        "config",
        "inputs",
        "key",
        "key_index",
        "node",
        "op",
        "partition_key",
        "priority",
        "retry_number",
        "run_config",
        "run_id",
        "step_key",
    )

    def __init__(self, node: str, key: str | None, key_index: int | None, op: Any, inputs: dict[str, Any],
                 config: Any, run_id: str, partition_key: str | None, run_config: dict[str, Any]) -> None:
        self.node, self.key, self.key_index, self.op = node, key, key_index, op
        self.step_key = node if key is None else f"{node}[{key}]"
        self.inputs, self.config = inputs, config
        self.retry_number = 0
        self.priority = 0  # lower runs first when steps wait for a worker (see Executor._submit)
        self.run_id, self.partition_key, self.run_config = run_id, partition_key, run_config


class ItemReport:
    """One ``DynamicOutput`` yielded by a fan-out step."""

    __slots__ = ("key", "output_name", "task", "value")

    def __init__(self, task: StepTask, output_name: str, key: str, value: Any) -> None:
        self.task, self.output_name, self.key, self.value = task, output_name, key, value


class DoneReport:
    """The end of one attempt: its status, static outputs, captured logs, timing, error."""

    __slots__ = ("end", "error", "exception", "logs", "outputs", "start", "status", "task")

    def __init__(self, task: StepTask, status: str, outputs: dict[str, Any], logs: Sequence[capture.LogChunk], start: float,
                 end: float, error: str | None = None, exception: BaseException | None = None) -> None:
        self.task, self.status, self.outputs, self.logs = task, status, outputs, logs
        self.start, self.end, self.error, self.exception = start, end, error, exception


class StepFailure(NbflowError):
    """The op body broke a rule of its declared outputs."""


def _check_type(op: Any, what: str, name: str, value: Any, expected: Any) -> None:
    if isinstance(expected, type) and not isinstance(value, expected):
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return
        raise StepFailure(
            f"op '{op.name}' {what} '{name}' must be of type {expected.__name__}, "
            f"got {type(value).__name__}: {value!r:.80}"
        )


def _static_outputs(op: Any, result: Any) -> dict[str, Any]:
    outs = op.outs
    if isinstance(result, Output):
        return {result.output_name: result.value}
    if len(outs) == 1:
        return {next(iter(outs)): result}
    if not outs:
        return {}
    if isinstance(result, tuple) and len(result) == len(outs):
        return {name: (v.value if isinstance(v, Output) else v) for name, v in zip(outs, result, strict=False)}
    raise StepFailure(
        f"op '{op.name}' has {len(outs)} outputs ({', '.join(outs)}); return a tuple of "
        f"{len(outs)} values in that order, or yield Output(value, output_name=...)."
    )


def _call_op(task: StepTask) -> Any:
    """Check the inputs and call the op body; returns its result (a generator for fan-outs)."""
    op = task.op
    for name, value in task.inputs.items():
        expected = op.ins[name].dagster_type
        if expected is not None:
            _check_type(op, "input", name, value, expected)
    if op.takes_context:
        ctx = OpExecutionContext(
            task.run_id, task.node, task.step_key, task.config, task.key,
            task.retry_number, task.partition_key, task.run_config,
        )
        return op.fn(ctx, **task.inputs)
    return op.fn(**task.inputs)


def _on_yielded(task: StepTask, item: Any, seen: dict[str, set[str]] | None, outputs: dict[str, Any],
                ) -> ItemReport | None:
    """An item a generator op yielded: an item report for a DynamicOutput, else None."""
    op = task.op
    if isinstance(item, DynamicOutput):
        _check_dynamic(op, item, seen)
        return ItemReport(task, item.output_name, item.mapping_key, item.value)
    if isinstance(item, Output):
        _check_static(op, item, outputs)
        outputs[item.output_name] = item.value
        return None
    raise StepFailure(
        f"op '{op.name}' yielded {item!r:.80}; a generator op must yield "
        f"Output(...) or DynamicOutput(...)."
    )


def _failed(task: StepTask, exc: Exception, logs: Sequence[capture.LogChunk], start: float) -> DoneReport:
    error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return DoneReport(task, FAILURE, {}, logs, start, time.time(), error, exc)


def run_step(task: StepTask, capturing: list[capture.LogChunk] | None = None) -> DoneReport:
    """Run one attempt of ``task``, an op that is not a generator; return its done report.

    What :func:`execute_step` does for such an op, without a generator: back ends call it
    for the steps of a fan-out, where a generator per step is a good part of the work.
    ``capturing`` is the capture buffer a back end made current for a row of steps it runs
    one after another (setting it for each step was 4 % of a large fan-out's time): what
    this step printed or logged is taken out of it.
    """
    op = task.op
    own = capturing is None
    logs: list[capture.LogChunk] = [] if capturing is None else capturing
    start = time.time()
    prev = capture.set_buffer(logs) if own else None
    try:
        result = _call_op(task)
        plain = op.plain_output
        if plain is not None and not isinstance(result, Output):
            # What _static_outputs and _check_outputs do for such an op, inline.
            if type(result) not in PLAIN_TYPES:
                check_storable(op.name, plain, result)
            outputs = {plain: result}
        else:
            outputs = _static_outputs(op, result)
            _check_outputs(op, outputs)
    except Exception as exc:  # the user's error: report it, the run goes on
        if own:
            capture.set_buffer(prev)
        return _failed(task, exc, logs if own else _taken(logs), start)
    if own:
        capture.set_buffer(prev)
    return DoneReport(task, SUCCESS, outputs, logs if own else _taken(logs), start, time.time())


def _taken(capturing: list[capture.LogChunk]) -> Sequence[capture.LogChunk]:
    """What a step left in a buffer shared by a row of steps; the buffer is empty again."""
    if not capturing:
        return ()  # most steps print nothing: no list made and freed for each
    taken = capturing.copy()
    capturing.clear()
    return taken


def execute_step(task: StepTask, capturing: list[capture.LogChunk] | None = None,
                 ) -> Generator[ItemReport | DoneReport, None, None]:
    """Run one attempt of ``task``; yield item reports, then a done report.

    ``capturing`` is as for :func:`run_step`: a buffer the back end makes current whenever it
    advances this step. What the step printed is moved from it into the step's logs at each
    item, instead of making the step's own buffer current and back again for every item.
    """
    op = task.op
    if not op.is_generator:
        yield run_step(task, capturing)
        return
    own = capturing is None
    logs: list[capture.LogChunk] = []
    start = time.time()
    outputs: dict[str, Any] = {}
    prev = capture.set_buffer(logs) if own else None
    try:
        seen = _seen_keys(op)
        iterator = iter(_call_op(task))
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                break
            report = _on_yielded(task, item, seen, outputs)
            if report is None:
                continue
            if own:
                capture.set_buffer(prev)
                yield report
                prev = capture.set_buffer(logs)
            else:
                _move(capturing, logs)
                yield report
        _check_outputs(op, outputs)
    except Exception as exc:  # the user's error: report it, the run goes on
        _leave(own, prev, capturing, logs)
        yield _failed(task, exc, logs, start)
        return
    _leave(own, prev, capturing, logs)
    yield DoneReport(task, SUCCESS, outputs, logs, start, time.time())


def _move(capturing: list[capture.LogChunk] | None, logs: list[capture.LogChunk]) -> None:
    if capturing:
        logs.extend(capturing)
        capturing.clear()


def _leave(own: bool, prev: list[capture.LogChunk] | None, capturing: list[capture.LogChunk] | None,
           logs: list[capture.LogChunk]) -> None:
    """A generator step is done: its own buffer is no longer current, or what it printed since
    its last item is taken out of the shared one."""
    if own:
        capture.set_buffer(prev)
    else:
        _move(capturing, logs)


async def execute_step_async(task: StepTask, emit: Callable[[ItemReport | DoneReport], None]) -> None:
    """Run one attempt of an ``async def`` op on the running event loop, calling ``emit`` with
    each item report and then the done report.

    Run it as its own asyncio task: capture buffers are context variables, so each task's
    ``print`` and logging land in its own step even though the tasks share one thread.
    """
    op = task.op
    logs: list[capture.LogChunk] = []
    start = time.time()
    outputs: dict[str, Any] = {}
    capture.set_buffer(logs)
    try:
        result = _call_op(task)
        if op.is_generator:
            seen = _seen_keys(op)
            async for item in result:
                report = _on_yielded(task, item, seen, outputs)
                if report is not None:
                    emit(report)
        else:
            outputs = _static_outputs(op, await result)
        _check_outputs(op, outputs)
    except Exception as exc:
        capture.set_buffer(None)
        emit(_failed(task, exc, logs, start))
        return
    capture.set_buffer(None)
    emit(DoneReport(task, SUCCESS, outputs, logs, start, time.time()))


def _seen_keys(op: Any) -> dict[str, set[str]] | None:
    """Where a generator op's mapping keys are gathered to refuse a duplicate; None where
    the op's body refuses them itself (see ``definitions.op``): a second set of a million
    keys is 40 MB."""
    return None if hasattr(op.fn, "__nbflow_body__") else {}


def _check_dynamic(op: Any, item: DynamicOutput, seen: dict[str, set[str]] | None) -> None:
    out = op.outs.get(item.output_name)
    if out is None or not out.is_dynamic:
        raise StepFailure(
            f"op '{op.name}' yielded DynamicOutput for output '{item.output_name}', which is not "
            f"a DynamicOut of this op (its outputs: {list(op.outs)})."
        )
    if seen is not None:
        keys = seen.get(item.output_name)
        if keys is None:  # not setdefault: that makes and drops a set for every item
            keys = seen[item.output_name] = set()
        if item.mapping_key in keys:
            raise DuplicateMappingKeyError(
                f"op '{op.name}' yielded the mapping key {item.mapping_key!r} twice"
                + (f" (output '{item.output_name}')" if item.output_name != DEFAULT_OUTPUT else "")
                + ". Mapping keys must be unique within one step."
            )
        keys.add(item.mapping_key)
    if type(item.value) not in PLAIN_TYPES:  # the common case without a call
        check_storable(op.name, item.output_name, item.value)
    if out.dagster_type is not None:
        _check_type(op, "output", item.output_name, item.value, out.dagster_type)


def _check_static(op: Any, item: Output, outputs: dict[str, Any]) -> None:
    out = op.outs.get(item.output_name)
    if out is None or out.is_dynamic:
        raise StepFailure(
            f"op '{op.name}' yielded Output for '{item.output_name}', which is not a static "
            f"output of this op (its outputs: {list(op.outs)})."
        )
    if item.output_name in outputs:
        raise StepFailure(f"op '{op.name}' yielded output '{item.output_name}' twice.")


def _check_outputs(op: Any, outputs: dict[str, Any]) -> None:
    for name, out in op.outs.items():
        if out.is_dynamic:
            continue
        if name not in outputs:
            if out.is_required and not op.is_generator:
                raise StepFailure(f"op '{op.name}' did not produce its required output '{name}'.")
            if out.is_required:
                raise StepFailure(
                    f"op '{op.name}' did not yield its required output '{name}'. Yield "
                    f"Output(value, output_name={name!r}) or declare it Out(is_required=False)."
                )
            continue
        if type(outputs[name]) not in PLAIN_TYPES:
            check_storable(op.name, name, outputs[name])
        if out.dagster_type is not None:
            _check_type(op, "output", name, outputs[name], out.dagster_type)
