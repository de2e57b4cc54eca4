"""When to show a live view: in a Jupyter kernel, from the thread running the cell."""

from __future__ import annotations

import sys
import threading
from typing import Any


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


def live_view(instance: Any = None, job: Any = None) -> Any:
    """A displayed live RunView, or None outside a notebook or off the main thread (a sensor's
    background runs must not print views into whatever cell happens to run)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    jupyter, marimo = in_widget_kernel(), not in_widget_kernel() and in_marimo()
    if not (jupyter or marimo):
        return None
    from nbflow.widgets.run_view import RunView

    view = RunView.live(job, instance)
    if jupyter:
        from IPython.display import display

        display(view)
    else:
        import marimo as mo

        mo.output.append(view)  # the cell's output while it runs; the returned run shows the same view
    return view
