"""SensorView without a browser: traits, front-end messages, buttons doing the real thing."""

from __future__ import annotations

import time

import pytest

import nbflow as nf
from nbflow.runtime import sensor_loop as runner
from nbflow.widgets.sensor_view import SensorView


@pytest.fixture(autouse=True)
def _stop_loops():
    yield
    runner.stop_all(timeout=10)


@pytest.fixture
def store(tmp_path):
    return nf.Instance(str(tmp_path / "view.duckdb"))


@pytest.fixture
def sensor():
    parts = nf.DynamicPartitionsDefinition("view_files")
    feed = {"files": ["a", "b"]}

    @nf.op
    def load(context) -> str:
        return context.partition_key

    @nf.job(partitions_def=parts)
    def load_job():
        load()

    @nf.sensor(job=load_job, minimum_interval_seconds=0.05)
    def file_sensor(context):
        seen = set((context.cursor or "").split(",")) - {""}
        new = [f for f in feed["files"] if f not in seen]
        print(f"{len(new)} new")
        return nf.SensorResult(
            run_requests=[nf.RunRequest(run_key=f, partition_key=f) for f in new],
            dynamic_partitions_requests=[parts.build_add_request(new)],
            cursor=",".join(feed["files"]),
        )

    file_sensor.feed = feed
    return file_sensor


def click(view, action, **extra):
    """What the front end sends when a button is pressed."""
    view._handle_custom_msg({"action": action, **extra}, [])


def test_initial_traits_show_the_stored_state(sensor, store):
    view = SensorView(sensor, instance=store)
    assert (view.sensor_name, view.jobs, view.status, view.interval) == ("file_sensor", ["load_job"], "stopped", 0.05)
    assert view.cursor is None and view.ticks == [] and view.tick_count == 0


def test_tick_now_applies_a_tick_and_shows_it(sensor, store):
    view = SensorView(sensor, instance=store)
    click(view, "tick")
    assert store.get_dynamic_partitions("view_files") == ["a", "b"]
    assert len(store.runs()) == 2
    assert view.tick_count == 1 and view.cursor == "a,b"
    row = view.ticks[0]
    assert (row["status"], row["keys_added"], row["runs"], row["origin"]) == ("SUCCESS", 2, 2, "manual")
    assert view.message.startswith("Tick SUCCESS: 2 keys added to view_files, 2 runs launched")
    assert view.selected["tick_id"] == row["tick_id"]  # the new tick's details open
    assert [r["status"] for r in view.selected["runs"]] == ["SUCCESS", "SUCCESS"]
    assert view.selected["logs"] == ["INFO 2 new"]
    assert view.busy == ""


def test_preview_applies_nothing(sensor, store):
    view = SensorView(sensor, instance=store)
    click(view, "preview")
    assert view.preview["new_total"] == 2 and view.preview["runs_total"] == 2
    assert view.preview["cursor_after"] == "a,b"
    assert store.get_dynamic_partitions("view_files") == [] and view.tick_count == 0
    click(view, "close_preview")
    assert view.preview == {}


def test_a_failing_tick_shows_its_traceback(sensor, store):
    view = SensorView(sensor, instance=store)
    sensor.feed["files"] = None  # the sensor now raises TypeError
    click(view, "tick")
    assert view.ticks[0]["status"] == "FAILURE"
    assert "TypeError" in view.ticks[0]["note"]
    assert "Error occurred during the execution of evaluation_fn for sensor file_sensor" in view.selected["error"]


def test_start_and_stop_buttons_and_live_updates_from_the_background(sensor, store):
    view = SensorView(sensor, instance=store)
    click(view, "start")
    assert view.status == "running"
    deadline = time.monotonic() + 10
    while view.tick_count < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert view.tick_count >= 3  # refreshed by the background loop, no click needed
    assert view.ticks[0]["origin"] == "loop"
    click(view, "stop")
    assert view.status == "stopped"


def test_selecting_a_tick_and_bad_messages(sensor, store):
    view = SensorView(sensor, instance=store)
    first = sensor.tick(instance=store)  # ticked from a cell: the view follows
    assert view.tick_count == 1
    click(view, "select", tick_id=first.tick_id)
    assert view.selected["added"] == {"view_files": ["a", "b"]}
    click(view, "select", tick_id="nope")
    assert view.message == "No tick 'nope' in the store."
    click(view, "explode")
    assert view.message == "Unknown action 'explode'."


def test_a_paused_sensor_says_why(store):
    @nf.sensor(minimum_interval_seconds=0.01, max_consecutive_failures=2)
    def doomed(context):
        raise RuntimeError("token expired")

    view = SensorView(doomed, instance=store)
    click(view, "start")
    deadline = time.monotonic() + 10
    while view.status != "paused" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert view.status == "paused"
    assert "Paused after 2 consecutive failed ticks" in view.status_detail
    assert "RuntimeError: token expired" in view.status_detail


def test_shown_twice_and_after_a_restart(sensor, store, tmp_path):
    sensor.tick(instance=store)
    first, second = SensorView(sensor, instance=store), SensorView(sensor, instance=store)
    assert first.ticks == second.ticks
    sensor.tick(instance=store)
    assert first.tick_count == second.tick_count == 2  # both follow
    reopened = nf.Instance(store.path)  # a new kernel: a new instance on the same file
    assert SensorView(sensor, instance=reopened).tick_count == 2


def test_the_mime_bundle_carries_a_static_fallback(sensor, store):
    sensor.tick(instance=store)
    data, _ = SensorView(sensor, instance=store)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "<table>" in data["text/html"] and "SUCCESS" in data["text/html"]
    assert "file_sensor" in data["text/html"]


def test_the_front_end_module_and_styles_ship_with_the_package():
    from nbflow.widgets.sensor_view import STATIC

    script = (STATIC / "sensor_view.js").read_text()
    assert script.rstrip().endswith("export default { render };")
    for action in ("start", "stop", "tick", "preview"):
        assert 'button("' in script and f'"{action}"' in script
    assert ".nbflow-sensorview" in (STATIC / "sensor_view.css").read_text()


def test_missing_values_in_tick_details_are_none_not_nan(sensor, store):
    view = SensorView(sensor, instance=store)
    click(view, "tick")
    assert view.selected["cursor_before"] is None
    assert view.selected["skip_reason"] == "" and view.selected["error"] == ""


def test_messages_and_previews_turn_stale_with_later_ticks(sensor, store):
    view = SensorView(sensor, instance=store)
    click(view, "preview")
    assert view.preview["runs_total"] == 2 and "outdated" not in view.preview
    click(view, "tick")  # the two runs the preview announced are launched
    assert view.preview["outdated"] == ("1 tick since this preview: it may no longer be what the next tick "
                                        "would do. Preview again.")
    assert view.message.startswith("Tick SUCCESS")
    click(view, "preview")
    assert "outdated" not in view.preview and view.preview["runs_total"] == 0

    sensor.feed["files"] = None  # from now on every tick fails
    click(view, "start")
    assert view.message.startswith("Started: ticks every")
    deadline = time.monotonic() + 10
    while not view.message.startswith("Latest tick failed") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert view.message.startswith("Latest tick failed: TypeError")
    click(view, "stop")
    assert view.message == "Stopped."
