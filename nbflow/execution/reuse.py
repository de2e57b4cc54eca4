"""The executor's rerun side: inputs loaded from a parent run, and steps kept from it.

A rerun executes only the steps its selection names (see :mod:`nbflow.execution.resume`).
Every other input is a placeholder resolved when the consuming step is submitted: a few
values of an output are loaded one by one, more at once. A value that no longer loads
fails only the step that needs it. When a fan-out runs again and yields a key with the
item it had, the parent's finished steps of that key are kept.

Two objects, each with what it needs handed over explicitly: :class:`InputValues` turns
the executor's resolved inputs into values (every run has one), and :class:`RerunReuse`
seeds a rerun and keeps unchanged keys, working on the run through :class:`RunState`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from nbflow.definitions.compose import COLLECT, ITEM, VALUE, DynSource
from nbflow.execution.events import ReusedStep
from nbflow.execution.resume import KeptFrom, ParentView, Resume
from nbflow.execution.run_values import RunValues
from nbflow.execution.state import DONE, PENDING, CollectedInput, MissingInput, ParentInput
from nbflow.execution.step import CANCELED, FAILURE, SKIPPED, SUCCESS

if TYPE_CHECKING:
    from nbflow.execution.events import EventSink
    from nbflow.execution.plan import Plan

_FEW = 64  # up to this many values of one output are loaded from a parent run one by one

class RunState(Protocol):
    """What :class:`RerunReuse` reads and changes of a run: the executor implements it."""

    nodes: dict[str, Any]
    plan: Plan
    sink: EventSink
    values: RunValues
    state: dict[tuple[str, str | None], int]
    keys: dict[DynSource, list[str]]
    source_status: dict[DynSource, str]
    n_ok: dict[tuple[str, str], int]
    pending_items: dict[tuple[str, str], int]
    code_versions: dict[str, str]
    outcome_failed: list[str]

    def _record(self, name: str, key: str | None, status: str, start: float, end: float,
                error: str | None, attempts: int = 0) -> None: ...
    def _resolve_shared(self, name: str, in_name: str, value: Any) -> None: ...
    def _resolve_item(self, name: str, key: str, index: int | None = None) -> None: ...
    def _submit(self, name: str, key: str | None, index: int | None = None) -> None: ...
    def _check_collect(self, name: str, out_name: str) -> None: ...
    def _collect_bad(self, name: str, out_name: str, reason: str) -> None: ...


def carried_words(status: str | None) -> str:
    """How a step that did not succeed in the parent ended, in words."""
    return {None: "never ran", FAILURE: "failed", CANCELED: "was canceled",
            SKIPPED: "was skipped"}.get(status, f"ended {status}")


class InputValues:
    """The values of a step's inputs: the run's own, else loaded from the parent of a rerun."""

    def __init__(self, values: RunValues, resume: Resume | None) -> None:
        self.values, self.resume = values, resume
        self._parent_values: dict[tuple[str, str], dict[str, Any]] = {}
        self._parent_misses: dict[tuple[str, str], int] = {}

    def materialize(self, value: Any) -> Any:
        """A resolved shared input as the value the step gets (a collect becomes its list)."""
        kind = type(value)
        if kind is CollectedInput:
            node, output = value.node, value.output
            if self.resume is not None and (node, output) not in self._parent_values:
                missing = sum(1 for k in value.keys if (node, output, k) not in self.values)
                if missing > _FEW:
                    self._load_parent_all(node, output)
            try:
                return self.values.of_keys(node, output, value.keys)
            except KeyError:  # some are the parent's (a rerun), loaded one by one or at once
                return [self.value(node, output, k) for k in value.keys]
        if kind is ParentInput:
            return self.value(value.node, value.output, None)
        return value

    def value(self, node: str, output: str, key: str | None) -> Any:
        try:
            return self.values[(node, output, key)]
        except KeyError:
            return self.load_parent(node, output, key)

    def load_parent(self, node: str, output: str, key: str | None) -> Any:
        step = node if key is None else f"{node}[{key}]"
        if self.resume is None:
            raise MissingInput(step, output, "it was never produced")
        loader = self.resume.loader
        try:
            if key is None:
                value = loader.load(node, output, None)
                self.values[(node, output, None)] = value
                return value
            cache = self._parent_values.get((node, output))
            if cache is None:
                # A few keys are loaded one by one; past that, every key at once.
                misses = self._parent_misses[(node, output)] = self._parent_misses.get((node, output), 0) + 1
                if misses <= _FEW:
                    cache = loader.load_some(node, output, [key])
                else:
                    cache = self._load_parent_all(node, output)
        except Exception as exc:  # a value that no longer loads (type gone, table dropped...)
            raise MissingInput(step, output, f"{type(exc).__name__}: {exc}") from exc
        if key not in cache:
            status = self.resume.parent.key_status(node, key) if self.resume.parent is not None else None
            why = "the parent run stored no value for it" if status in (None, SUCCESS) else f"that step {carried_words(status)} there"
            raise MissingInput(step, output, why)
        return cache[key]

    def _load_parent_all(self, node: str, output: str) -> dict[str, Any]:
        cache = self._parent_values[(node, output)] = self.resume.loader.load_all(node, output)  # type: ignore[union-attr]
        return cache


class RerunReuse:
    """Seeds a rerun's executor from the parent run and keeps the unchanged keys of a fan-out
    that runs again."""

    def __init__(self, run: RunState, resume: Resume, inputs: InputValues) -> None:
        self.run, self.resume, self.inputs = run, resume, inputs
        self._memo_ok: dict[tuple[str, str], bool] = {}
        self._carried_roots: dict[str, tuple[str, str | None]] = {}  # key -> (first node, status) carried unfinished
        self._carried_status: dict[tuple[str, str], str | None] = {}  # (node, key) -> the parent's status of it

    # -- reruns ----------------------------------------------------------------------------
    def reuse_unchanged_key(self, source: DynSource, key: str, value: Any) -> None:
        """A re-run fan-out yielded ``key`` again: keep the finished mapped steps of that key
        from the nearest run of the lineage that yielded it with the same item and whose ops'
        code and shared inputs are unchanged."""
        memo = self.resume.memo
        if not memo:
            return
        scope = self.run.plan.scope_nodes.get(source, ())
        for earlier in memo:
            view = earlier.view
            if not any(key in view.ok_keys.get(name, ()) for name in scope):
                continue  # it finished nothing of this key: look further back
            if self._item_unchanged(earlier, earlier is memo[0], source, key, value):
                self._keep_key(earlier, earlier is memo[0], source, key)
                return

    def _item_unchanged(self, earlier: KeptFrom, is_parent: bool, source: DynSource, key: str,
                        value: Any) -> bool:
        try:
            if is_parent:  # loaded in bulk past a few keys
                before = self.inputs.load_parent(source.node, source.output, key)
            else:
                found = earlier.loader.load_some(source.node, source.output, [key])
                if key not in found:
                    return False
                before = found[key]
            return type(before) is type(value) and bool(before == value)
        except Exception:  # not stored, or not comparable (arrays, frames): run it again
            return False

    def _keep_key(self, earlier: KeptFrom, is_parent: bool, source: DynSource, key: str) -> None:
        view = earlier.view
        reused: set[str] = {source.node}
        kept: list[str] = []
        # Every kept step of the key is marked done before any consumer is resolved: resolving
        # a[k] must not submit b[k] when b[k] is kept as well (it would run and be recorded twice).
        for name in self.run.plan.scope_nodes.get(source, ()):
            node = self.run.nodes[name]
            if (self.run.state.get((name, key)) != PENDING or not self._memo_node_ok(name, view)
                    or key not in view.ok_keys.get(name, ())
                    or any(b.node not in reused for b in node.inputs.values() if b.kind == ITEM)):
                continue
            reused.add(name)
            kept.append(name)
            self.run.state[(name, key)] = DONE
            self.run.sink.reused(ReusedStep(name, key, view.run_id))
        for name in kept:
            for out_name, spec in self.run.nodes[name].op.outs.items():
                if spec.is_dynamic:
                    continue
                if not is_parent:  # later steps load inputs from the parent: give them these
                    self._load_kept(earlier, name, out_name, key)
                for consumer, _ in self.run.plan.item_consumers.get((name, out_name), ()):
                    self.run._resolve_item(consumer, key)
                self.run.n_ok[(name, out_name)] = self.run.n_ok.get((name, out_name), 0) + 1
                self.run._check_collect(name, out_name)

    def _load_kept(self, earlier: KeptFrom, name: str, out_name: str, key: str) -> None:
        try:
            found = earlier.loader.load_some(name, out_name, [key])
        except Exception:  # whoever needs it fails with the loader's message
            return
        if key in found:
            self.run.values[(name, out_name, key)] = found[key]

    def _memo_node_ok(self, name: str, view: ParentView) -> bool:
        cached = self._memo_ok.get((name, view.run_id))
        if cached is None:
            node = self.run.nodes[name]
            shared_reused = all(
                b.node not in self.resume.executed
                for b in node.inputs.values() if b.kind in (VALUE, COLLECT)
            )
            cached = self._memo_ok[(name, view.run_id)] = (
                shared_reused and self.run.code_versions.get(name) == view.code_versions.get(name)
            )
        return cached

    def seed(self) -> None:
        """Mark reused steps done, know the parent's keys, resolve inputs available from it."""
        resume = self.resume
        for source, keys in resume.parent_keys.items():
            self.run.keys[source] = list(keys)
            self.run.source_status[source] = SUCCESS
        executed = resume.executed
        for name, node in self.run.nodes.items():
            if not node.is_mapped and name not in executed:
                self.run.state[(name, None)] = DONE
        incomplete: list[tuple[str, str, str]] = []  # collects that a carried key leaves short
        for name, node in self.run.nodes.items():
            if not node.is_mapped:
                continue
            if node.scope not in resume.parent_keys:
                continue  # its fan-out runs again: keys arrive as it yields
            keys = self.run.keys[node.scope]
            wanted: set[str] | None = executed.get(name, set())
            run_keys = keys if wanted is None else [k for k in keys if k in wanted]
            carried = self._carry_unfinished(name, keys, wanted, resume)
            for out_name, spec in node.op.outs.items():
                if not spec.is_dynamic:
                    self.run.n_ok[(name, out_name)] = len(keys) - len(run_keys) - len(carried)
                    if carried:
                        incomplete.append((name, out_name, self._carried_reason(name, carried, resume)))
            n_items = [b for b in node.inputs.values() if b.kind == ITEM]
            for key in run_keys:
                self.run.state[(name, key)] = PENDING
                self.run.pending_items[(name, key)] = sum(
                    1 for b in n_items if b.node in executed and resume.runs(b.node, key)
                    and self.run.nodes[b.node].is_mapped
                )
        for name, out_name, reason in incomplete:
            self.run._collect_bad(name, out_name, reason)
        for name, node in self.run.nodes.items():
            if name in executed:
                self._seed_shared_inputs(name, node, resume)

    def _carry_unfinished(self, name: str, keys: list[str], wanted: set[str] | None,
                          resume: Resume) -> dict[str, str | None]:
        """Keys of mapped node ``name`` this rerun does not run and the parent did not finish:
        they stay as the parent left them (its rows are copied), key -> the parent's status."""
        parent = resume.parent
        if parent is None or wanted is None:
            return {}
        ok = parent.ok_keys.get(name, set())
        carried = {k: parent.key_status(name, k) for k in keys if k not in wanted and k not in ok}
        now = time.time()
        for key, status in carried.items():
            self.run.state[(name, key)] = DONE
            if status is None:  # the parent never recorded it: say so in this run
                self.run._record(name, key, SKIPPED, now, now,
                             f"not run: it had not run in run {parent.run_id[:8]} and this rerun did not select it")
            if status != SKIPPED:  # a skip is the consequence of a failure upstream of it
                self.run.outcome_failed.append(f"{name}[{key}]")
        return carried

    def _carried_reason(self, name: str, carried: dict[str, str | None], resume: Resume) -> str:
        """Why the collect of ``name`` cannot be complete, naming the steps that did not succeed
        (for a key skipped in the parent, the step upstream of it that failed)."""
        parent = resume.parent.run_id[:8] if resume.parent is not None else "the parent run"
        roots: dict[str, list[str]] = {}
        for key, status in carried.items():
            root, root_status = self._carried_roots.setdefault(key, (name, status))
            roots.setdefault(root, []).append(key)
            self._carried_status[(root, key)] = root_status
        parts, hints = [], []
        for root, keys in roots.items():
            words = {carried_words(self._carried_status[(root, k)]) for k in keys}
            shown = ", ".join(f"{root}[{k}]" for k in keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            parts.append(f"{shown} {' or '.join(sorted(words))}")
            hints.append(f"run.rerun({root!r}, keys={keys[:5]!r})")
        return (f"the outputs of {name} to collect are incomplete: {'; '.join(parts)} in run {parent} and "
                f"this rerun did not include {'it' if len(carried) == 1 else 'them'}. Use {hints[0]}, or "
                f"run.rerun(failed=True) for every step that did not succeed.")

    def _seed_shared_inputs(self, name: str, node: Any, resume: Resume) -> None:
        for in_name, b in node.inputs.items():
            if b.kind == VALUE and b.node not in resume.executed:
                self.run._resolve_shared(name, in_name, ParentInput(b.node, b.output))
            elif b.kind == COLLECT:
                upstream = self.run.nodes[b.node]
                source = upstream.scope or DynSource(b.node, b.output)
                if source in resume.parent_keys and b.node not in resume.executed:
                    self.run._resolve_shared(name, in_name, CollectedInput(b.node, b.output, self.run.keys[source]))
        # With shared inputs, _resolve_shared submitted the ready keys when the last resolved.
        if node.is_mapped and self.run.plan.n_shared_inputs[name] == 0:
            for key in self.run.keys.get(node.scope, ()):
                if self.run.state.get((name, key)) == PENDING and self.run.pending_items[(name, key)] == 0:
                    self.run._submit(name, key)

