"""Graphs of jobs and runs as DOT text, rendered to SVG in the kernel.

Building DOT is pure and cheap; :func:`render_svg` runs a ``dot`` executable (the
system's if on PATH, else the one the ``graphviz-pure`` wheel installs).
"""

from nbflow.viz.dot import NodeState, job_dot, states_from_steps
from nbflow.viz.render import GraphvizNotFound, render_svg

__all__ = ["GraphvizNotFound", "NodeState", "job_dot", "render_svg", "states_from_steps"]
