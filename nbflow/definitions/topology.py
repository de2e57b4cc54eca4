"""A job's graph structure, computed once when the job is defined and read-only after.

Every part of nbflow that walks a job's wiring reads it from here: the executor (who
consumes each output, which nodes run per key of a fan-out), op selection (parents and
children), the drawn shape (which nodes fan out, which are mapped), the live view (how
many mapped steps each new key adds). Traversals are plain functions of the topology.

The mappings are plain dicts for speed on the executor's per-step path; the types say
``Mapping`` because nobody may change them after :meth:`JobTopology.build`.

Examples
--------
>>> import nbflow as nf
>>> @nf.op(out=nf.DynamicOut())
... def parts():
...     yield nf.DynamicOutput(1, mapping_key="a")
>>> @nf.op
... def double(x: int) -> int:
...     return 2 * x
>>> @nf.op
... def total(xs: list) -> int:
...     return sum(xs)
>>> @nf.job
... def parts_job():
...     total(parts().map(double).collect())
>>> topo = parts_job.topology
>>> topo.order, sorted(topo.mapped), sorted(topo.fanouts)
(('parts', 'double', 'total'), ['double'], ['parts'])
>>> sorted(topo.downstream_of("parts"))
['double', 'total']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nbflow.definitions.compose import COLLECT, DEFAULT, ITEM, VALUE, DynSource, Node

#: ``(node, output)`` -> the ``(consumer node, input name)`` pairs it feeds
Consumers = Mapping[tuple[str, str], tuple[tuple[str, str], ...]]


@dataclass(frozen=True, eq=False)
class JobTopology:
    """Nodes, their parents and children, the map/collect structure and a topological order."""

    #: every node, upstream before downstream (the order the job body created them in)
    order: tuple[str, ...]
    parents: Mapping[str, frozenset[str]]
    children: Mapping[str, frozenset[str]]
    #: mapped node -> the dynamic output whose keys it runs once per
    scopes: Mapping[str, DynSource]
    #: node -> its dynamic outputs (the fan-outs it starts)
    sources: Mapping[str, tuple[DynSource, ...]]
    #: nodes drawn as fan-outs: a dynamic output, or an unmapped node whose items feed a map
    fanouts: frozenset[str]
    item_consumers: Consumers
    value_consumers: Consumers
    collect_consumers: Consumers
    #: fan-out -> the mapped nodes that run once per key of it
    scope_nodes: Mapping[DynSource, tuple[str, ...]]
    #: fan-out -> the ``(node, output)`` pairs collected over its keys
    collected_in_scope: Mapping[DynSource, tuple[tuple[str, str], ...]]
    n_item_inputs: Mapping[str, int]  # inputs fed per key
    n_shared_inputs: Mapping[str, int]  # inputs fed once (a value or a collected list)
    #: fan-out node -> how many mapped steps each key it yields adds (chained maps too)
    mapped_per_fanout: Mapping[str, int]

    @property
    def mapped(self) -> frozenset[str]:
        return frozenset(self.scopes)

    @classmethod
    def build(cls, nodes: Mapping[str, Node]) -> JobTopology:
        """The topology of ``nodes`` (in creation order, which is topological)."""
        parents: dict[str, set[str]] = {name: set() for name in nodes}
        children: dict[str, set[str]] = {name: set() for name in nodes}
        consumers: dict[str, dict[tuple[str, str], list[tuple[str, str]]]] = {ITEM: {}, VALUE: {}, COLLECT: {}}
        scope_nodes: dict[DynSource, list[str]] = {}
        collected: dict[DynSource, list[tuple[str, str]]] = {}
        n_item: dict[str, int] = {}
        n_shared: dict[str, int] = {}
        for node in nodes.values():
            n_item[node.name] = n_shared[node.name] = 0
            for in_name, b in node.inputs.items():
                if b.kind == DEFAULT or b.node is None or b.output is None or b.node not in nodes:
                    continue
                parents[node.name].add(b.node)
                children[b.node].add(node.name)
                consumers[b.kind].setdefault((b.node, b.output), []).append((node.name, in_name))
                if b.kind == ITEM:
                    n_item[node.name] += 1
                else:
                    n_shared[node.name] += 1
                if b.kind == COLLECT:
                    upstream = nodes[b.node]
                    scope = upstream.scope or DynSource(upstream.name, b.output)
                    pairs = collected.setdefault(scope, [])
                    if (b.node, b.output) not in pairs:
                        pairs.append((b.node, b.output))
            if node.scope is not None:
                scope_nodes.setdefault(node.scope, []).append(node.name)
        sources = {node.name: tuple(DynSource(node.name, o) for o, spec in node.op.outs.items() if spec.is_dynamic)
                   for node in nodes.values()}
        feeding_items = {b.node for node in nodes.values() for b in node.inputs.values()
                         if b.kind == ITEM and b.node in nodes}
        # A mapped op that feeds another map passes its items on; it does not fan out.
        fanouts = {name for name, node in nodes.items()
                   if sources[name] or (name in feeding_items and node.scope is None)}
        return cls(
            order=tuple(nodes),
            parents={name: frozenset(found) for name, found in parents.items()},
            children={name: frozenset(found) for name, found in children.items()},
            scopes={name: node.scope for name, node in nodes.items() if node.scope is not None},
            sources={name: found for name, found in sources.items() if found},
            fanouts=frozenset(fanouts),
            item_consumers=_frozen(consumers[ITEM]),
            value_consumers=_frozen(consumers[VALUE]),
            collect_consumers=_frozen(consumers[COLLECT]),
            scope_nodes={scope: tuple(found) for scope, found in scope_nodes.items()},
            collected_in_scope={scope: tuple(found) for scope, found in collected.items()},
            n_item_inputs=n_item,
            n_shared_inputs=n_shared,
            mapped_per_fanout=_mapped_per_fanout(nodes),
        )

    def downstream_of(self, name: str) -> frozenset[str]:
        """Every node that depends, directly or not, on node ``name``."""
        return _reachable([name], self.children, None) - {name}

    def upstream_of(self, name: str) -> frozenset[str]:
        """Every node that node ``name`` depends on, directly or not."""
        return _reachable([name], self.parents, None) - {name}


def walk(start: Iterable[str], edges: Mapping[str, frozenset[str]], depth: int | None) -> frozenset[str]:
    """``start`` and the nodes reached from it along ``edges`` (``parents`` or ``children``),
    at most ``depth`` steps away (None: any distance)."""
    return _reachable(start, edges, depth)


def _reachable(start: Iterable[str], edges: Mapping[str, frozenset[str]], depth: int | None) -> frozenset[str]:
    seen = set(start)
    frontier, level = set(seen), 0
    while frontier and (depth is None or level < depth):
        frontier = {n for node in frontier for n in edges.get(node, ())} - seen
        seen |= frontier
        level += 1
    return frozenset(seen)


def _frozen(found: dict[tuple[str, str], list[tuple[str, str]]]) -> Consumers:
    return {key: tuple(pairs) for key, pairs in found.items()}


def _mapped_per_fanout(nodes: Mapping[str, Node]) -> dict[str, int]:
    """For each fan-out node, how many mapped nodes run once per key it yields (chained maps too)."""
    feeds: dict[str, int] = {}
    root: dict[str, str] = {}
    for name, node in nodes.items():  # creation order is topological
        if node.scope is None:
            continue
        item_sources = [b.node for b in node.inputs.values() if b.kind == ITEM and b.node is not None]
        if not item_sources:
            continue
        origin = root.get(item_sources[0], item_sources[0])
        root[name] = origin
        feeds[origin] = feeds.get(origin, 0) + 1
    return feeds
