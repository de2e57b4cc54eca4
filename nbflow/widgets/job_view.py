"""JobView: a job's graph, drawn before anything runs; click an op to see what it takes."""

from __future__ import annotations

import html
import pathlib
from typing import Any

import traitlets

from nbflow.widgets.base import View, view_module

STATIC = pathlib.Path(__file__).parent / "static"


class JobView(View):
    """The static graph of a job: ``JobView(job)``, or just display the job.

    Examples
    --------
    >>> import nbflow as nf
    >>> @nf.op
    ... def hello():
    ...     return 1
    >>> @nf.job
    ... def hello_job():
    ...     hello()
    >>> "node:hello" in JobView(hello_job).svg
    True
    """

    _esm = view_module("job_view.js")
    _css = STATIC / "run_view.css"

    job_name = traitlets.Unicode("").tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    partitions = traitlets.Unicode("").tag(sync=True)
    svg = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Dict().tag(sync=True)

    def __init__(self, job: Any, **kwargs: Any) -> None:
        from nbflow import viz

        super().__init__(**kwargs)
        self.job = job
        self.job_name = job.name
        self.description = job.description or ""
        self.partitions = job.partitions_def.name if job.partitions_def is not None else ""
        try:
            self.svg = viz.render_svg(viz.job_dot(job))
        except Exception as exc:  # no dot executable: say so instead of failing the display
            self.svg = f"<pre class='nbflow-graph-error'>{html.escape(f'{type(exc).__name__}: {exc}')}</pre>"

    def _do_select(self, node: str) -> None:
        self.selected = op_details(self.job, str(node))

    def static_html(self) -> str:
        return f"<div class='nbflow-jobview-static'><b>{html.escape(self.job_name)}</b>{self.svg}</div>"

def op_details(job: Any, name: str) -> dict[str, Any]:
    """An op's inputs (and where they come from), outputs, config fields and docstring."""
    node = job.nodes.get(name)
    if node is None:
        return {}
    op = node.op
    inputs = {k: (f"{b.kind} of {b.node}.{b.output}" if b.node else b.kind) for k, b in node.inputs.items()}
    outputs = {k: ("dynamic" if out.is_dynamic else "") for k, out in op.outs.items()}
    config = getattr(op, "config_schema", None)
    return {
        "node": name, "op": op.name, "mapped": node.is_mapped, "description": op.description or "",
        "inputs": inputs, "outputs": outputs, "config": repr(config) if config else "",
    }
