"""When to show a live view: in a Jupyter kernel, from the thread running the cell."""

from __future__ import annotations

import sys
import threading
from typing import Any


def in_widget_kernel() -> bool:
    """True in a Jupyter kernel, where a widget can be shown (not in a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    return shell is not None and getattr(shell, "kernel", None) is not None


def execution_count() -> int | None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    return getattr(shell, "execution_count", None)


def live_view(instance: Any = None, job: Any = None) -> Any:
    """A displayed live RunView, or None outside a kernel or off the main thread (a sensor's
    background runs must not print views into whatever cell happens to run)."""
    if not in_widget_kernel() or threading.current_thread() is not threading.main_thread():
        return None
    from IPython.display import display

    from nbflow.widgets.run_view import RunView

    view = RunView.live(job, instance)
    display(view)
    return view
