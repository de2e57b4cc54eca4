"""How nbflow's objects show in a notebook: the widget layer's side of :mod:`nbflow.hooks`.

``import nbflow`` registers :class:`WidgetDisplay`; the views themselves (and anywidget)
are imported the first time something is shown.
"""

from __future__ import annotations

import html
import threading
from typing import Any

from nbflow import hooks
from nbflow.definitions.graph import JobDefinition
from nbflow.partitions.dynamic import DynamicPartitionsDefinition
from nbflow.runtime.run import Run
from nbflow.sensors.definition import SensorDefinition
from nbflow.widgets import live


class WidgetDisplay:
    """Jobs as JobViews, partition sets as PartitionsViews, sensors as SensorViews, runs as RunViews."""

    def mimebundle(self, obj: Any) -> dict[str, Any] | None:
        if not live.in_widget_kernel():
            if isinstance(obj, SensorDefinition):  # a static table, not just the repr
                from nbflow.widgets.sensor_static import sensor_html

                return {"text/plain": repr(obj), "text/html": sensor_html(obj)}
            return None
        if isinstance(obj, Run) and obj._live_view is not None \
                and obj._live_count == live.execution_count():
            # job.run() already showed a live view of this run in this cell: one line, not a second view
            return {"text/plain": repr(obj),
                    "text/html": f"<div class='nbflow-muted'>{html.escape(repr(obj))}: shown above</div>"}
        bundle: dict[str, Any] = self.widget(obj)._repr_mimebundle_()
        return bundle

    def widget(self, obj: Any, **options: Any) -> Any:
        if isinstance(obj, JobDefinition):
            from nbflow.widgets.job_view import JobView

            return JobView(obj, **options)
        if isinstance(obj, DynamicPartitionsDefinition):
            from nbflow.widgets.partitions_view import PartitionsView

            return PartitionsView(obj, **options)
        if isinstance(obj, SensorDefinition):
            from nbflow.widgets.sensor_view import SensorView

            return SensorView(obj, **options)
        if isinstance(obj, Run):
            from nbflow.widgets.run_view import RunView

            return RunView(obj, **options)
        raise TypeError(f"nbflow has no view of {type(obj).__name__} objects; it shows jobs, "
                        "DynamicPartitionsDefinitions, sensors and runs.")

    def live_view(self, instance: Any, job: Any = None) -> Any:
        """A displayed live RunView, or None outside a notebook or off the main thread (a sensor's
        background runs must not print views into whatever cell happens to run)."""
        if threading.current_thread() is not threading.main_thread():
            return None
        jupyter = live.in_widget_kernel()
        if not (jupyter or live.in_marimo()):
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

    def execution_count(self) -> int | None:
        return live.execution_count()


def install() -> None:
    """Make definitions and runs show as this module's views."""
    hooks.register_display(WidgetDisplay())
