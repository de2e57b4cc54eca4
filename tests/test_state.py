"""nbflow's process-wide registries live in one object that tests reset."""

from __future__ import annotations

import sys

import pytest

import nbflow as nf
from nbflow._state import STATE, Clock, RuntimeState


def _module(name: str):
    __import__(name)
    return sys.modules[name]  # nbflow.instance the attribute is the function


REGISTRIES = [  # (module, its name for the registry, the registry's name in STATE)
    ("nbflow.definitions.op", "OPS", "ops"),
    ("nbflow.definitions.graph", "JOBS", "jobs"),
    ("nbflow.definitions.assets", "ASSETS", "assets"),
    ("nbflow.sensors.definition", "SENSORS", "sensors"),
    ("nbflow.runtime.instance", "_instances", "default_instances"),
    ("nbflow.runtime.instance", "_good_homes", "good_homes"),
    ("nbflow.runtime.background", "LIVE", "live_runs"),
    ("nbflow.store.history", "RUNNING_HERE", "running_here"),
    ("nbflow.runtime.sensor_loop", "_runners", "sensor_runners"),
    ("nbflow.runtime.ticks", "_listeners", "tick_listeners"),
    ("nbflow.store.partitions", "_writes_by_file", "partition_writes"),
]


@pytest.mark.parametrize(("module", "name", "field"), REGISTRIES, ids=[r[2] for r in REGISTRIES])
def test_each_module_registry_is_the_one_held_by_the_state(module, name, field):
    assert getattr(_module(module), name) is getattr(STATE, field)


def test_the_state_holds_exactly_these_registries():
    assert sorted(RuntimeState().containers()) == sorted(field for _, _, field in REGISTRIES)


def test_reset_restores_the_registries_in_place_and_empties_without_a_snapshot():
    state = RuntimeState()
    jobs, homes = state.jobs, state.good_homes
    jobs["kept"] = 1
    homes.add("/kept")
    before = state.snapshot()
    jobs["added"] = 2
    homes.add("/added")
    state.clock = Clock()
    state.reset(to=before)
    assert state.jobs is jobs and jobs == {"kept": 1} and homes == {"/kept"}
    assert state.clock is before.clock
    state.reset()
    assert jobs == {} and homes == set() and state.clock is not before.clock


def test_a_definition_made_in_a_test_is_gone_after_a_reset_to_before_it():
    before = STATE.snapshot()

    @nf.op
    def state_probe():
        return 1

    @nf.job
    def state_probe_job():
        state_probe()

    assert STATE.jobs["state_probe_job"] is state_probe_job
    STATE.reset(to=before)
    assert "state_probe_job" not in STATE.jobs
    assert not any(key[-1] == "state_probe" for key in STATE.ops)


def test_reset_stops_sensor_loops_and_closes_default_instances_started_since(tmp_path):
    from nbflow.runtime import sensor_loop as runner

    before = STATE.snapshot()
    inst = nf.instance(str(tmp_path / "reset.duckdb"))

    @nf.sensor(minimum_interval_seconds=60)
    def idle_sensor(context):
        return nf.SkipReason("nothing")

    idle_sensor.start(instance=inst)
    loop = runner.running_here("idle_sensor", inst)
    assert loop is not None and inst.store.holder.is_open
    STATE.reset(to=before)
    assert not loop.thread.is_alive()
    assert not inst.store.holder.is_open
    assert STATE.sensor_runners == {} and str(tmp_path / "reset.duckdb") not in STATE.default_instances
