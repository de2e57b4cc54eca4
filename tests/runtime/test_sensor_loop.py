"""Sensors in the background: start/stop, several at once, back-off, auto-pause, redefinition."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

import nbflow as nf
from nbflow.runtime import sensor_loop as runner


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def store(tmp_path):
    return nf.Instance(str(tmp_path / "bg.duckdb"))


@pytest.fixture
def job():
    @nf.op
    def one():
        return 1

    @nf.job
    def bg_job():
        one()

    return bg_job


def test_start_ticks_in_the_background_and_stop_is_prompt(job, store, fake_clock):
    calls = []

    @nf.sensor(job=job, minimum_interval_seconds=30)
    def counter(context):
        calls.append(context.cursor)
        return nf.SensorResult([nf.RunRequest(run_key=str(len(calls)))], cursor=str(len(calls)))

    counter.start(instance=store)
    assert counter.get_status(store) == "running"
    fake_clock.step("nbflow-sensor-counter", count=2)  # two intervals pass
    assert _wait_for(lambda: len(calls) >= 3)
    assert fake_clock.waits_of("nbflow-sensor-counter")[:2] == [30, 30]
    began = time.monotonic()
    counter.stop(instance=store)
    assert time.monotonic() - began < 1.0
    assert counter.get_status(store) == "stopped"
    n = len(calls)
    fake_clock.advance(600)  # twenty intervals later
    assert len(calls) == n  # no tick after stop
    assert calls[:3] == [None, "1", "2"]  # each tick saw the previous tick's cursor
    runs = store.runs()
    assert len(runs) == n
    # A tick applied just as stop() came leaves its runs QUEUED for the next start.
    assert set(runs.status) <= {"SUCCESS", "QUEUED"} and (runs.status == "QUEUED").sum() <= 1
    assert set(counter.ticks(instance=store).origin) == {"loop"}


def test_ticks_never_overlap(job, store):
    active, overlaps = [], []

    @nf.sensor(job=job, minimum_interval_seconds=0.01)
    def slow(context):
        if active:
            overlaps.append(True)
        active.append(1)
        time.sleep(0.05)
        active.pop()

    slow.start(instance=store)
    assert _wait_for(lambda: len(slow.ticks(instance=store)) >= 3)
    slow.stop(instance=store)
    assert overlaps == []


def test_several_sensors_run_at_once_and_the_notebook_is_not_blocked(job, store):
    seen = {"a": 0, "b": 0}

    @nf.sensor(job=job, minimum_interval_seconds=0.02)
    def a(context):
        seen["a"] += 1

    @nf.sensor(job=job, minimum_interval_seconds=0.02)
    def b(context):
        seen["b"] += 1

    a.start(instance=store)
    b.start(instance=store)
    assert threading.current_thread() is threading.main_thread()  # start returned at once
    assert _wait_for(lambda: seen["a"] >= 2 and seen["b"] >= 2)
    assert sorted(runner.stop_all()) == ["a", "b"]
    assert a.get_status(store) == b.get_status(store) == "stopped"


def test_starting_twice_keeps_one_loop(job, store):
    @nf.sensor(job=job, minimum_interval_seconds=0.05)
    def once(context):
        return None

    once.start(instance=store)
    first = runner.running_here("once", store)
    once.start(instance=store)
    assert runner.running_here("once", store) is first


def test_a_redefined_sensor_runs_its_new_body_at_the_next_tick(job, store):
    @nf.sensor(job=job, minimum_interval_seconds=0.02, name="evolving")
    def v1(context):
        return nf.SkipReason("v1")

    v1.start(instance=store)
    assert _wait_for(lambda: "v1" in set(v1.ticks(instance=store).skip_reason))

    @nf.sensor(job=job, minimum_interval_seconds=0.02, name="evolving")
    def v2(context):
        return nf.SkipReason("v2")

    assert v2.get_status(store) == "running"  # same name: the same loop
    assert _wait_for(lambda: "v2" in set(v2.ticks(instance=store).skip_reason))


def test_failures_back_off_then_pause_the_sensor_with_the_reason(job, store, fake_clock):
    attempts = []

    @nf.sensor(job=job, minimum_interval_seconds=0.05, max_consecutive_failures=3)
    def flaky(context):
        attempts.append(fake_clock.monotonic())
        raise ValueError("bad credentials")

    flaky.start(instance=store)
    fake_clock.step("nbflow-sensor-flaky", count=2)
    assert _wait_for(lambda: flaky.get_status(store) == "paused")
    assert len(attempts) == 3
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[1] > gaps[0] * 1.4  # 0.1 s then 0.2 s: the wait doubles
    assert fake_clock.waits_of("nbflow-sensor-flaky") == pytest.approx([0.1, 0.2])
    reason = store.store.sensors.state("flaky").reason
    assert reason.startswith("Paused after 3 consecutive failed ticks. Last error: ValueError: bad credentials")
    assert "call .start() again" in reason
    assert flaky.ticks(instance=store).status.tolist() == ["FAILURE"] * 3


def test_backoff_doubles_and_is_capped():
    assert runner.backoff(600, 0) == 600
    assert runner.backoff(600, 1) == 1200
    assert runner.backoff(600, 3) == 3600
    assert runner.backoff(7200, 5) == 7200  # never shorter than the interval


def test_a_successful_tick_resets_the_failure_count(job, store):
    state = {"fail": True}

    @nf.sensor(job=job)
    def recovering(context):
        if state["fail"]:
            raise RuntimeError("down")

    assert recovering.tick(instance=store).failures == 1
    assert recovering.tick(instance=store).failures == 2
    state["fail"] = False
    recovering.tick(instance=store)
    assert store.store.sensors.state("recovering").failures == 0


def test_start_executes_runs_left_queued_by_an_earlier_process(job, store):
    @nf.sensor(job=job, minimum_interval_seconds=60)
    def once(context):
        return nf.RunRequest(run_key="only")

    queued = once.tick(instance=store, execute=False)
    once.start(instance=store)
    assert _wait_for(lambda: store.get_run(queued.run_ids[0]).status == "SUCCESS")


def test_background_output_goes_to_the_tick_record_not_the_cell(job, store, capsys):
    @nf.sensor(job=job, minimum_interval_seconds=60)
    def talker(context):
        print("background hello")

    talker.start(instance=store)
    assert _wait_for(lambda: len(talker.ticks(instance=store)) == 1)
    talker.stop(instance=store)
    assert "background hello" not in capsys.readouterr().out
    assert talker.ticks(instance=store).logs.iloc[0][0][3] == "background hello"


def test_restarting_a_sensor_whose_tick_hangs_does_not_start_a_second_loop(job, store, monkeypatch):
    monkeypatch.setattr(runner, "STOP_GRACE", 0.2)
    release, inside = threading.Event(), []
    active, most = [0], [0]

    @nf.sensor(job=job, minimum_interval_seconds=0.05)
    def hanging(context):
        active[0] += 1
        most[0] = max(most[0], active[0])
        inside.append(1)
        try:
            release.wait(30)
        finally:
            active[0] -= 1
        return nf.SkipReason("done waiting")

    hanging.start(store)
    assert _wait_for(lambda: inside)
    hanging.stop(store, timeout=0.1)  # the tick does not return: the loop is still in it
    with pytest.raises(runner.SensorStillStoppingError, match="Sensor 'hanging' is still stopping: its current "
                       "tick has not returned"):
        hanging.start(store)
    release.set()
    assert _wait_for(lambda: hanging.get_status(store) == "stopped")
    hanging.start(store)  # once the tick returned, it starts again
    assert _wait_for(lambda: len(inside) >= 3)
    hanging.stop(store)
    assert most[0] == 1


def test_sensor_runs_lists_the_runs_it_launched(job, store):
    @nf.sensor(job=job)
    def launcher(context):
        return nf.RunRequest()

    job.run(instance=store)  # a run the sensor did not launch
    tick = launcher.tick(instance=store)
    launched = launcher.runs(store)
    assert launched.run_id.tolist() == tick.run_ids
