"""The executor: decides which steps run when, and records what happened.

Steps are ``(node, key)`` pairs (``key`` is None for unmapped nodes). A step runs
once all of its inputs are resolved. Inputs come in three kinds:

* *shared* -- the output of an unmapped node, or a collected list: resolved once
  for the node, for every key;
* *item* -- the output of the same key upstream in the fan-out: resolved per key;
* defaults, resolved from the start.

Each report from the back end resolves some inputs, so the work per completed step
is constant (no scans over all steps). A failed or skipped step skips what depends
on it -- per key for mapped steps, so siblings keep going -- and those skips are
recorded with their reason.
"""

from __future__ import annotations

import gc
import heapq
import threading
import time
from collections import deque
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from nbflow import capture
from nbflow.definitions.compose import DEFAULT, ITEM, DynSource
from nbflow.execution.backend import Backend
from nbflow.execution.events import EventRecord, EventSink, OutputRecord, StepRecord
from nbflow.execution.limits import Limits
from nbflow.execution.plan import Plan
from nbflow.execution.resume import Resume
from nbflow.execution.reuse import InputValues, RerunReuse
from nbflow.execution.run_values import ABSENT, RunValues
from nbflow.execution.state import DONE as _DONE
from nbflow.execution.state import PENDING as _PENDING
from nbflow.execution.state import RUNNING as _RUNNING
from nbflow.execution.state import CollectedInput, MissingInput
from nbflow.execution.step import (
    CANCELED,
    FAILURE,
    SKIPPED,
    SUCCESS,
    DoneReport,
    ItemReport,
    StepTask,
)
from nbflow.execution.switching import prompt_switching

# Young objects the collector lets pile up during a run before it scans them. Most of what a
# run allocates is freed at once; what survives a while -- the writer's buffered records --
# is written and freed within a second, so a threshold above what one flush holds means it is
# never scanned: at 1M items 0.5 s of collection instead of 2.5 s. Cyclic garbage of the
# ops' own waits that much longer (about 500,000 objects) to be collected.
_GC_THRESHOLD = 500_000
# Records of the hot path are built as tuples of their class: a named tuple's own constructor
# handles keywords and costs about three times as much (measured: bench/README.md).
_new = tuple.__new__
_WAKE = 0.1  # seconds: how often a waiting coordinator looks at cancel requests and pool slots
CANCEL_GRACE = 2.0  # seconds running steps get to finish after a cancel before they are abandoned


@dataclass
class Outcome:
    """What a finished run produced, for the caller."""

    status: str
    values: RunValues
    keys: dict[DynSource, list[str]]
    failed: list[str] = field(default_factory=list)
    exceptions: dict[str, BaseException] = field(default_factory=dict)
    error: str | None = None


class Executor:
    """Runs one job once, pipelined per mapping key, reporting to an event sink."""

    def __init__(
        self,
        job: Any,
        run_id: str,
        configs: dict[str, Any],
        sink: EventSink,
        backend: Backend,
        partition_key: str | None = None,
        run_config: dict[str, Any] | None = None,
        code_versions: dict[str, str] | None = None,
        resume: Resume | None = None,
        limits: Limits | None = None,
        retries_enabled: bool = True,
    ) -> None:
        self.job, self.run_id, self.configs = job, run_id, configs
        self.limits = limits if limits is not None and limits.active else None
        self.retries_enabled = retries_enabled
        self.ready: deque[StepTask] = deque()  # holding their limit slots, waiting for the back end
        self.waiting: dict[int, deque[StepTask]] = {}  # op id -> steps waiting for a limit slot
        self.cancel_requested = threading.Event()
        self.cancel_reason = ""
        self._canceling = False
        self._finalized = False  # the run's end is recorded: nothing more goes to the sink
        self._finalize_lock = threading.Lock()
        self.resume = resume
        self.sink, self.backend = sink, backend
        self.partition_key, self.run_config = partition_key, run_config or {}
        self.code_versions = code_versions or {}
        # The job's topology, built once when it was defined (built here for other graphs).
        topology = getattr(job, "topology", None)
        self.plan = topology if isinstance(topology, Plan) else Plan.build(job.nodes)
        self.nodes = job.nodes
        self.priority = _priorities(job.nodes)
        self.keys: dict[DynSource, list[str]] = {}  # a key's index is its position here
        self.values = RunValues(self.keys, {n: node.scope for n, node in self.nodes.items()})
        self.inputs = InputValues(self.values, resume)
        self.reuse = RerunReuse(self, resume, self.inputs) if resume is not None else None
        self.shared: dict[str, dict[str, Any]] = {n: {} for n in self.nodes}
        self.unresolved = dict(self.plan.n_shared_inputs)
        self.doomed: dict[str, str] = {}  # mapped node -> why every key of it is skipped
        self.state: dict[tuple[str, str | None], int] = {}
        self.pending_items: dict[tuple[str, str], int] = {}
        self.source_status: dict[DynSource, str] = {}
        self.n_ok: dict[tuple[str, str], int] = {}
        # keys whose mapped step succeeded without producing an optional output
        self.n_missing: dict[tuple[str, str], set[str]] = {}
        self.collect_done: set[tuple[str, str]] = set()
        self.held: dict[str, list[ItemReport]] = {}
        self.retries: list[tuple[float, int, StepTask]] = []
        self.outcome_failed: list[str] = []
        self.exceptions: dict[str, BaseException] = {}
        # Per node, read on every step: its static outputs, and the (node, output) of each item
        # input whose value nothing needs once this node's step for the key has its inputs.
        self._static_outs = {n: [o for o, spec in node.op.outs.items() if not spec.is_dynamic]
                             for n, node in self.nodes.items()}
        self._released = {n: _released_inputs(self.plan, node) for n, node in self.nodes.items()}
        self._item_inputs = {n: [(i, b.node, b.output) for i, b in node.inputs.items() if b.kind == ITEM]
                             for n, node in self.nodes.items()}
        self._default_inputs = {n: [i for i, b in node.inputs.items() if b.kind == DEFAULT]
                                for n, node in self.nodes.items()}
        # What _submit reads of a node on every step, behind one lookup.
        self._to_submit = {n: (node, self.shared[n], self._item_inputs[n], self._default_inputs[n],
                               self._released[n], self.priority[n], self.configs.get(n))
                           for n, node in self.nodes.items()}

    # -- driving ---------------------------------------------------------------------------
    def execute(self) -> Outcome:
        capture.install()
        # A run keeps a lot of small, long-lived state; the default collector thresholds
        # rescan it every few hundred allocations (a third of the time of a 100k-step run).
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], _GC_THRESHOLD), *thresholds[1:])
        error: str | None = None
        with prompt_switching():  # threads beside the run get the interpreter promptly
            try:
                self.backend.start()
                status = self._loop()
                if status != CANCELED:
                    error = f"Steps failed: {self.outcome_failed}" if status == FAILURE else None
                    # Before the back end shuts down: its idle workers waking up to stop would
                    # compete with the run's last write.
                    self.sink.run_finished(status, time.time(), error)
                    self.sink.flush()
            except KeyboardInterrupt:
                self._cancel(self.cancel_reason or "the run was interrupted")
                if not self.cancel_requested.is_set():
                    raise  # Ctrl-C (or an op's own KeyboardInterrupt): the caller sees it
                status = CANCELED  # the interrupt a cancel sent into a running in-process step
            finally:
                gc.set_threshold(*thresholds)
                capture.uninstall()
                self.backend.shutdown()
        if status == CANCELED:
            error = self.cancel_reason
        return Outcome(status, self.values, self.keys, self.outcome_failed, self.exceptions, error)

    def request_cancel(self, reason: str = "the run was canceled") -> None:
        """Ask the run to stop (from any thread): no new steps start, running ones are stopped."""
        self.cancel_reason = self.cancel_reason or reason
        self.cancel_requested.set()

    def _loop(self) -> str:
        lock = getattr(self.sink, "lock", None) or nullcontext()
        with lock:
            if self.reuse is not None:
                self.reuse.seed()
            for name in self.nodes:
                if (not self.nodes[name].is_mapped and self.unresolved[name] == 0
                        and self.state.get((name, None), _PENDING) == _PENDING):
                    self._submit(name, None)
        backend, cancel = self.backend, self.cancel_requested
        on_item, on_done = self._on_item, self._on_done
        idle = getattr(self.sink, "idle", None)
        while True:
            if cancel.is_set():
                self._cancel(self.cancel_reason or "the run was canceled")
                return CANCELED
            if self.retries and self.retries[0][0] <= time.monotonic():
                self._submit_task(heapq.heappop(self.retries)[2])
                continue
            if self.ready or self.waiting:
                self._launch()
            if not backend.in_flight():
                if self.ready or self.waiting:
                    time.sleep(_WAKE / 10)  # slots held by another run of this process
                    continue
                if not self.retries:
                    break
                time.sleep(min(_WAKE, max(0.0, self.retries[0][0] - time.monotonic())))
                continue
            wait = min(_WAKE, self.retries[0][0] - time.monotonic()) if self.retries else _WAKE
            reports = backend.poll(0.0)
            if not reports:  # nothing ready: waiting for steps is when buffered rows get written
                if idle is not None:
                    idle()
                reports = backend.poll(max(wait, 0.0))
            if not reports:
                continue
            with lock:  # one report's records land in one batch of the store's writer
                if self._finalized:  # canceled from outside while a step ran: drop what it made
                    return CANCELED
                for report in reports:
                    if type(report) is ItemReport:
                        on_item(report)
                    else:
                        on_done(report)  # type: ignore[arg-type]  # the type() test narrows it
        self._skip_unreached()
        return FAILURE if self.outcome_failed else SUCCESS

    def cancel_from_outside(self, reason: str) -> None:
        """Record the run CANCELED from another thread while the coordinator is stuck in a step."""
        self.request_cancel(reason)
        self._cancel(reason)

    def _cancel(self, reason: str) -> None:
        """Stop launching, stop running work, record what did not finish, end the run CANCELED."""
        with self._finalize_lock:
            if self._finalized:
                return
            self._finalized = True
        self._canceling = True
        self.cancel_reason = reason
        lock = getattr(self.sink, "lock", None) or nullcontext()
        now = time.time()
        with lock:
            for task in self.backend.cancel():
                self._record_canceled(task, now, f"stopped while running: {reason}")
        deadline = time.monotonic() + CANCEL_GRACE
        while self.backend.in_flight() and time.monotonic() < deadline:  # threads may still finish
            reports = self.backend.poll(0.05)
            with lock:
                for report in reports:
                    if isinstance(report, ItemReport):
                        self._on_item(report)
                    else:
                        self._on_done(report)
        now = time.time()
        with lock:
            for task in self.backend.abandon():
                self._record_canceled(task, now, f"stopped while running: {reason} (still running after {CANCEL_GRACE:g} s, abandoned)")
            not_started = [*self.ready, *(t for q in self.waiting.values() for t in q),
                           *(t for _, _, t in self.retries)]
            self.ready.clear()
            self.waiting.clear()
            self.retries.clear()
            for task in not_started:
                self._record_canceled(task, now, f"not started: {reason}")
            for (name, key), state in list(self.state.items()):
                if state == _PENDING:
                    self.state[(name, key)] = _DONE
                    self._record(name, key, CANCELED, now, now, f"not started: {reason}")
            for name, node in self.nodes.items():  # what never became ready is recorded too
                if not node.is_mapped and (name, None) not in self.state:
                    self._record(name, None, CANCELED, now, now, f"not started: {reason}")
            self.sink.event(EventRecord(now, None, "RUN_CANCELED", "WARNING", f"Run canceled: {reason}"))
        self.sink.run_finished(CANCELED, now, reason)
        self.sink.flush()

    def _record_canceled(self, task: StepTask, now: float, why: str) -> None:
        if self.limits is not None:
            self.limits.give_back(task.op)
        self.state[(task.node, task.key)] = _DONE
        self._record(task.node, task.key, CANCELED, now, now, why, task.retry_number + 1)

    # -- submitting ------------------------------------------------------------------------
    def _submit(self, name: str, key: str | None, index: int | None = None) -> None:
        """Submit step ``name[key]``; ``index`` is the key's index in its fan-out, looked up if
        not given (the hot path knows it)."""
        node, shared, item_inputs, default_inputs, released, priority, config = self._to_submit[name]
        # An item input comes from the same fan-out as the step: its value is at the step's index.
        if index is None and key is not None:
            index = self.values.index_of(node.scope, key)
        try:
            materialize = self.inputs.materialize
            inputs = {in_name: materialize(v) for in_name, v in shared.items()} if shared else {}
            at, value = self.values.at, self.inputs.value
            for in_name, upstream, out_name in item_inputs:
                found = at(upstream, out_name, index)
                inputs[in_name] = value(upstream, out_name, key) if found is ABSENT else found
            for in_name in default_inputs:
                inputs[in_name] = node.op.ins[in_name].default_value
        except MissingInput as missing:
            self._input_missing(name, key, missing)
            return
        if key is not None and index is not None:
            self.pending_items.pop((name, key), None)
            drop = self.values.drop_at
            for upstream, out_name in released:
                # Stored already (the writer holds the record until it is written); kept in
                # memory, a fan-out of a million items would hold every value to the end.
                drop(upstream, out_name, key, index)
        task = StepTask(name, key, index, node.op, inputs, config, self.run_id, self.partition_key,
                        self.run_config)
        task.priority = priority
        self._submit_task(task)

    def _submit_task(self, task: StepTask) -> None:
        if self._canceling:  # a step made ready by one that finished during the cancel
            self.state[(task.node, task.key)] = _DONE
            now = time.time()
            self._record(task.node, task.key, CANCELED, now, now, f"not started: {self.cancel_reason}")
            return
        self.state[(task.node, task.key)] = _RUNNING
        limits = self.limits
        if limits is not None and (self.waiting.get(id(task.op)) or not limits.try_take(task.op)):
            self.waiting.setdefault(id(task.op), deque()).append(task)
            return
        if self.ready or not self.backend.can_submit():
            self.ready.append(task)
            return
        self.backend.submit(task)

    def _launch(self) -> None:
        """Move waiting steps that got a limit slot to the ready queue; submit what fits."""
        limits = self.limits
        if limits is not None:
            for op_id, waiting in list(self.waiting.items()):
                while waiting and limits.try_take(waiting[0].op):
                    self.ready.append(waiting.popleft())
                if not waiting:
                    del self.waiting[op_id]
        backend, ready = self.backend, self.ready
        while ready and backend.can_submit():
            backend.submit(ready.popleft())

    def _input_missing(self, name: str, key: str | None, missing: MissingInput) -> None:
        step_key = name if key is None else f"{name}[{key}]"
        parent = self.resume.parent_run_id[:8] if self.resume else "this run"
        error = (
            f"Step {step_key} cannot run: its input from output '{missing.output}' of step "
            f"{missing.step} cannot be loaded from run {parent} ({missing.reason}). Rerun that step "
            f"as well, e.g. run.rerun({missing.step.split('[')[0]!r}, downstream=True)."
        )
        now = time.time()
        self.state[(name, key)] = _DONE
        self._record(name, key, FAILURE, now, now, error, 0)
        self.outcome_failed.append(step_key)
        self._fail_downstream(name, key, f"upstream step {step_key} failed")

    # -- reports ---------------------------------------------------------------------------
    def _on_item(self, report: ItemReport) -> None:
        task = report.task
        if task.op.retry_policy is not None and task.key is None:
            # A fan-out that may be retried releases its items only once the attempt succeeds,
            # so a retry cannot yield a key twice.
            self.held.setdefault(task.node, []).append(report)
            return
        self._add_key(_new(DynSource, (task.node, report.output_name)), report.key, report.value)

    def _add_key(self, source: DynSource, key: str, value: Any) -> None:
        keys = self.keys.get(source)
        if keys is None:
            keys = self.keys[source] = []
        index = len(keys)
        keys.append(key)
        self.values.put_at(source.node, source.output, key, index, value)
        self.sink.output(_new(OutputRecord, (source.node, source.node, key, index, source.output, value)))
        scope = self.plan.scope_nodes.get(source, ())
        pending, state, n_items = self.pending_items, self.state, self.plan.n_item_inputs
        for name in scope:
            slot = (name, key)
            pending[slot] = n_items[name]
            state[slot] = _PENDING
        if self.doomed:
            for name in scope:
                if name in self.doomed and state[(name, key)] == _PENDING:
                    self._skip_mapped(name, key, self.doomed[name])
        if self.reuse is not None and self.resume is not None and self.resume.memo is not None \
                and source.node in self.resume.executed:
            self.reuse.reuse_unchanged_key(source, key, value)
        for consumer, _ in self.plan.item_consumers.get(source, ()):  # a DynSource is its (node, output)
            self._resolve_item(consumer, key, index)

    def _on_done(self, report: DoneReport) -> None:
        task = report.task
        name, key = task.node, task.key
        attempts = task.retry_number + 1
        if self.limits is not None:
            self.limits.give_back(task.op)
        if report.logs:
            self._store_logs(task.step_key, report.logs)
        if report.status == SUCCESS:
            self.sink.step(_new(StepRecord, (task.step_key, name, key, task.key_index, SUCCESS, attempts,
                                             report.start, report.end, None, self.code_versions.get(name))))
            if key is None:
                self.state[(name, None)] = _DONE
            else:  # a mapped step that is not pending has no entry: a million keys, little memory
                self.state.pop((name, key), None)
            self._publish(name, key, report.outputs, self.held.pop(name, ()) if self.held else (), task)
            return
        policy = task.op.retry_policy if self.retries_enabled and not self._canceling else None
        if policy is not None and task.retry_number < policy.max_retries:
            self.held.pop(name, None)
            self.sink.event(EventRecord(report.end, task.step_key, "STEP_UP_FOR_RETRY", "WARNING",
                             f"attempt {attempts} failed; retrying:\n{report.error}"))
            retry = StepTask(name, key, task.key_index, task.op, task.inputs, task.config,
                             task.run_id, task.partition_key, task.run_config)
            retry.retry_number = task.retry_number + 1
            retry.priority = task.priority
            due = time.monotonic() + policy.delay_before(retry.retry_number)
            heapq.heappush(self.retries, (due, id(retry), retry))
            return
        for report_item in self.held.pop(name, ()):
            self._add_key(DynSource(name, report_item.output_name), report_item.key, report_item.value)
        self._record(name, key, FAILURE, report.start, report.end, report.error, attempts)
        self.state[(name, key)] = _DONE
        self.outcome_failed.append(task.step_key)
        if report.exception is not None:
            self.exceptions[task.step_key] = report.exception
        self._fail_downstream(name, key, f"upstream step {task.step_key} failed")

    def _publish(self, name: str, key: str | None, outputs: dict[str, Any], held: Any = (),
                 task: StepTask | None = None) -> None:
        sink, values = self.sink, self.values
        if task is not None:
            index, step_key = task.key_index, task.step_key
        else:
            index = None if key is None else self.values.index_of(self.nodes[name].scope, key)
            step_key = name if key is None else f"{name}[{key}]"
        static_outs = self._static_outs[name]
        # All outputs go to the sink before anything downstream can record a step, so the
        # step's row and its outputs always land in one batch.
        for out_name in static_outs:
            if out_name in outputs:
                value = outputs[out_name]
                if index is None or key is None:
                    values[(name, out_name, key)] = value
                else:
                    values.put_at(name, out_name, key, index, value)
                sink.output(_new(OutputRecord, (step_key, name, key, index, out_name, value)))
        for item in held:  # a retried fan-out's items, released now that its attempt succeeded
            self._add_key(DynSource(name, item.output_name), item.key, item.value)
        for out_name in static_outs:
            if out_name not in outputs:
                self._output_missing(name, key, out_name)
                continue
            if key is None:
                value = values[(name, out_name, None)]
                for consumer, in_name in self.plan.value_consumers.get((name, out_name), ()):
                    self._resolve_shared(consumer, in_name, value)
            else:
                slot = (name, out_name)
                for consumer, _ in self.plan.item_consumers.get(slot, ()):
                    self._resolve_item(consumer, key, index)
                n_ok = self.n_ok
                n_ok[slot] = n_ok.get(slot, 0) + 1
                # What _check_collect looks at first, asked here: until the fan-out is done,
                # on every mapped step, there is nothing to collect.
                if self.source_status.get(self.nodes[name].scope) == SUCCESS:
                    self._check_collect(name, out_name)
        if key is not None:
            return  # a mapped node is no fan-out of its own
        for source in self.plan.sources.get(name, ()):
            self.source_status[source] = SUCCESS
            self.keys.setdefault(source, [])
            for upstream, out_name in self.plan.collected_in_scope.get(source, ()):
                self._check_collect(upstream, out_name)

    # -- resolving inputs --------------------------------------------------------------------
    def _resolve_shared(self, name: str, in_name: str, value: Any) -> None:
        self.shared[name][in_name] = value
        self.unresolved[name] -= 1
        if self.unresolved[name]:
            return
        node = self.nodes[name]
        if not node.is_mapped:
            if self.state.get((name, None), _PENDING) == _PENDING and name not in self.doomed:
                self._submit(name, None)
            return
        for index, key in enumerate(list(self.keys.get(node.scope, ()))):
            if self.state.get((name, key)) == _PENDING and self.pending_items[(name, key)] == 0:
                self._submit(name, key, index)

    def _resolve_item(self, name: str, key: str, index: int | None = None) -> None:
        slot = (name, key)
        left = self.pending_items[slot] - 1
        self.pending_items[slot] = left
        if left == 0 and self.unresolved[name] == 0 and self.state.get(slot) == _PENDING:
            self._submit(name, key, index)

    def _check_collect(self, name: str, out_name: str) -> None:
        node = self.nodes[name]
        source = node.scope or DynSource(name, out_name)
        if (name, out_name) in self.collect_done or self.source_status.get(source) != SUCCESS:
            return
        keys = self.keys.get(source, [])
        missing = self.n_missing.get((name, out_name), set())
        complete = node.scope is None or self.n_ok.get((name, out_name), 0) + len(missing) == len(keys)
        if not complete:
            return
        self.collect_done.add((name, out_name))
        consumers = self.plan.collect_consumers.get((name, out_name), ())
        if not keys and not self.nodes[source.node].op.outs[source.output].is_required:
            for consumer, _ in consumers:
                self._skip_node(consumer, f"the fan-out {source} yielded no items (is_required=False)")
            return
        present = [k for k in keys if k not in missing] if missing else keys
        if keys and not present:  # as in Dagster: collect what was produced, skip if nothing was
            for consumer, _ in consumers:
                self._skip_node(consumer, f"no step of {name} produced its optional output '{out_name}'")
            return
        collected = CollectedInput(name, out_name, present)
        for consumer, in_name in consumers:
            self._resolve_shared(consumer, in_name, collected)

    # -- failures and skips ------------------------------------------------------------------
    def _fail_downstream(self, name: str, key: str | None, reason: str) -> None:
        node = self.nodes[name]
        if key is not None:
            for out_name in node.op.outs:
                self._item_bad(name, key, out_name, reason)
            return
        for out_name in node.op.outs:
            for consumer, _ in self.plan.value_consumers.get((name, out_name), ()):
                self._skip_node(consumer, reason)
            for consumer, _ in self.plan.collect_consumers.get((name, out_name), ()):
                self._skip_node(consumer, reason)
        for source in self.plan.sources.get(name, ()):
            self.source_status[source] = FAILURE
            for upstream, out_name in self.plan.collected_in_scope.get(source, ()):
                self._collect_bad(upstream, out_name, f"the fan-out op {name} failed")

    def _item_bad(self, name: str, key: str, out_name: str, reason: str) -> None:
        for consumer, _ in self.plan.item_consumers.get((name, out_name), ()):
            if self.state.get((consumer, key)) == _PENDING:
                self._skip_mapped(consumer, key, reason)
        self._collect_bad(name, out_name, reason)

    def _collect_bad(self, name: str, out_name: str, reason: str) -> None:
        if (name, out_name) in self.collect_done:
            return
        self.collect_done.add((name, out_name))
        for consumer, _ in self.plan.collect_consumers.get((name, out_name), ()):
            self._skip_node(consumer, reason)

    def _output_missing(self, name: str, key: str | None, out_name: str) -> None:
        reason = f"optional output '{out_name}' of {name if key is None else f'{name}[{key}]'} was not produced"
        if key is not None:  # its mapped consumers skip; a collect gathers the other keys
            for consumer, _ in self.plan.item_consumers.get((name, out_name), ()):
                if self.state.get((consumer, key)) == _PENDING:
                    self._skip_mapped(consumer, key, reason)
            self.n_missing.setdefault((name, out_name), set()).add(key)
            self._check_collect(name, out_name)
            return
        for consumer, _ in self.plan.value_consumers.get((name, out_name), ()):
            self._skip_node(consumer, reason)

    def _skip_node(self, name: str, reason: str) -> None:
        node = self.nodes[name]
        if node.is_mapped:
            if name in self.doomed:
                return
            self.doomed[name] = reason
            for key in list(self.keys.get(node.scope, ())):
                if self.state.get((name, key)) == _PENDING:
                    self._skip_mapped(name, key, reason)
            return
        if self.state.get((name, None), _PENDING) != _PENDING:
            return
        now = time.time()
        self.state[(name, None)] = _DONE
        self._record(name, None, SKIPPED, now, now, reason)
        self._fail_downstream(name, None, f"upstream step {name} was skipped")

    def _skip_mapped(self, name: str, key: str, reason: str) -> None:
        now = time.time()
        self.state[(name, key)] = _DONE
        self._record(name, key, SKIPPED, now, now, reason)
        for out_name in self.nodes[name].op.outs:
            self._item_bad(name, key, out_name, f"upstream step {name}[{key}] was skipped")

    def _skip_unreached(self) -> None:
        for name, node in self.nodes.items():
            if not node.is_mapped and self.state.get((name, None), _PENDING) == _PENDING:
                # Not reached although nothing upstream failed: the run did not do its work.
                self.outcome_failed.append(name)
                self._skip_node(name, "its inputs were never produced")

    # -- recording ---------------------------------------------------------------------------
    def _record(self, name: str, key: str | None, status: str, start: float, end: float,
                error: str | None, attempts: int = 0) -> None:
        node = self.nodes[name]
        index = None if key is None else self.values.index_of(node.scope, key)
        step_key = name if key is None else f"{name}[{key}]"
        self.sink.step(StepRecord(step_key, name, key, index, status, attempts, start, end, error,
                        self.code_versions.get(name)))

    def _store_logs(self, step_key: str, logs: Sequence[capture.LogChunk]) -> None:
        if logs:
            for ts, kind, level, text in capture.join_chunks(logs):
                self.sink.event(EventRecord(ts, step_key, kind, level, text))


def _released_inputs(plan: Plan, node: Any) -> list[tuple[str, str]]:
    """The item inputs of ``node`` whose value for a key is needed by nothing else once its step
    for that key has its inputs: ``node`` is their only consumer (no collect, no other map)."""
    released = []
    for b in node.inputs.values():
        if b.kind != ITEM:
            continue
        source = (b.node, b.output)
        if (len(plan.item_consumers.get(source, ())) == 1 and not plan.collect_consumers.get(source)
                and not plan.value_consumers.get(source)):
            released.append(source)
    return released


def _priorities(nodes: dict[str, Any]) -> dict[str, int]:
    """Which steps go first when more are ready than workers are free (lower first).

    Deeper steps first -- ``g[k]`` before the next key's ``f`` -- so keys flow through the
    chain instead of every ``f`` finishing before any ``g``. Dagster's op tag
    ``dagster/priority`` (higher runs first) comes before depth.
    """
    found = {}
    for depth, (name, node) in enumerate(nodes.items()):  # creation order is topological
        try:
            tagged = int(node.op.tags.get("dagster/priority", 0))
        except ValueError:
            tagged = 0
        found[name] = -tagged * 1_000_000 - depth
    return found
