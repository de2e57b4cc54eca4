"""The shape of a job's graph, from its definition or from what a run stored.

A run stores its job's shape (``runs.graph``), so a run can be drawn after the
kernel restarted, when the job's cell has not been run again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nbflow.definitions.topology import JobTopology


@dataclass(frozen=True)
class Edge:
    kind: str  # "value", "item" or "collect"
    node: str
    output: str


@dataclass
class ShapeNode:
    name: str
    is_mapped: bool = False
    is_fanout: bool = False
    inputs: dict[str, Edge] = field(default_factory=dict)


def shape_of(job: Any) -> dict[str, ShapeNode]:
    """The shape of a job definition (or an already built shape, returned as is)."""
    if isinstance(job, dict):
        return job
    nodes = job.nodes
    topology = topology_of(job)
    shape = {}
    for name, node in nodes.items():
        edges = {input_name: Edge(b.kind, b.node, b.output or "result")
                 for input_name, b in node.inputs.items() if b.node is not None and b.kind != "default"}
        shape[name] = ShapeNode(name, node.is_mapped, name in topology.fanouts, edges)
    return shape


def topology_of(job: Any) -> JobTopology:
    """The job's topology (built when it was defined), or one built for a job-like object."""
    found = getattr(job, "topology", None)
    return found if isinstance(found, JobTopology) else JobTopology.build(job.nodes)


def shape_to_json(job: Any) -> str:
    return json.dumps({
        name: {"mapped": n.is_mapped, "fanout": n.is_fanout,
               "inputs": {k: [e.kind, e.node, e.output] for k, e in n.inputs.items()}}
        for name, n in shape_of(job).items()
    })


def shape_from_json(text: str) -> dict[str, ShapeNode]:
    data = json.loads(text)
    return {name: ShapeNode(name, spec["mapped"], spec["fanout"],
                            {k: Edge(*v) for k, v in spec["inputs"].items()})
            for name, spec in data.items()}


def shape_from_steps(steps: Any) -> dict[str, ShapeNode]:
    """Last resort for runs stored without a shape: the nodes, without edges."""
    shape: dict[str, ShapeNode] = {}
    for op, mapped in steps.groupby("op", sort=False)["mapping_key"].apply(lambda s: s.notna().any()).items():
        shape[op] = ShapeNode(op, bool(mapped))
    return shape
