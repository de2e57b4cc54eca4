"""When to show a live view: in a Jupyter kernel, from the thread running the cell."""

from __future__ import annotations

import sys


def in_widget_kernel() -> bool:
    """True in a Jupyter kernel, where a widget can be shown (not in a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def execution_count() -> int | None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "execution_count", None)


def in_marimo() -> bool:
    """True while a marimo notebook runs a cell (marimo shows widgets through its own output)."""
    marimo = sys.modules.get("marimo")
    try:
        return marimo is not None and bool(marimo.running_in_notebook())
    except Exception:  # an old or partial marimo: behave as outside a notebook
        return False

