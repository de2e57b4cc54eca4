"""A job (and optionally a run's states) as DOT text.

How a fan-out reads at a glance:

* an op with a dynamic output has a double border;
* a mapped op is a 3-D box labelled ``name ×N`` with its counts per status
  (``4990 ok · 7 failed · 3 running``), one node however many keys it has;
* edges carrying items are bold; the edge into a collect ends in a crow's foot;
* an expanded mapped op also shows a cluster of its keys (the first few, or those of
  one status or matching a pattern), each coloured by status.

Nodes carry SVG ids (``node:<op>``, ``key:<op>:<key>``) so a view can tell which was clicked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from nbflow.definitions.status import Status, in_display_order
from nbflow.viz.shape import shape_of
from nbflow.viz.states import NodeState, states_from_steps

__all__ = ["Expanded", "NodeState", "job_dot", "states_from_steps"]

#: status -> (fill, border); text stays dark on every fill, so graphs read in dark themes too.
COLOURS: dict[str, tuple[str, str]] = {
    Status.SUCCESS: ("#e8f5e9", "#2e7d32"),
    Status.FAILURE: ("#ffebee", "#c62828"),
    Status.STARTED: ("#e3f2fd", "#1565c0"),
    Status.SKIPPED: ("#f5f5f5", "#9e9e9e"),
    Status.CANCELED: ("#fff3e0", "#ef6c00"),
    Status.INTERRUPTED: ("#fff3e0", "#ef6c00"),
    Status.QUEUED: ("#ffffff", "#bdbdbd"),
    Status.PENDING: ("#ffffff", "#bdbdbd"),
}
WORDS: dict[str, str] = {Status.SUCCESS: "ok", Status.FAILURE: "failed", Status.STARTED: "running",
                         Status.SKIPPED: "skipped", Status.CANCELED: "canceled",
                         Status.INTERRUPTED: "interrupted", Status.QUEUED: "queued"}
EDGE = "#757575"
FONT = "Helvetica,Arial,sans-serif"


@dataclass
class Expanded:
    """Keys of a mapped op to draw one by one: ``(key, status)`` pairs and how many matched."""

    keys: list[tuple[str, str]]
    matched: int
    what: str = "first"


def _text(value: str) -> str:
    # Backslashes in user text must not become DOT escapes such as \n, \l or \N.
    return value.replace("\\", "\\\\")


def _plain(value: str) -> str:
    """An attribute value holding text (escaped with :func:`_text`): never an HTML-like label,
    which the graphviz package would make of a name such as ``<untitled>``."""
    import graphviz

    return cast(str, graphviz.nohtml(value))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _counts(state: NodeState) -> str:
    return " · ".join(f"{n} {WORDS.get(s, s.lower())}" for s, n in in_display_order(state.counts).items())


def _label(node: Any, state: NodeState | None, is_fanout: bool) -> str:
    name = _text(node.name)
    if node.is_mapped:
        total = state.total if state else 0
        head = f"{name} ×{total}" if state else f"{name} (mapped)"
        lines = [head]
        if state and state.counts:
            lines.append(_counts(state))
    else:
        lines = [name]
        if state and state.counts:
            lines.append(WORDS.get(state.status, state.status.lower()))
    if state and state.duration is not None:
        lines.append(_duration(state.duration))
    if state and state.reused:
        lines.append(f"{state.reused} reused" if node.is_mapped else "reused")
    if is_fanout:
        lines[0] += "  ⇉"
    return _plain("\\n".join(lines))


def job_dot(
    job: Any,
    states: Mapping[str, NodeState] | None = None,
    expanded: Mapping[str, Expanded] | None = None,
    selected: str | None = None,
    fanout_counts: Mapping[str, int] | None = None,
) -> str:
    """DOT text for ``job`` (a job or its stored shape); with ``states``, coloured and
    labelled by what a run did.

    Examples
    --------
    >>> import nbflow as nf
    >>> @nf.op
    ... def hello():
    ...     return 1
    >>> @nf.job
    ... def hello_job():
    ...     hello()
    >>> 'id="node:hello"' in job_dot(hello_job)
    True
    """
    import graphviz

    states = states or {}
    expanded = expanded or {}
    nodes = shape_of(job)
    ids = {name: f"n{i}" for i, name in enumerate(nodes)}
    graph = graphviz.Digraph(
        "job", graph_attr={"rankdir": "LR", "bgcolor": "transparent", "fontname": FONT, "nodesep": "0.25",
                           "ranksep": "0.45", "compound": "true", "fontcolor": EDGE},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "11",
                   "fontcolor": "#212121", "penwidth": "1.4", "margin": "0.12,0.06"},
        edge_attr={"color": EDGE, "fontname": FONT, "fontsize": "9", "fontcolor": EDGE, "arrowsize": "0.7"},
    )
    for name, node in nodes.items():
        is_fanout = node.is_fanout
        state = states.get(name)
        status = state.status if state is not None else (Status.PENDING.value if states else None)
        attrs = _node_attrs(node, state, status, is_fanout, selected == name)
        if name in expanded:
            with graph.subgraph(name=f"cluster_{ids[name]}") as cluster:
                cluster.attr(label=_cluster_label(name, expanded[name]), style="rounded,dashed", color=EDGE,
                             fontsize="10")
                cluster.node(ids[name], **attrs)
                _key_nodes(cluster, ids[name], name, expanded[name])
        else:
            graph.node(ids[name], **attrs)
    for name, node in nodes.items():
        for input_name, binding in node.inputs.items():
            graph.edge(ids[binding.node], ids[name], **_edge_attrs(binding, input_name, node))
    return cast(str, graph.source)


def _node_attrs(node: Any, state: NodeState | None, status: str | None, is_fanout: bool,
                selected: bool) -> dict[str, str]:
    fill, border = COLOURS.get(status or "", ("#ffffff", "#616161"))
    attrs = {
        "label": _label(node, state, is_fanout), "id": _plain(_text(f"node:{node.name}")), "fillcolor": fill,
        "color": border, "tooltip": _plain(_text(
            f"{node.name}: {(_counts(state) or status.lower()) if state and status else 'click for details'}")),
        "class": f"nbflow-node nbflow-status-{(status or 'none').lower()}", "style": "rounded,filled",
    }
    if node.is_mapped:
        attrs["shape"] = "box3d"
        attrs["style"] = "filled"
    if is_fanout:
        attrs["peripheries"] = "2"
    if status == Status.PENDING:
        attrs["style"] += ",dashed"
    if state is not None and state.reused and state.reused == state.total:
        attrs["style"] += ",dashed"  # everything copied from the parent run
    if selected:
        attrs["penwidth"] = "3"
    return attrs


def _edge_attrs(binding: Any, input_name: str, node: Any) -> dict[str, str]:
    attrs = {"tooltip": _plain(_text(f"{binding.node}.{binding.output} -> {node.name}.{input_name}"))}
    if binding.kind == "item":
        attrs.update(style="bold", penwidth="1.8")
    elif binding.kind == "collect":
        attrs.update(arrowhead="crow", arrowsize="1.0", label="collect")
    if binding.output not in (None, "result"):
        attrs["taillabel"] = _plain(_text(binding.output))
    return attrs


def _cluster_label(name: str, exp: Expanded) -> str:
    shown = len(exp.keys)
    return _plain(_text(f"{name}: {exp.what} {shown} of {exp.matched} keys" if exp.matched > shown
                        else f"{name}: {exp.what} {shown} keys"))


def _key_nodes(cluster: Any, parent_id: str, name: str, exp: Expanded) -> None:
    for i, (key, status) in enumerate(exp.keys):
        fill, border = COLOURS.get(status, COLOURS[Status.PENDING])
        key_id = f"{parent_id}k{i}"
        cluster.node(key_id, label=_plain(_text(key)), id=_plain(_text(f"key:{name}:{key}")), fillcolor=fill,
                     color=border, fontsize="9", margin="0.06,0.02", height="0.2",
                     tooltip=_plain(_text(f"{name}[{key}]: {status}")),
                     **{"class": f"nbflow-key nbflow-status-{status.lower()}"})
        cluster.edge(parent_id, key_id, style="dotted", arrowhead="none", color="#bdbdbd")
