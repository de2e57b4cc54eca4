"""Suites that keep sharing and interrupts right: real processes, bounded time.

* The multi-process soak runs ``bench/sharing.py`` with 2 and 4 processes on one store;
  each worker logs what it did, and the store must hold exactly that (nothing lost or
  duplicated), with every process getting a fair share of the actions. The figures are
  printed (``pytest -s``), never asserted as speeds.
* The interrupt suite sends Ctrl-C (SIGINT) to a process at random moments while its
  run writes a batch per step; the run must end CANCELED with a KeyboardInterrupt and
  keep every step it finished. ``NBFLOW_INTERRUPT_TRIALS`` sets how many (default 4).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nbflow as nf

ROOT = Path(__file__).resolve().parents[2]
SOAK_SECONDS = float(os.environ.get("NBFLOW_SOAK_SECONDS", "8"))


@pytest.mark.slow
def test_processes_sharing_a_store_lose_nothing_and_take_fair_turns():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "sharing.py"), "--processes", "2", "4",
                          "--seconds", str(SOAK_SECONDS), "--no-cost"],
                         capture_output=True, text=True, timeout=240 + 4 * SOAK_SECONDS)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["processes"] for r in results] == [2, 4]
    for r in results:
        print(f"\n{r['processes']} processes, {r['seconds']:g} s: {r['actions']} actions, share {r['share']}, "
              f"turn wait p50 {r['turn_wait_p50_s']} s, p99 {r['turn_wait_p99_s']} s, "
              f"max {r['turn_wait_max_s']} s")
        assert r["exit_codes"] == [0] * r["processes"], out.stderr
        assert r["runs"] > 0
        for kind in ("lost_steps", "duplicated_steps", "runs_not_success", "runs_not_logged",
                     "missing_keys", "unexpected_keys"):
            assert r[kind] == 0, (kind, r)
        assert min(r["share"].values()) >= 0.15, r["share"]


INTERRUPTED = """
import json, sys, time
import nbflow as nf
from nbflow.store import writer
writer.FLUSH_SECONDS = 0.0   # a batch write after every step

done = open(sys.argv[2], "a")

@nf.op(out=nf.DynamicOut())
def keys():
    for i in range(400):
        yield nf.DynamicOutput(i, mapping_key=f"k{i}")

@nf.op
def work(x):
    time.sleep(0.002)
    done.write(f"k{x}\\n")
    done.flush()
    return x

@nf.job
def interrupted():
    keys().map(work)

inst = nf.instance(sys.argv[1])
print("@start", flush=True)
try:
    interrupted.run(instance=inst)
    print("@" + json.dumps({"raised": None}), flush=True)
except BaseException as exc:
    print("@" + json.dumps({"raised": type(exc).__name__, "message": str(exc)}), flush=True)
"""


@pytest.mark.slow
def test_ctrl_c_at_random_moments_of_batch_writes(tmp_path):
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    rng = random.Random(11)
    trials = int(os.environ.get("NBFLOW_INTERRUPT_TRIALS", "4"))
    for trial in range(trials):
        store, done = tmp_path / f"t{trial}" / "nbflow.duckdb", tmp_path / f"done{trial}.txt"
        proc = subprocess.Popen([sys.executable, str(script), str(store), str(done)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "@start"
        # Wait until a few steps ran, then a random moment among the batch writes.
        delay = rng.uniform(0.0, 0.4)
        while (not done.exists() or len(done.read_text().splitlines()) < 5) and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        outcome = json.loads(next(line for line in stdout.splitlines() if line.startswith("@"))[1:])
        finished = set(done.read_text().splitlines())
        inst = nf.Instance(str(store))
        run = inst.get_run(inst.runs().run_id.iloc[0])
        steps = inst.sql("SELECT step_key, mapping_key, status FROM steps WHERE run_id = ?", [run.run_id])
        stored = set(steps[(steps.status == "SUCCESS") & steps.step_key.str.startswith("work[")].mapping_key)
        inst.close()
        if outcome["raised"] is None:  # the signal came after the run ended: nothing to check
            continue
        # RunInterrupted is the KeyboardInterrupt a run's wait raises, with a one-line summary.
        assert outcome["raised"] in ("KeyboardInterrupt", "RunInterrupted"), (trial, delay, outcome, stderr)
        assert run.status == "CANCELED", (trial, outcome)
        assert steps.step_key.is_unique
        # Every step that finished is stored, except at most the one the signal cut short
        # between its end and its record.
        assert len(finished - stored) <= 1, (trial, sorted(finished - stored))
        assert stored <= finished
