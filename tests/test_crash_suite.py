"""Randomized crash suite: a child process running a fan-out with chained maps and
DataFrame outputs is SIGKILLed at a random moment, again and again.

Each trial checks that the run is marked INTERRUPTED (or finished), that every stored
output belongs to a step recorded SUCCESS and vice versa, that no frame table is left
without an output row, and that ``rerun(failed=True)`` completes with the right result
without redoing a stored step. ``NBFLOW_CRASH_TRIALS=50`` runs 50 trials (default 3);
``NBFLOW_CRASH_SEED`` repeats a sequence of kill moments.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nbflow as nf
from tests import crash_fanout_job as job

ROOT = Path(__file__).resolve().parents[1]
TRIALS = int(os.environ.get("NBFLOW_CRASH_TRIALS", "3"))
SEED = int(os.environ.get("NBFLOW_CRASH_SEED", str(random.randrange(1 << 30))))


def _kill_at_random(store: Path, rng: random.Random) -> dict:
    """Start the job in a child, SIGKILL it at a random moment; return the trial's settings."""
    setting = {
        "emit_delay": rng.choice([0.0, 0.02, 0.08]),
        "step_delay": rng.choice([0.0, 0.01, 0.05]),
        "kill_after": rng.uniform(0.0, 2.5),
    }
    env = {**os.environ, "CRASH_JOB_STORE": str(store), "PYTHONPATH": str(ROOT),
           "CRASH_EMIT_DELAY": str(setting["emit_delay"]), "CRASH_STEP_DELAY": str(setting["step_delay"])}
    child = subprocess.Popen([sys.executable, "-m", "tests.crash_fanout_job"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not store.exists():  # kill once the run can have started, at a random moment after
            assert child.poll() is None or child.returncode == 0, "the job's process failed"
            assert time.monotonic() < deadline, "the job never opened its store"
            time.sleep(0.01)
        time.sleep(setting["kill_after"])
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    return setting


def _check_stored_run(inst, run) -> set[str]:
    """Outputs against step records; return the steps stored as finished."""
    steps = run.steps()
    assert not steps.step_key.duplicated().any(), steps.step_key.tolist()
    finished = set(steps[steps.status == "SUCCESS"].step_key)
    outputs = inst.sql("SELECT step_key, op, mapping_key FROM outputs WHERE run_id = ? AND op <> 'emit'",
                       [run.run_id])
    with_output = set(outputs.step_key)
    assert with_output == finished - {"emit"}, (sorted(with_output ^ (finished - {"emit"})))
    for _step_key, op, key in outputs.itertuples(index=False):
        if op == "total":
            assert run.output("total") == job.expected_total()
            continue
        i = int(key[1:])
        value = run.output(op, key=key)
        if op == "to_frame":
            assert value.v.tolist() == [i, i + 1] and value.name.tolist() == [f"a{i}", f"b{i}"]
        else:
            assert op == "summed" and value == job.expected_summed(i)
    return finished


def _orphan_frames(inst) -> list[str]:
    return inst.sql(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'frames' AND table_name NOT IN "
        "(SELECT table_name FROM outputs WHERE table_name IS NOT NULL)"
    ).table_name.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_run_killed_at_a_random_moment_is_recorded_and_completed(tmp_path, trial):
    rng = random.Random(SEED + trial)
    store = tmp_path / "crash.duckdb"
    setting = _kill_at_random(store, rng)
    print(f"seed {SEED + trial}: {setting}")

    inst = nf.instance(str(store))
    runs = inst.runs()
    if not len(runs):
        pytest.skip(f"killed before the run was recorded ({setting})")
    run = inst.get_run(runs.run_id[0])
    assert run.status in ("INTERRUPTED", "SUCCESS"), (run.status, setting)
    finished = _check_stored_run(inst, run)
    assert _orphan_frames(inst) == [], setting
    if run.status == "SUCCESS":
        assert run.output("total") == job.expected_total()
        return

    child = run.rerun(failed=True)
    assert child.status == "SUCCESS", child.steps().query("status != 'SUCCESS'")[["step_key", "error"]]
    assert child.output("total") == job.expected_total()
    steps = child.steps()
    assert not steps.step_key.duplicated().any()
    redone = set(steps[steps.reused_from.isna()].step_key) & finished
    assert redone == set(), (sorted(redone), setting)
    _check_stored_run(inst, child)

    inst.delete_run(child.run_id)
    inst.delete_run(run.run_id)
    assert inst.sql("SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = 'frames'").n[0] == 0
