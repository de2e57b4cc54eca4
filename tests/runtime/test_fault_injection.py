"""A process killed in the middle of applying a tick: the tick is applied wholly or not at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

import nbflow as nf

VICTIM = os.path.join(os.path.dirname(__file__), "tick_victim.py")


def _kill_during_tick(tmp_path, stage):
    store = str(tmp_path / f"{stage}.duckdb")
    proc = subprocess.run([sys.executable, VICTIM, store, stage], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return nf.Instance(store)


def _applied(inst):
    return {
        "keys": inst.get_dynamic_partitions("podcast_episodes"),
        "runs": sorted(inst.runs().partition_key),
        "run_keys": sorted(inst.store.sensors.run_keys("new_episode_sensor").run_key),
        "cursor": inst.store.sensors.state("new_episode_sensor").cursor,
        "ticks": inst.store.sensors.ticks("new_episode_sensor").status.tolist(),
    }


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["partitions", "runs", "cursor"])
def test_killed_inside_the_tick_leaves_nothing(tmp_path, stage):
    inst = _kill_during_tick(tmp_path, stage)
    assert _applied(inst) == {"keys": [], "runs": [], "run_keys": [], "cursor": None, "ticks": []}


@pytest.mark.slow
def test_killed_after_the_commit_keeps_all_of_it(tmp_path):
    inst = _kill_during_tick(tmp_path, "committed")
    ids = ["ep-1", "ep-2", "ep-3"]
    assert _applied(inst) == {"keys": ids, "runs": ids, "run_keys": ids, "cursor": "etag-3",
                              "ticks": ["SUCCESS"]}
    assert set(inst.runs().status) == {"QUEUED"}  # never executed: the next start runs them
