"""A sensor as a static table: how it shows outside a kernel, and the fallback in a SensorView's bundle."""

from __future__ import annotations

import html
from typing import Any


def sensor_html(sensor: Any, instance: Any = None, limit: int = 10) -> str:
    """A static summary: status, interval, cursor and the latest ticks."""
    from nbflow.runtime.sensor_loop import status
    from nbflow.sensors.definition import _instance

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

