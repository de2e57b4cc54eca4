"""How a sensor shows in a notebook: a SensorView in a kernel, a static table elsewhere."""

from __future__ import annotations

import html
from typing import Any, cast


def sensor_html(sensor: Any, instance: Any = None, limit: int = 10) -> str:
    """A static summary: status, interval, cursor and the latest ticks."""
    from nbflow.sensors.definition import _instance
    from nbflow.sensors.runner import status

    inst = _instance(instance)
    state, detail = status(sensor.name, inst)
    ticks = inst.store.sensors.ticks(sensor.name, limit)
    rows = "".join(
        f"<tr><td>{t.start_time:%Y-%m-%d %H:%M:%S}</td><td>{html.escape(t.status)}</td>"
        f"<td>{sum(len(v) for v in (t.partitions_added or {}).values())}</td>"
        f"<td>{len(t.run_ids or [])}</td><td>{len(t.run_keys_skipped or [])}</td>"
        f"<td>{t.duration * 1000:.0f} ms</td></tr>"
        for t in ticks.itertuples()
    )
    jobs = ", ".join(job.name for job in sensor.jobs) or "no job"
    return (
        f"<div class='nbflow-sensor-static'><b>sensor {html.escape(sensor.name)}</b> → "
        f"{html.escape(jobs)}: <b>{state}</b>{' (' + html.escape(detail) + ')' if detail else ''}, "
        f"every {sensor.minimum_interval_seconds:g} s, cursor "
        f"<code>{html.escape(repr(inst.store.sensors.state(sensor.name).cursor))}</code>"
        "<table><tr><th>time</th><th>status</th><th>keys added</th><th>runs</th>"
        f"<th>run keys skipped</th><th>duration</th></tr>{rows}</table></div>"
    )


def sensor_bundle(sensor: Any) -> dict[str, Any]:
    """A SensorView in a kernel (with a static fallback in its bundle), else a static table."""
    from nbflow.widgets.live import in_widget_kernel

    if in_widget_kernel():
        from nbflow.widgets.sensor_view import SensorView

        return cast("dict[str, Any]", SensorView(sensor)._repr_mimebundle_())
    return {"text/plain": repr(sensor), "text/html": sensor_html(sensor)}
