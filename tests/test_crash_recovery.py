"""A kernel killed mid-run (SIGKILL): the run is marked INTERRUPTED on the next open,
what finished is loadable, and rerun(failed=True) completes it without redoing it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nbflow as nf
from tests import crash_job

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_killed_run_is_interrupted_and_resumes(tmp_path):
    store, markers = tmp_path / "crash.duckdb", tmp_path / "markers"
    markers.mkdir()
    env = {**os.environ, "CRASH_JOB_STORE": str(store), "CRASH_JOB_MARKERS": str(markers),
           "CRASH_JOB_DELAY": "0.1", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "tests.crash_job"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while len(list(markers.iterdir())) < 10:
            assert child.poll() is None, "the job ended before it could be killed"
            assert time.monotonic() < deadline, "the job made no progress"
            time.sleep(0.05)
        time.sleep(1.0)  # finished steps reach the store within half a second
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    finished = {p.name for p in markers.iterdir()}
    assert len(finished) < len(crash_job.KEYS), "the job finished before the kill"

    inst = nf.instance(str(store))
    run = inst.get_run(inst.runs().run_id[0])
    assert run.status == "INTERRUPTED"
    assert "ended before the run finished" in run.error
    steps = run.steps()
    stored = set(steps[steps.status == "SUCCESS"].mapping_key.dropna())
    assert len(stored) >= 8 and stored <= finished
    assert run.output("slow_square", key=sorted(stored)[0]) == crash_job.KEYS.index(sorted(stored)[0]) ** 2

    child_run = run.rerun(failed=True)
    failures = child_run.steps().query("status != 'SUCCESS'")
    assert child_run.status == "SUCCESS", failures[["step_key", "error"]].to_string()
    assert child_run.output("total") == sum(i * i for i in range(len(crash_job.KEYS)))
    ran = child_run.steps()
    ran = set(ran[ran.reused_from.isna()].step_key)
    assert ran == {"emit", "total"} | {f"slow_square[{k}]" for k in crash_job.KEYS if k not in stored}
    inst.close()
