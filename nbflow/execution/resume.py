"""Re-execution: which steps of a job run again, and where the others' outputs come from.

A rerun executes a chosen set of steps and loads every other input from the stored
outputs of the parent run. The choice is expressed as ``executed``: node name ->
``None`` (every key, or an unmapped node) or a set of mapping keys (only those keys
of a mapped node). Nodes absent from ``executed`` are reused from the parent.

Selections are closed downstream by :func:`close_downstream`, which follows the
*same key* along a fan-out (``f[k]`` -> ``g[k]``) and only widens to every key where
a shared input (an unmapped upstream or a collect) changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nbflow.definitions.compose import ITEM, DynSource
from nbflow.errors import NbflowError, did_you_mean
from nbflow.execution.step import SUCCESS

Executed = dict[str, "set[str] | None"]


class ParentLoader(Protocol):
    def load(self, node: str, output: str, key: str | None) -> Any: ...
    def load_all(self, node: str, output: str) -> dict[str, Any]: ...
    def load_some(self, node: str, output: str, keys: list[str]) -> dict[str, Any]: ...


@dataclass
class ParentView:
    """What a rerun needs to know about the parent run."""

    run_id: str
    status: dict[str, str]  # unmapped node -> status; absent = never ran
    ok_keys: dict[str, set[str]]  # mapped node -> keys whose step succeeded
    keys: dict[DynSource, list[str]]  # fan-out keys in yield order
    code_versions: dict[str, str] = field(default_factory=dict)  # node -> hash of its op's code
    bad_keys: dict[str, dict[str, str]] = field(default_factory=dict)  # mapped node -> key -> status

    def key_status(self, node: str, key: str) -> str | None:
        """The parent's status of step ``node[key]``; None if it never recorded one."""
        if key in self.ok_keys.get(node, ()):
            return SUCCESS
        return self.bad_keys.get(node, {}).get(key)


@dataclass
class KeptFrom:
    """A run of the lineage a rerun of what failed may keep finished mapped steps from."""

    view: ParentView
    loader: ParentLoader


@dataclass
class Resume:
    """Handed to the executor: what runs, and how to load what does not."""

    parent_run_id: str
    executed: Executed
    parent_keys: dict[DynSource, list[str]]
    loader: ParentLoader
    # Set for reruns of what failed: a fan-out that runs again may yield keys it had yielded
    # before; a key whose item is unchanged keeps its finished mapped steps (see executor).
    # The parent first, then its own parent and so on: a rerun stopped before it stored a
    # key's steps does not lose what an earlier run of the lineage finished.
    memo: list[KeptFrom] | None = None
    # What the parent recorded per step: a mapped step that did not succeed there and is not
    # run again is carried into the child as it was (its collect cannot be complete).
    parent: ParentView | None = None

    def runs(self, node: str, key: str | None = None) -> bool:
        if node not in self.executed:
            return False
        keys = self.executed[node]
        return keys is None or key is None or key in keys


class RerunSelectionError(NbflowError, KeyError):
    """A rerun names an op or mapping key the run does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def close_downstream(nodes: dict[str, Any], executed: Executed) -> Executed:
    """Add everything downstream of ``executed``: the same keys along a fan-out, all keys
    past a shared input."""
    closed: Executed = dict(executed)
    for name, node in nodes.items():  # creation order is topological
        for binding in node.inputs.values():
            upstream = binding.node
            if upstream is None or upstream not in closed:
                continue
            up_keys = closed[upstream]
            if binding.kind == ITEM and up_keys is not None:
                if name not in closed:
                    closed[name] = set(up_keys)
                elif closed[name] is not None:
                    closed[name] |= up_keys  # type: ignore[operator]
            else:
                closed[name] = None
    return closed


def select_failed(nodes: dict[str, Any], parent: ParentView) -> Executed:
    """Every step that did not succeed in the parent, and everything downstream of it."""
    executed: Executed = {}
    for name, node in nodes.items():
        if not node.is_mapped:
            if parent.status.get(name) != SUCCESS:
                executed[name] = None
            continue
        if node.scope.node in executed:
            executed[name] = None
            continue
        ok = parent.ok_keys.get(name, set())
        missing = {k for k in parent.keys.get(node.scope, ()) if k not in ok}
        if missing:
            executed[name] = missing
    return close_downstream(nodes, executed)


def select_op(nodes: dict[str, Any], parent: ParentView, op: str, keys: Iterable[str] | None,
              downstream: bool) -> Executed:
    """The steps of one op (optionally some keys of it), and with ``downstream`` what they feed."""
    if op not in nodes:
        raise RerunSelectionError(f"The job has no op '{op}' to rerun. {did_you_mean(op, nodes)}")
    node = nodes[op]
    is_fanout = any(spec.is_dynamic for spec in node.op.outs.values())
    if keys is not None:
        if isinstance(keys, str):
            raise RerunSelectionError(f"keys= takes a list of mapping keys, not the str {keys!r}: use keys=[{keys!r}].")
        if not node.is_mapped:
            raise RerunSelectionError(
                f"op '{op}' is not mapped, so it has no mapping keys; call rerun({op!r}) without keys=."
            )
        wanted = list(dict.fromkeys(keys))
        known = parent.keys.get(node.scope, [])
        known_set = set(known)
        for key in wanted:
            if key not in known_set:
                raise RerunSelectionError(
                    f"op '{op}' has no mapping key {key!r} in run {parent.run_id[:8]}. "
                    f"{did_you_mean(key, known)}"
                )
        executed: Executed = {op: set(wanted)}
    else:
        executed = {op: None}
    if is_fanout and not downstream:
        raise RerunSelectionError(
            f"op '{op}' is a fan-out: rerunning it can change its mapping keys, so what it feeds must "
            f"run again too. Use rerun({op!r}, downstream=True)."
        )
    return close_downstream(nodes, executed) if downstream else executed
