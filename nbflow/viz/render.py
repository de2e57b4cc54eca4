"""DOT text to SVG with a ``dot`` executable, found once and cached per DOT text."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

from nbflow.errors import NbflowError


class GraphvizNotFound(NbflowError, RuntimeError):
    """No ``dot`` executable: neither the system's nor the graphviz-pure wheel's."""


@functools.cache
def dot_executable() -> str:
    """The system's ``dot`` if on PATH, else the ``graphviz-pure`` wheel's executable."""
    found = shutil.which("dot")
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "graphviz-pure")
    if os.path.exists(beside):
        return beside
    found = shutil.which("graphviz-pure")
    if found:
        return found
    raise GraphvizNotFound(
        "Drawing a graph needs a Graphviz `dot` executable: `pip install graphviz-pure` (a dependency of "
        "nbflow, so reinstalling nbflow brings it back) or install Graphviz on the system."
    )


@functools.lru_cache(maxsize=64)
def render_svg(dot: str, timeout: float = 30.0) -> str:
    """Lay out ``dot`` and return the SVG text (the same DOT text is laid out once)."""
    proc = subprocess.run([dot_executable(), "-Tsvg"], input=dot.encode(), capture_output=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise NbflowError(f"Graphviz could not draw the graph: {proc.stderr.decode(errors='replace').strip()}")
    svg = proc.stdout.decode()
    return svg[svg.index("<svg"):] if "<svg" in svg else svg  # drop the XML prolog for inline HTML
