"""What a Dask worker runs for nbflow: one batch of steps.

Kept light (no store, no pandas): a Dask worker never opens the store. It unpickles the
ops (cloudpickled by value, once per worker process for each op) and the steps, runs
them, and returns their done reports to the process that runs the job, which alone
writes the store.

A fan-out step's items do not wait for the task to end: each is sent as soon as the op
yields it, as a Dask event on the run's topic (``Worker.log_event``), which the
coordinator's client receives pushed from the scheduler. Events carry a sequence number
per step, so items a step sends again when Dask re-runs it (its worker died) are
ignored. The done report counts the items the step sent, so the coordinator can tell
when every item of a finished step has arrived.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from typing import Any, cast

import cloudpickle

from nbflow import capture
from nbflow.execution.step import DoneReport, ItemReport, StepTask, execute_step, execute_step_async
from nbflow.execution.worker import encode_report

_MAX_OPS = 256  # ops kept unpickled per worker process (least recently used dropped first)
_ops: OrderedDict[str, Any] = OrderedDict()
_ops_lock = threading.Lock()


def run_batch(topic: str, ops: dict[str, bytes], steps: bytes) -> list[tuple[int, bytes]]:
    """Run the steps in ``steps``; return ``(items sent, encoded done report)`` for each.

    ``ops`` maps an op token to the cloudpickled op; ``steps`` is a cloudpickled list of
    ``(task id, fields)`` (see :func:`_task`).
    """
    resolved = {token: _op(token, blob) for token, blob in ops.items()}
    tasks = [(task_id, _task(fields, resolved)) for task_id, fields in cloudpickle.loads(steps)]
    emit, canceled = _emitter(topic), _canceled_check()
    capture.install()
    quiet = capture.set_quiet  # output goes to the step's logs; the worker's terminal is nobody's
    quiet(True)
    try:
        done: list[tuple[int, bytes]] = []
        for task_id, task in tasks:
            if canceled():  # the run was canceled: the rest of the batch never starts
                return done
            if not task.op.is_async:
                done.append(_run_sync(task_id, task, emit, canceled))
        waiting = [(task_id, task) for task_id, task in tasks if task.op.is_async]
        if waiting:  # async steps of one batch run concurrently on one event loop
            done.extend(asyncio.run(_run_async_all(waiting, emit)))
    finally:
        quiet(False)
        capture.uninstall()
    return done


def _op(token: str, blob: bytes) -> Any:
    with _ops_lock:
        op = _ops.get(token)
        if op is not None:
            _ops.move_to_end(token)
            return op
    op = cloudpickle.loads(blob)
    with _ops_lock:
        _ops[token] = op
        while len(_ops) > _MAX_OPS:
            _ops.popitem(last=False)
    return op


def _task(fields: tuple[Any, ...], ops: dict[str, Any]) -> StepTask:
    node, key, key_index, token, inputs, config, run_id, partition_key, run_config, retry_number = fields
    task = StepTask(node, key, key_index, ops[token], inputs, config, run_id, partition_key, run_config)
    task.retry_number = retry_number
    return task


def _emitter(topic: str) -> Any:
    """A function sending one encoded item to the coordinator, as an event on ``topic``."""
    from distributed import get_worker

    worker = get_worker()
    return lambda payload: worker.log_event(topic, payload)


def _canceled_check() -> Any:
    """A function telling whether the Dask task running this batch was canceled.

    Dask cannot interrupt a running task, but it marks it canceled on the worker: checked
    between the steps of a batch and between the items of a fan-out, so a canceled run's
    work stops at the next step or item instead of running to its end.
    """
    from distributed import get_worker
    from distributed.worker import thread_state  # type: ignore[attr-defined]  # distributed re-exports it from dask without listing it in __all__

    tasks, key = get_worker().state.tasks, getattr(thread_state, "key", None)
    if key is None:
        return lambda: False

    def canceled() -> bool:
        state = tasks.get(key)
        return state is None or state.state == "cancelled"

    return canceled


def _item_payload(task_id: int, seq: int, report: ItemReport) -> bytes | None:
    try:
        return cast(bytes, cloudpickle.dumps((task_id, seq, report.output_name, report.key, report.value)))
    except Exception:
        return None


def _run_sync(task_id: int, task: StepTask, emit: Any, canceled: Any) -> tuple[int, bytes]:
    steps = execute_step(task)
    for sent, report in enumerate(steps):  # every report before the last is an item
        if isinstance(report, DoneReport):
            return sent, encode_report(task_id, report)
        if canceled():  # stop the fan-out op (its generator is closed); nobody takes the result
            steps.close()
            return sent, b""
        payload = _item_payload(task_id, sent, report)
        if payload is None:  # the item cannot be sent: the step fails, saying which item and why
            steps.close()
            return sent, encode_report(task_id, report)
        emit(payload)
    raise AssertionError("execute_step ended without a done report")  # pragma: no cover


async def _run_async_all(tasks: list[tuple[int, StepTask]], emit: Any) -> list[tuple[int, bytes]]:
    return list(await asyncio.gather(*(_run_async(task_id, task, emit) for task_id, task in tasks)))


async def _run_async(task_id: int, task: StepTask, emit: Any) -> tuple[int, bytes]:
    sent = 0
    done: list[bytes] = []

    def on_report(report: ItemReport | DoneReport) -> None:
        nonlocal sent
        if done:
            return
        if isinstance(report, DoneReport):
            done.append(encode_report(task_id, report))
            return
        payload = _item_payload(task_id, sent, report)
        if payload is None:
            done.append(encode_report(task_id, report))
            return
        emit(payload)
        sent += 1

    await execute_step_async(task, on_report)
    return sent, done[0]


def forget_topic(topic: str, dask_scheduler: Any = None) -> None:
    """Drop the events a run left on the scheduler (run there by ``Client.run_on_scheduler``)."""
    broker = getattr(dask_scheduler, "_broker", None)
    topics = getattr(broker, "_topics", None)
    if topics is not None:
        topics.pop(topic, None)
