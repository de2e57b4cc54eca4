"""SensorView: a sensor's status, cursor and ticks, with Start / Stop / Tick now / Preview.

State lives in synced traits; the buttons send custom messages that the kernel
handles against the store. The view refreshes itself after every tick of its sensor
(ticked from this view, from a cell, or by the background loop) and when the sensor
starts, stops or pauses, so it stays live while the sensor runs in the background.
"""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any

import traitlets

from nbflow.definitions.status import Status
from nbflow.runtime import ticks as tick_module
from nbflow.widgets import tracebacks
from nbflow.widgets.base import View, view_module
from nbflow.widgets.sensor_static import sensor_html

STATIC = pathlib.Path(__file__).parent / "static"
TICKS_SHOWN = 50
KEYS_SHOWN = 100


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


class SensorView(View):
    """A live view of one sensor: ``SensorView(sensor)`` or just display the sensor.

    Examples
    --------
    >>> import nbflow as nf
    >>> @nf.sensor()
    ... def watcher(context):
    ...     return nf.SkipReason("nothing yet")
    >>> view = SensorView(watcher, instance=nf.Instance.ephemeral())
    >>> view.status
    'stopped'
    """

    _esm = view_module("sensor_view.js")
    _css = STATIC / "sensor_view.css"

    sensor_name = traitlets.Unicode("").tag(sync=True)
    jobs = traitlets.List(traitlets.Unicode()).tag(sync=True)
    status = traitlets.Unicode("stopped").tag(sync=True)
    status_detail = traitlets.Unicode("").tag(sync=True)
    interval = traitlets.Float(30.0).tag(sync=True)
    cursor = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    ticks = traitlets.List(traitlets.Dict()).tag(sync=True)
    tick_count = traitlets.Int(0).tag(sync=True)
    selected = traitlets.Dict().tag(sync=True)
    preview = traitlets.Dict().tag(sync=True)

    def __init__(self, sensor: Any, instance: Any = None, **kwargs: Any) -> None:
        from nbflow.sensors.definition import _instance

        super().__init__(**kwargs)
        self.sensor = sensor
        self.instance = _instance(instance)
        self._lock = threading.Lock()
        self._said_at = 0  # the tick count when the current message was said
        self.sensor_name = sensor.name
        self.jobs = [job.name for job in sensor.jobs]
        self.interval = float(sensor.minimum_interval_seconds)
        tick_module.listen(sensor.name, self)
        self.refresh()

    # -- what the kernel shows ---------------------------------------------------------------------
    def refresh(self, _tick: Any = None) -> None:
        """Read status, cursor and the latest ticks from the store into the traits."""
        from nbflow.runtime.sensor_loop import status
        from nbflow.sensors.definition import SENSORS

        with self._lock:
            self.sensor = SENSORS.get(self.sensor_name, self.sensor)  # a redefined cell
            state, detail = status(self.sensor_name, self.instance)
            stored = self.instance.store.sensors.state(self.sensor_name)
            frame = self.instance.store.sensors.ticks(self.sensor_name, TICKS_SHOWN)
            count = self.instance.store.sensors.tick_count(self.sensor_name)
            rows = [_tick_row(t) for t in frame.itertuples()]
            self.hold_sync_and_set(status=state, status_detail=detail or stored.reason or "",
                                   interval=float(self.sensor.minimum_interval_seconds),
                                   cursor=stored.cursor, ticks=rows, tick_count=count,
                                   **self._no_longer_true(count, rows))
        self.refresh_static()

    def _no_longer_true(self, count: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """What ticks made since a message or a preview turn stale: "Started: ticks every 2 s"
        while ticks fail, "2 runs would launch" after they were launched."""
        changes: dict[str, Any] = {}
        since = count - self._said_at
        if self.message and since > 0:
            latest = rows[0] if rows else {}
            changes["message"] = (f"Latest tick failed: {latest.get('note', '')}"
                                  if latest.get("status") == Status.FAILURE else "")
        made_at = self.preview.get("tick_count")
        if made_at is not None and count > made_at:
            ticks = count - made_at
            changes["preview"] = {**self.preview, "outdated": (
                f"{ticks} tick{'s' if ticks > 1 else ''} since this preview: it may no longer be what the next "
                "tick would do. Preview again.")}
        return changes

    def _say(self, text: str) -> None:
        """A message about what was just done, true until the next tick."""
        self._said_at = self.tick_count
        self.message = text

    def hold_sync_and_set(self, **values: Any) -> None:
        with self.hold_sync():
            for name, value in values.items():
                if getattr(self, name) != value:
                    setattr(self, name, value)

    # -- what the buttons do -----------------------------------------------------------------------
    def start(self) -> None:
        self.sensor.start(instance=self.instance)
        self.refresh()
        self._say(f"Started: ticks every {self.sensor.minimum_interval_seconds:g} s in the background.")

    def stop(self) -> None:
        self.sensor.stop(instance=self.instance)
        self.refresh()
        self._say("Stopped.")

    def tick_now(self) -> Any:
        self.busy = "tick"
        tick = self.sensor.tick(instance=self.instance)
        self.refresh()
        self._say(f"Tick {tick.status}: {tick_module.summary(tick._record)}")
        self.select_tick(tick.tick_id)
        return tick

    def show_preview(self, cursor: Any = ...) -> Any:
        self.busy = "preview"
        result = self.sensor.preview(instance=self.instance, cursor=cursor)
        self.preview = {**_preview_dict(result), "tick_count": self.tick_count}
        self.message = ""
        return result

    def close_preview(self) -> None:
        self.preview = {}

    def select_tick(self, tick_id: str) -> None:
        from nbflow.store.queries import tick_record

        row = tick_record(self.instance.store, tick_id)
        if row is None:
            self.message = f"No tick {tick_id!r} in the store."
            return
        self.selected = _tick_details(self.instance, row)

    def static_html(self) -> str:
        return sensor_html(self.sensor, self.instance)

    # The buttons' messages ("start", "stop", "tick", "preview", "select", "close_preview").
    def _do_start(self) -> None:
        self.start()

    def _do_stop(self) -> None:
        self.stop()

    def _do_tick(self) -> None:
        self.tick_now()

    def _do_preview(self) -> None:
        self.show_preview()

    def _do_select(self, tick_id: str) -> None:
        self.select_tick(tick_id)

    def _do_close_preview(self) -> None:
        self.close_preview()

def _tick_row(t: Any) -> dict[str, Any]:
    added = sum(len(v) for v in (t.partitions_added or {}).values())
    deleted = sum(len(v) for v in (t.partitions_deleted or {}).values())
    return {
        "tick_id": t.tick_id, "time": f"{t.start_time:%Y-%m-%d %H:%M:%S}", "status": t.status,
        "origin": t.origin or "", "keys_added": added, "keys_deleted": deleted,
        "runs": len(t.run_ids or []), "run_keys_skipped": len(t.run_keys_skipped or []),
        "duration_ms": round(t.duration * 1000, 1),
        "note": _first_line(t.error) if t.status == Status.FAILURE else (t.skip_reason or ""),
    }


def _text(value: Any) -> str | None:
    """A nullable text column read through pandas: NaN and None both mean "no value"."""
    return value if isinstance(value, str) else None


def _tick_details(instance: Any, row: Any) -> dict[str, Any]:
    import json

    def load(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else None

    run_ids = load(row.run_ids) or []
    runs = []
    if run_ids:
        from nbflow.store.queries import runs_by_id

        found = runs_by_id(instance.store, run_ids)
        for run_id in run_ids[:KEYS_SHOWN]:
            rec = found.loc[run_id] if run_id in found.index else None
            runs.append({"run_id": run_id, "status": rec.status if rec is not None else "DELETED",
                         "partition_key": (_text(rec.partition_key) if rec is not None else None) or "",
                         "job": rec.job_name if rec is not None else ""})
    added = load(row.partitions_added) or {}
    deleted = load(row.partitions_deleted) or {}
    return {
        "tick_id": row.tick_id, "status": row.status, "skip_reason": _text(row.skip_reason) or "",
        **tracebacks.shown(_text(row.error) or ""), "cursor_before": _text(row.cursor_before),
        "cursor_after": _text(row.cursor_after),
        "logs": [f"{line[2]} {line[3]}" for line in (load(row.logs) or [])][-200:],
        "runs": runs, "runs_total": len(run_ids),
        "run_keys_skipped": (load(row.run_keys_skipped) or [])[:KEYS_SHOWN],
        "added": {k: v[:KEYS_SHOWN] for k, v in added.items()},
        "added_total": sum(len(v) for v in added.values()),
        "deleted": {k: v[:KEYS_SHOWN] for k, v in deleted.items()},
    }


def _preview_dict(p: Any) -> dict[str, Any]:
    return {
        "at": time.strftime("%H:%M:%S"), **tracebacks.shown(p.error or ""),
        "cursor_before": p.cursor_before, "cursor_after": p.cursor_after,
        "skip_reason": p.skip_reason or "",
        "new_keys": {k: v[:KEYS_SHOWN] for k, v in p.new_keys.items()},
        "new_total": sum(len(v) for v in p.new_keys.values()),
        "existing_total": sum(len(v) for v in p.existing_keys.values()),
        "deleted_total": sum(len(v) for v in p.deleted_keys.values()),
        "runs": [{"partition_key": r.partition_key or "", "run_key": r.run_key or "", "job": r.job_name}
                 for r in p.run_requests[:KEYS_SHOWN]],
        "runs_total": len(p.run_requests),
        "deduplicated": p.deduplicated[:KEYS_SHOWN],
        "logs": [f"{line[2]} {line[3]}" for line in p.logs][-200:],
    }
