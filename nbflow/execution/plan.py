"""The read-only structure the executor needs, derived once from a job's nodes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from nbflow.definitions.compose import COLLECT, DEFAULT, ITEM, VALUE, DynSource, Node


@dataclass
class Plan:
    """Consumers of every output, nodes of every fan-out scope, and input counts."""

    nodes: dict[str, Node]
    item_consumers: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    value_consumers: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    collect_consumers: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    scope_nodes: dict[DynSource, list[str]] = field(default_factory=dict)
    collected_in_scope: dict[DynSource, list[tuple[str, str]]] = field(default_factory=dict)
    n_item_inputs: dict[str, int] = field(default_factory=dict)
    n_shared_inputs: dict[str, int] = field(default_factory=dict)
    sources: dict[str, list[DynSource]] = field(default_factory=dict)

    @classmethod
    def build(cls, nodes: dict[str, Node]) -> Plan:
        plan = cls(nodes)
        Consumers = defaultdict[tuple[str, str], list[tuple[str, str]]]
        item: Consumers = defaultdict(list)
        value: Consumers = defaultdict(list)
        coll: Consumers = defaultdict(list)
        scope_nodes: defaultdict[DynSource, list[str]] = defaultdict(list)
        collected: defaultdict[DynSource, list[tuple[str, str]]] = defaultdict(list)
        for node in nodes.values():  # creation order is topological
            n_item = n_shared = 0
            for in_name, b in node.inputs.items():
                if b.kind == DEFAULT or b.node is None or b.output is None:
                    continue
                target = {ITEM: item, VALUE: value, COLLECT: coll}[b.kind]
                target[(b.node, b.output)].append((node.name, in_name))
                if b.kind == ITEM:
                    n_item += 1
                else:
                    n_shared += 1
                if b.kind == COLLECT:
                    upstream = nodes[b.node]
                    scope = upstream.scope or DynSource(upstream.name, b.output)
                    if (b.node, b.output) not in collected[scope]:
                        collected[scope].append((b.node, b.output))
            plan.n_item_inputs[node.name] = n_item
            plan.n_shared_inputs[node.name] = n_shared
            if node.scope is not None:
                scope_nodes[node.scope].append(node.name)
            dyn = [DynSource(node.name, o) for o, spec in node.op.outs.items() if spec.is_dynamic]
            if dyn:
                plan.sources[node.name] = dyn
        plan.item_consumers, plan.value_consumers = dict(item), dict(value)
        plan.collect_consumers = dict(coll)
        plan.scope_nodes, plan.collected_in_scope = dict(scope_nodes), dict(collected)
        return plan

    def downstream_of(self, name: str) -> set[str]:
        """Every node that depends, directly or not, on node ``name``."""
        children: dict[str, set[str]] = defaultdict(set)
        for node in self.nodes.values():
            for b in node.inputs.values():
                if b.node is not None:
                    children[b.node].add(node.name)
        seen: set[str] = set()
        todo = [name]
        while todo:
            for child in children[todo.pop()]:
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen
