"""Running part of a job: Dagster's op-selection queries and asset selections.

``"name"`` selects one op (or every op of a graph of that name), ``"*name"`` it and all
it depends on, ``"name*"`` it and all that depends on it, and each ``+`` one level instead
of all (``"++name"``, ``"name+"``). The job that results runs only the selected ops; an
input that a left-out op fed must be given in run config (``"inputs"``) or have a default.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nbflow.definitions.compose import DEFAULT, ITEM, Binding
from nbflow.definitions.topology import JobTopology, walk
from nbflow.errors import DefinitionError, did_you_mean

if TYPE_CHECKING:
    from nbflow.definitions.graph import JobDefinition

_QUERY = re.compile(r"^(\*|\++)?([^*+]+?)(\*|\++)?$")


def _depth(marks: str | None) -> int | None:
    if not marks:
        return 0
    return None if marks == "*" else len(marks)


def _matching(job: Any, name: str) -> set[str]:
    if name in job.nodes:
        return {name}
    inside = {n for n in job.nodes if n.startswith(name + ".")}  # every op of a graph
    if inside:
        return inside
    raise DefinitionError(
        f"op_selection names '{name}', which is not an op or graph of job '{job.name}'. "
        f"{did_you_mean(name, job.nodes)}"
    )


def select_ops(job: Any, selection: Iterable[str] | str) -> set[str]:
    """The node names a list of Dagster op-selection queries selects."""
    queries = [selection] if isinstance(selection, str) else list(selection)
    topology = job.topology
    chosen: set[str] = set()
    for query in queries:
        match = _QUERY.match(str(query).strip()) if isinstance(query, str) else None
        if match is None:
            raise DefinitionError(
                f"op_selection entry {query!r} is not a query: write 'name', '*name', 'name*', "
                "'+name' or 'name+'."
            )
        up, name, down = match.groups()
        start = _matching(job, name.strip())
        chosen |= walk(start, topology.parents, _depth(up)) | walk(start, topology.children, _depth(down))
    return chosen


def subset_job(job: JobDefinition, names: set[str]) -> JobDefinition:
    """A copy of ``job`` running only ``names``; inputs fed by left-out ops become
    inputs that run config must give (unless they have a default)."""
    if names == set(job.nodes):
        return job
    nodes = {}
    for name, node in job.nodes.items():
        if name not in names:
            continue
        if node.scope is not None and node.scope.node not in names:
            raise DefinitionError(
                f"The selection keeps op '{name}', which is mapped over the items of "
                f"'{node.scope}', but not the fan-out op '{node.scope.node}'. Select it too "
                f"(e.g. '{node.scope.node}*')."
            )
        inputs = {}
        for in_name, binding in node.inputs.items():
            if binding.node is None or binding.node in names:
                inputs[in_name] = binding
            elif binding.kind == ITEM:
                raise DefinitionError(
                    f"The selection keeps mapped op '{name}' but not op '{binding.node}', which "
                    f"feeds its input '{in_name}' per item. Select '{binding.node}' too."
                )
            else:
                inputs[in_name] = Binding(DEFAULT)
        nodes[name] = replace(node, inputs=inputs)
    clone = copy.copy(job)
    clone.nodes = nodes
    clone.topology = JobTopology.build(nodes)  # fewer nodes, other edges: not the job's topology
    clone.graph_outputs = {
        graph: outs for graph, outs in job.graph_outputs.items()
        if all(handle.node in names for handle in outs.values())
    }
    clone.top_outputs = {k: h for k, h in getattr(job, "top_outputs", {}).items() if h.node in names}
    if getattr(job, "is_asset_job", False):
        clone.assets = [a for a in job.assets if a.name in names]
    return clone


def asset_names(selection: Any) -> list[str]:
    """The node names of an asset selection: asset keys, asset definitions, names, or an
    :class:`~nbflow.AssetSelection`."""
    # AssetKey, AssetsDefinition and AssetSelection say their names themselves (``_asset_names``):
    # assets.py builds on this module's subset_job, so this module does not import them.
    if isinstance(selection, str) or hasattr(selection, "_asset_names"):
        selection = [selection]
    names: list[str] = []
    for item in selection:
        if hasattr(item, "_asset_names"):
            names.extend(item._asset_names())
        elif isinstance(item, str):
            parts = item.split("/")  # an asset key's user string "a/b": the asset is "b"
            if not all(parts):
                raise DefinitionError(f"AssetKey takes a non-empty str or list of str, got {parts!r}.")
            names.append(parts[-1])
        else:
            raise DefinitionError(
                f"asset_selection takes asset keys, @asset definitions or names, got {item!r}."
            )
    return names
