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
import time
from dataclasses import dataclass, field
from typing import Any

from nbflow.definitions.compose import DEFAULT, ITEM, DynSource
from nbflow.execution import capture
from nbflow.execution.backend import Backend
from nbflow.execution.events import EventSink
from nbflow.execution.plan import Plan
from nbflow.execution.resume import Resume
from nbflow.execution.reuse import ReuseMixin
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

_GC_THRESHOLD = 50_000


@dataclass
class Outcome:
    """What a finished run produced, for the caller."""

    status: str
    values: dict[tuple[str, str, str | None], Any]
    keys: dict[DynSource, list[str]]
    failed: list[str] = field(default_factory=list)
    exceptions: dict[str, BaseException] = field(default_factory=dict)
    error: str | None = None


class Executor(ReuseMixin):
    """Runs one job once, pipelined per mapping key, reporting to an event sink."""

    def __init__(
        self,
        job: Any,
        run_id: str,
        configs: dict[str, Any],
        sink: EventSink,
        backend: Backend,
        partition_key: str | None = None,
        run_config: dict | None = None,
        code_versions: dict[str, str] | None = None,
        resume: Resume | None = None,
    ) -> None:
        self.job, self.run_id, self.configs = job, run_id, configs
        self.resume = resume
        self._parent_values: dict[tuple[str, str], dict[str, Any]] = {}
        self._memo_ok: dict[str, bool] = {}
        self._parent_misses: dict[tuple[str, str], int] = {}
        self.sink, self.backend = sink, backend
        self.partition_key, self.run_config = partition_key, run_config or {}
        self.code_versions = code_versions or {}
        self.plan = Plan.build(job.nodes)
        self.nodes = job.nodes
        self.values: dict[tuple[str, str, str | None], Any] = {}
        self.shared: dict[str, dict[str, Any]] = {n: {} for n in self.nodes}
        self.unresolved = dict(self.plan.n_shared_inputs)
        self.doomed: dict[str, str] = {}  # mapped node -> why every key of it is skipped
        self.state: dict[tuple[str, str | None], int] = {}
        self.pending_items: dict[tuple[str, str], int] = {}
        self.keys: dict[DynSource, list[str]] = {}
        self.key_index: dict[DynSource, dict[str, int]] = {}
        self.source_status: dict[DynSource, str] = {}
        self.n_ok: dict[tuple[str, str], int] = {}
        self.collect_done: set[tuple[str, str]] = set()
        self.held: dict[str, list[ItemReport]] = {}
        self.retries: list[tuple[float, int, StepTask]] = []
        self.attempts: dict[str, int] = {}
        self.outcome_failed: list[str] = []
        self.exceptions: dict[str, BaseException] = {}

    # -- driving ---------------------------------------------------------------------------
    def execute(self) -> Outcome:
        capture.install()
        # A run keeps a lot of small, long-lived state; the default collector thresholds
        # rescan it every few hundred allocations (a third of the time of a 100k-step run).
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], _GC_THRESHOLD), *thresholds[1:])
        try:
            status = self._loop()
        except KeyboardInterrupt:
            self._cancel()
            raise
        finally:
            gc.set_threshold(*thresholds)
            capture.uninstall()
        error = None
        if status == FAILURE:
            error = f"Steps failed: {self.outcome_failed}"
        self.sink.run_finished(status, time.time(), error)
        self.sink.flush()
        return Outcome(status, self.values, self.keys, self.outcome_failed, self.exceptions, error)

    def _loop(self) -> str:
        if self.resume is not None:
            self._seed_resume(self.resume)
        for name in self.nodes:
            if (not self.nodes[name].is_mapped and self.unresolved[name] == 0
                    and self.state.get((name, None), _PENDING) == _PENDING):
                self._submit(name, None)
        backend = self.backend
        while True:
            if self.retries and self.retries[0][0] <= time.monotonic():
                self._submit_task(heapq.heappop(self.retries)[2])
                continue
            if not backend.in_flight():
                if not self.retries:
                    break
                time.sleep(max(0.0, self.retries[0][0] - time.monotonic()))
                continue
            wait = self.retries[0][0] - time.monotonic() if self.retries else None
            for report in backend.poll(wait):
                if isinstance(report, ItemReport):
                    self._on_item(report)
                else:
                    self._on_done(report)
        self._skip_unreached()
        return FAILURE if self.outcome_failed else SUCCESS

    def _cancel(self) -> None:
        now = time.time()
        for task in self.backend.shutdown(cancel=True):
            self._record(task.node, task.key, CANCELED, now, now, "interrupted (KeyboardInterrupt)")
        for _, _, task in self.retries:
            self._record(task.node, task.key, CANCELED, now, now, "interrupted before its retry")
        for name, node in self.nodes.items():  # what never started is recorded too
            if not node.is_mapped and self.state.get((name, None), _PENDING) == _PENDING:
                self._record(name, None, CANCELED, now, now, "not started: the run was interrupted")
        self.sink.event((now, None, "RUN_CANCELED", "WARNING", "Run interrupted by KeyboardInterrupt"))
        self.sink.run_finished(CANCELED, now, "interrupted (KeyboardInterrupt)")
        self.sink.flush()

    # -- submitting ------------------------------------------------------------------------
    def _submit(self, name: str, key: str | None) -> None:
        node = self.nodes[name]
        try:
            inputs = {in_name: self._materialize(v) for in_name, v in self.shared[name].items()}
            for in_name, b in node.inputs.items():
                if b.kind == ITEM:
                    inputs[in_name] = self._value(b.node, b.output, key)
                elif b.kind == DEFAULT:
                    inputs[in_name] = node.op.ins[in_name].default_value
        except MissingInput as missing:
            self._input_missing(name, key, missing)
            return
        index = None if key is None else self.key_index[node.scope][key]
        task = StepTask(name, key, index, node.op, inputs, self.configs.get(name),
                        self.run_id, self.partition_key, self.run_config)
        self._submit_task(task)

    def _submit_task(self, task: StepTask) -> None:
        self.state[(task.node, task.key)] = _RUNNING
        self.backend.submit(task)

    # -- reports ---------------------------------------------------------------------------
    def _on_item(self, report: ItemReport) -> None:
        task = report.task
        if task.op.retry_policy is not None and task.key is None:
            # A fan-out that may be retried releases its items only once the attempt succeeds,
            # so a retry cannot yield a key twice.
            self.held.setdefault(task.node, []).append(report)
            return
        self._add_key(DynSource(task.node, report.output_name), report.key, report.value)

    def _add_key(self, source: DynSource, key: str, value: Any) -> None:
        keys = self.keys.setdefault(source, [])
        index = len(keys)
        self.key_index.setdefault(source, {})[key] = index
        keys.append(key)
        self.values[(source.node, source.output, key)] = value
        self.sink.output((source.node, source.node, key, index, source.output, value))
        for name in self.plan.scope_nodes.get(source, ()):
            self.pending_items[(name, key)] = self.plan.n_item_inputs[name]
            self.state[(name, key)] = _PENDING
        for name in self.plan.scope_nodes.get(source, ()):
            if name in self.doomed and self.state[(name, key)] == _PENDING:
                self._skip_mapped(name, key, self.doomed[name])
        if self.resume is not None and self.resume.memo is not None and source.node in self.resume.executed:
            self._reuse_unchanged_key(source, key, value)
        for consumer, _ in self.plan.item_consumers.get((source.node, source.output), ()):
            self._resolve_item(consumer, key)

    def _on_done(self, report: DoneReport) -> None:
        task = report.task
        name, key = task.node, task.key
        attempts = self.attempts[task.step_key] = task.retry_number + 1
        self._store_logs(task.step_key, report.logs)
        if report.status == SUCCESS:
            self._record(name, key, SUCCESS, report.start, report.end, None, attempts)
            self.state[(name, key)] = _DONE
            self._publish(name, key, report.outputs, self.held.pop(name, ()))
            return
        policy = task.op.retry_policy
        if policy is not None and task.retry_number < policy.max_retries:
            self.held.pop(name, None)
            self.sink.event((report.end, task.step_key, "STEP_UP_FOR_RETRY", "WARNING",
                             f"attempt {attempts} failed; retrying:\n{report.error}"))
            retry = StepTask(name, key, task.key_index, task.op, task.inputs, task.config,
                             task.run_id, task.partition_key, task.run_config)
            retry.retry_number = task.retry_number + 1
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

    def _publish(self, name: str, key: str | None, outputs: dict[str, Any], held: Any = ()) -> None:
        node = self.nodes[name]
        sink, values = self.sink, self.values
        index = None if key is None else self.key_index[node.scope][key]
        step_key = name if key is None else f"{name}[{key}]"
        produced = [o for o, spec in node.op.outs.items() if not spec.is_dynamic and o in outputs]
        # All outputs go to the sink before anything downstream can record a step, so the
        # step's row and its outputs always land in one batch.
        for out_name in produced:
            value = values[(name, out_name, key)] = outputs[out_name]
            sink.output((step_key, name, key, index, out_name, value))
        for item in held:  # a retried fan-out's items, released now that its attempt succeeded
            self._add_key(DynSource(name, item.output_name), item.key, item.value)
        for out_name, spec in node.op.outs.items():
            if spec.is_dynamic:
                continue
            if out_name not in outputs:
                self._output_missing(name, key, out_name)
                continue
            if key is None:
                value = values[(name, out_name, None)]
                for consumer, in_name in self.plan.value_consumers.get((name, out_name), ()):
                    self._resolve_shared(consumer, in_name, value)
            else:
                for consumer, _ in self.plan.item_consumers.get((name, out_name), ()):
                    self._resolve_item(consumer, key)
                self.n_ok[(name, out_name)] = self.n_ok.get((name, out_name), 0) + 1
                self._check_collect(name, out_name)
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
        for key in list(self.keys.get(node.scope, ())):
            if self.state.get((name, key)) == _PENDING and self.pending_items[(name, key)] == 0:
                self._submit(name, key)

    def _resolve_item(self, name: str, key: str) -> None:
        slot = (name, key)
        left = self.pending_items[slot] - 1
        self.pending_items[slot] = left
        if left == 0 and self.unresolved[name] == 0 and self.state[slot] == _PENDING:
            self._submit(name, key)

    def _check_collect(self, name: str, out_name: str) -> None:
        node = self.nodes[name]
        source = node.scope or DynSource(name, out_name)
        if (name, out_name) in self.collect_done or self.source_status.get(source) != SUCCESS:
            return
        keys = self.keys.get(source, [])
        complete = node.scope is None or self.n_ok.get((name, out_name), 0) == len(keys)
        if not complete:
            return
        self.collect_done.add((name, out_name))
        consumers = self.plan.collect_consumers.get((name, out_name), ())
        if not keys and not self.nodes[source.node].op.outs[source.output].is_required:
            for consumer, _ in consumers:
                self._skip_node(consumer, f"the fan-out {source} yielded no items (is_required=False)")
            return
        collected = CollectedInput(name, out_name, keys)
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
        if key is not None:
            self._item_bad(name, key, out_name, reason)
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
        index = None if key is None else self.key_index[node.scope][key]
        step_key = name if key is None else f"{name}[{key}]"
        self.sink.step((step_key, name, key, index, status, attempts, start, end, error,
                        self.code_versions.get(name)))

    def _store_logs(self, step_key: str, logs: list) -> None:
        if logs:
            for ts, kind, level, text in capture.join_chunks(logs):
                self.sink.event((ts, step_key, kind, level, text))
