"""The loop a worker process runs: receive steps, run them, send reports back.

Kept light (no store, no pandas): a worker never opens the store; it returns values,
logs and errors to the process that runs the job, which alone writes them.

Messages from the coordinator are pickled tuples: ``("op", op_id, op_bytes)`` once per op,
then ``("run", steps_bytes)``, the parts cloudpickled (cell-defined functions and classes
travel by value). Reports go back in batches: a sender thread sends whatever
has piled up while the previous batch was on its way, so a fan-out's items arrive as
they are yielded without one message per item when they come fast.
"""

from __future__ import annotations

import asyncio
import pickle
import queue
import threading
import time
from typing import Any, TypeAlias, cast

import cloudpickle

from nbflow import capture
from nbflow.execution.step import (
    FAILURE,
    SUCCESS,
    DoneReport,
    ItemReport,
    StepTask,
    execute_step,
    execute_step_async,
)

_STOP = None
#: reports of the steps this worker runs, ``(task_id, report)``, then _STOP
_Outbox: TypeAlias = "queue.SimpleQueue[tuple[int, ItemReport | DoneReport] | None]"


def _payload(task_id: int, report: ItemReport | DoneReport) -> tuple[Any, ...]:
    if isinstance(report, ItemReport):
        return ("item", task_id, report.output_name, report.key, report.value)
    return ("done", task_id, report.status, report.outputs, report.logs, report.start,
            report.end, report.error, _portable(report.exception))


def dumps(obj: Any) -> bytes:
    """Plain pickle where it can (several times faster on plain data), else cloudpickle (values
    of classes and functions defined in a notebook, which only it can send by value).

    Only for what goes back to the coordinator: plain pickle refers to a class by its module
    and name, which the coordinator always has, or it fails here (a class that came to this
    worker by value is not found by name) and cloudpickle takes over. The other way round a
    notebook's class would be found by name in the kernel and not in the worker."""
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return cast(bytes, cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def encode_batch(batch: list[tuple[int, ItemReport | DoneReport]]) -> bytes:
    """Reports as one message: pickled together, or one by one if something in them cannot be."""
    payloads = [_payload(task_id, report) for task_id, report in batch]
    try:
        return dumps(payloads)
    except Exception:  # find the culprit: it becomes its step's failure
        return cast(bytes, cloudpickle.dumps([pickle.loads(encode_report(task_id, report)) for task_id, report in batch]))


def encode_report(task_id: int, report: ItemReport | DoneReport) -> bytes:
    """One report as bytes; a value that cannot be pickled becomes the step's failure."""
    payload = _payload(task_id, report)
    try:
        return cast(bytes, cloudpickle.dumps(payload))
    except Exception as exc:
        what = (f"the item {report.key!r} it yielded" if isinstance(report, ItemReport)
                else "one of its outputs" if report.status == SUCCESS else "its error")
        task = report.task
        error = (
            f"op '{task.op.name}' ran in a worker process, but {what} cannot be pickled to send it "
            f"back: {type(exc).__name__}: {exc}. Return plain data (numbers, text, lists, dicts, "
            f"DataFrames) instead of open files, connections, locks or generators, or run this job "
            f"with the thread executor."
        )
        return cast(bytes, cloudpickle.dumps(("done", task_id, FAILURE, {}, getattr(report, "logs", []),
                                  getattr(report, "start", time.time()), time.time(), error, None)))


def _portable(exc: BaseException | None) -> Any:
    """The exception itself if it survives pickling, else None (its text is in the error)."""
    if exc is None:
        return None
    try:
        data = cloudpickle.dumps(exc)
        pickle.loads(data)
        return exc
    except Exception:
        return None


def main(conn: Any) -> None:
    """Entry point of a worker process."""
    capture.install()
    capture.set_quiet(True)  # output goes to the step's logs; the worker's terminal is nobody's
    outbox: _Outbox = queue.SimpleQueue()
    busy = threading.Event()  # set while this worker runs steps: more reports are on their way
    sender = threading.Thread(target=_send_loop, args=(conn, outbox, busy), daemon=True)
    sender.start()
    ops: dict[int, Any] = {}
    try:
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                break
            kind, *rest = pickle.loads(message)
            if kind == "op":
                ops[rest[0]] = cloudpickle.loads(rest[1])
            elif kind == "run":
                busy.set()
                for task_id, fields in cloudpickle.loads(rest[0]):
                    _run_one(task_id, StepTask(fields[0], fields[1], fields[2], ops[fields[3]], *fields[4:9]),
                             fields[9], outbox)
                if not conn.poll():  # no more steps waiting: what is left to send goes now
                    busy.clear()
            elif kind == "stop":
                break
    finally:
        outbox.put(_STOP)
        sender.join(timeout=5)


def _run_one(task_id: int, task: StepTask, retry_number: int, outbox: _Outbox) -> None:
    task.retry_number = retry_number
    if task.op.is_async:
        asyncio.run(execute_step_async(task, lambda report: outbox.put((task_id, report))))
        return
    for report in execute_step(task):
        outbox.put((task_id, report))


def _send_loop(conn: Any, outbox: _Outbox, busy: threading.Event) -> None:
    while True:
        first = outbox.get()
        batch = [first]
        stop = first is _STOP
        lingered = False
        while not stop and len(batch) < 5_000:
            try:
                item = outbox.get_nowait()
            except queue.Empty:
                if lingered or len(batch) >= 64 or not busy.is_set():
                    break
                # Reports of quick steps come in a stream while the worker runs steps: a moment's
                # wait sends many in one message instead of a message each (half a millisecond
                # at most; none once the worker has run what it was given).
                lingered = True
                time.sleep(0.0005)
                continue
            stop = item is _STOP
            batch.append(item)
        reports = [b for b in batch if b is not None]
        if reports:
            try:
                conn.send_bytes(encode_batch(reports))
            except (OSError, ValueError):
                return
        if stop:
            return
