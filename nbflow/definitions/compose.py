"""Wiring ops into graphs: the handles a job body passes around, and the rules.

Inside a ``@job``/``@graph`` body, calling an op records a :class:`Node` and
returns handles for its outputs:

* :class:`OutputHandle` -- a plain output (or, inside a ``map`` body, the value
  for one mapping key);
* :class:`DynamicHandle` -- a fan-out: ``.map(fn)`` and ``.collect()``;
* :class:`CollectHandle` -- every item of a fan-out gathered into a list.

The rules are checked here, when the job is defined, so a bad graph never runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from nbflow.errors import DefinitionError, DynamicWiringError

VALUE, ITEM, COLLECT, DEFAULT = "value", "item", "collect", "default"


class DynSource(NamedTuple):
    """The dynamic output whose items define the mapping keys of a fan-out."""

    node: str
    output: str

    def __str__(self) -> str:
        return f"{self.node}:{self.output}"


@dataclass(frozen=True)
class Binding:
    """Where an input gets its value: an upstream output, per key, collected, or default."""

    kind: str
    node: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class Node:
    """One invocation of an op in a job. ``scope`` is set when the node is mapped."""

    name: str
    op: Any  # OpDefinition
    inputs: dict[str, Binding]
    scope: DynSource | None

    @property
    def is_mapped(self) -> bool:
        return self.scope is not None


@dataclass(frozen=True)
class OutputHandle:
    node: str
    output: str
    scope: DynSource | None = None


@dataclass(frozen=True)
class CollectHandle:
    node: str
    output: str
    source: DynSource


class DynamicHandle:
    """A fan-out: the items of a ``DynamicOut``, or of a ``map`` over one."""

    def __init__(self, node: str, output: str, source: DynSource) -> None:
        self.node, self.output, self.source = node, output, source

    def map(self, fn: Callable[..., Any]) -> Any:
        """Apply ``fn`` (an op, a graph, or a function wiring ops) to every item."""
        builder = current_builder("map")
        item = OutputHandle(self.node, self.output, self.source)
        result = fn(item)
        return builder.wrap_map_result(result, self.source)

    def collect(self) -> CollectHandle:
        """Gather every item into one list, in the order the fan-out op yielded them."""
        current_builder("collect")
        return CollectHandle(self.node, self.output, self.source)

    def __repr__(self) -> str:
        return f"<dynamic output {self.node}:{self.output} over {self.source}>"


_state = threading.local()


def is_composing() -> bool:
    return bool(getattr(_state, "stack", None))


def current_builder(action: str = "wire ops") -> GraphBuilder:
    stack = getattr(_state, "stack", None)
    if not stack:
        raise DefinitionError(f"You can only {action} inside the body of a @job or @graph function.")
    return cast(GraphBuilder, stack[-1])


class GraphBuilder:
    """Collects the nodes a job body creates, in creation (topological) order."""

    def __init__(self, kind: str, name: str, fan_in_op: Callable[[int], Any]) -> None:
        self.kind, self.name = kind, name
        self.fan_in_op = fan_in_op  # makes the op of a fan-in node (op.fan_in_op; given, as ops use this module)
        self.nodes: dict[str, Node] = {}
        self.prefixes: list[str] = []
        self.graph_outputs: dict[str, dict[str, OutputHandle]] = {}
        self.graph_names: set[str] = set()  # names of inlined graph invocations

    def __enter__(self) -> GraphBuilder:
        if not hasattr(_state, "stack"):
            _state.stack = []
        _state.stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _state.stack.pop()

    def unique_name(self, base: str) -> str:
        name = ".".join([*self.prefixes, base])
        taken: Callable[[str], bool] = lambda candidate: candidate in self.nodes or candidate in self.graph_names  # noqa: E731
        if not taken(name):
            return name
        n = 2
        while taken(f"{name}_{n}"):
            n += 1
        return f"{name}_{n}"

    def add_node(self, op_def: Any, base_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Node:
        name = self.unique_name(base_name)
        inputs = self._bind_inputs(op_def, name, args, kwargs)
        scope = self._scope_of(name, op_def, inputs)
        if scope is not None:
            self._check_collect_of_own_scope(name, inputs, scope)
        if scope is not None and any(o.is_dynamic for o in op_def.outs.values()):
            raise DynamicWiringError(
                f"op '{name}' declares a DynamicOut but is mapped over the dynamic output "
                f'"{scope}": a fan-out inside a map (nested fan-out) is not supported yet. '
                f"Collect the outer fan-out first (.collect()) and fan out again in a later op."
            )
        node = Node(name, op_def, inputs, scope)
        self.nodes[name] = node
        return node

    def _bind_inputs(self, op_def: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                     ) -> dict[str, Binding]:
        in_names = list(op_def.ins)
        if len(args) > len(in_names):
            raise DefinitionError(
                f"In @{self.kind} {self.name}, op '{name}' takes {len(in_names)} input(s) "
                f"({', '.join(in_names) or 'none'}) but was called with {len(args)} positional argument(s)."
            )
        given = dict(zip(in_names, args, strict=False))
        for key, value in kwargs.items():
            if key not in op_def.ins:
                raise DefinitionError(
                    f"In @{self.kind} {self.name}, op '{name}' has no input '{key}'; "
                    f"its inputs are {in_names}."
                )
            if key in given:
                raise DefinitionError(f"In @{self.kind} {self.name}, op '{name}' got input '{key}' twice.")
            given[key] = value
        bindings = {}
        for in_name in op_def.ins:
            if in_name not in given:
                # As in Dagster, an input no op feeds may get its value from run config
                # ("inputs"); a run without one is refused before it starts.
                bindings[in_name] = Binding(DEFAULT)
                continue
            bindings[in_name] = self._binding_for(name, in_name, given[in_name])
        return bindings

    def _binding_for(self, name: str, in_name: str, value: Any) -> Binding:
        if isinstance(value, DynamicHandle):
            raise DynamicWiringError(
                f"In @{self.kind} {self.name}, op '{name}' received the dynamic output "
                f"'{value.output}' from op '{value.node}' directly (input '{in_name}'). "
                f"Dynamic output must be unpacked by invoking map or collect: .map(fn) or .collect()."
            )
        if isinstance(value, CollectHandle):
            return Binding(COLLECT, value.node, value.output)
        if isinstance(value, OutputHandle):
            return Binding(ITEM if value.scope else VALUE, value.node, value.output)
        if isinstance(value, list) and value and all(isinstance(v, (OutputHandle, CollectHandle)) for v in value):
            return self._fan_in(name, in_name, value)
        if isinstance(value, tuple) and value and all(isinstance(v, OutputHandle) for v in value):
            raise DefinitionError(
                f"In @{self.kind} {self.name}, input '{in_name}' of op '{name}' got all outputs of a "
                f"multi-output op; pick one by name, e.g. `a, b = upstream()` then pass `a`."
            )
        raise DefinitionError(
            f"In @{self.kind} {self.name}, input '{in_name}' of op '{name}' got the plain value "
            f"{value!r}. Inside a job, inputs come from other ops' outputs; pass constants "
            f"through op config or as an input default value."
        )

    def _fan_in(self, name: str, in_name: str, handles: list[Any]) -> Binding:
        """A list of outputs passed as one input (Dagster's fan-in): a small gathering node,
        ``<op>__<input>__fan_in``, makes the list, in the order given."""
        mapped = [h for h in handles if isinstance(h, OutputHandle) and h.scope is not None]
        if mapped:
            raise DynamicWiringError(
                f'Problematic dependency on dynamic output "{mapped[0].scope}": in @{self.kind} '
                f"{self.name}, input '{in_name}' of op '{name}' got a list holding the mapped output of "
                f"op '{mapped[0].node}'. Use .collect() to gather a fan-out."
            )
        gather = self.fan_in_op(len(handles))
        node = self.add_node(gather, f"{name}__{in_name}__fan_in".rsplit(".", 1)[-1], tuple(handles), {})
        return Binding(VALUE, node.name, "result")

    def _check_collect_of_own_scope(self, name: str, inputs: dict[str, Binding], scope: DynSource) -> None:
        """As in Dagster, a mapped op cannot also take the collect of the fan-out it is mapped over."""
        seen_item = seen_collect = False
        for in_name, binding in inputs.items():
            if binding.kind not in (ITEM, COLLECT):
                continue
            upstream = self.nodes[binding.node]  # type: ignore[index]
            source = upstream.scope or DynSource(upstream.name, binding.output)  # type: ignore[arg-type]
            if source != scope:
                continue
            if binding.kind == COLLECT and seen_item:
                raise DynamicWiringError(
                    f"In @{self.kind} {self.name}, op '{name}' cannot both collect over dynamic output "
                    f'"{scope}" (input \'{in_name}\') and be downstream of it. Collect in one op, then '
                    f"pass the list on, or map in another op."
                )
            if binding.kind == ITEM and seen_collect:
                raise DynamicWiringError(
                    f"In @{self.kind} {self.name}, op '{name}' cannot be both downstream of dynamic output "
                    f'"{scope}" (input \'{in_name}\') and collect over it. Collect in one op, then pass '
                    f"the list on, or map in another op."
                )
            seen_item |= binding.kind == ITEM
            seen_collect |= binding.kind == COLLECT

    def _scope_of(self, name: str, op_def: Any, inputs: dict[str, Binding]) -> DynSource | None:
        scopes: dict[DynSource, str] = {}
        for binding in inputs.values():
            if binding.kind != ITEM:
                continue
            upstream = self.nodes[binding.node]  # type: ignore[index]
            source = upstream.scope or DynSource(upstream.name, binding.output)  # type: ignore[arg-type]
            scopes.setdefault(source, binding.node)  # type: ignore[arg-type]
        if len(scopes) > 1:
            a, b = list(scopes)[:2]
            raise DynamicWiringError(
                f"In @{self.kind} {self.name}, op '{name}' cannot be downstream of more than one "
                f'dynamic output. It is downstream of both "{a}" and "{b}". Zipping or '
                f"crossing two fan-outs is not supported yet: collect one of them first."
            )
        return next(iter(scopes), None)

    def handles_for(self, node: Node) -> Any:
        handles: list[OutputHandle | DynamicHandle] = []
        for out_name, out in node.op.outs.items():
            if out.is_dynamic:
                handles.append(DynamicHandle(node.name, out_name, DynSource(node.name, out_name)))
            else:
                handles.append(OutputHandle(node.name, out_name, node.scope))
        if not handles:
            return None
        if len(handles) == 1:
            return handles[0]
        fields = NamedTuple(f"{node.op.name}_outputs", [(n, Any) for n in node.op.outs])  # type: ignore[misc]
        return fields(*handles)

    def wrap_map_result(self, result: Any, source: DynSource) -> Any:
        if result is None:
            return None
        if isinstance(result, OutputHandle):
            if result.scope != source:
                raise DynamicWiringError(
                    f"In @{self.kind} {self.name}, the function given to .map() over \"{source}\" "
                    f"returned the output of op '{result.node}', which is not mapped over it. "
                    f"Return an output of an op that takes the mapped item."
                )
            return DynamicHandle(result.node, result.output, source)
        if isinstance(result, tuple):
            wrapped = [self.wrap_map_result(r, source) for r in result]
            return type(result)(*wrapped) if hasattr(result, "_fields") else tuple(wrapped)
        if isinstance(result, (DynamicHandle, CollectHandle)):
            raise DynamicWiringError(
                f"In @{self.kind} {self.name}, the function given to .map() over \"{source}\" returned "
                f"a fan-out or a collect of another fan-out; nested fan-out is not supported yet."
            )
        raise DefinitionError(
            f"The function given to .map() must return op outputs (or None), got {result!r}."
        )


def invoke(op_def: Any, base_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    builder = current_builder()
    node = builder.add_node(op_def, base_name, args, kwargs)
    return builder.handles_for(node)


class AliasedOp:
    """An op used under another node name: ``my_op.alias("second")``."""

    def __init__(self, op_def: Any, name: str) -> None:
        from nbflow.errors import DefinitionError
        from nbflow.partitions.keys import validate_name

        self.op_def, self.name = op_def, validate_name(name, "op alias", DefinitionError)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if is_composing():
            return invoke(self.op_def, self.name, args, kwargs)
        return self.op_def(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.op_def, attr)

