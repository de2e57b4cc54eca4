"""Random runs, failures, interrupts, reruns and deletes against a plain-Python model.

The job is deterministic (its items never change), so every run that succeeds has the
same total; what varies is which keys are broken or interrupted when a run executes.
After every step, every stored run must agree with its own step records: no step twice,
an output row exactly for each step that succeeded, outputs that load with the oracle's
values, no frame table nobody refers to. A rerun of what failed redoes no stored step;
a rerun of one key executes that key's steps and the collect.
NBFLOW_MODEL_EXAMPLES sets how many random sequences are tried (default 25).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import nbflow as nf
from nbflow.definitions.graph import JOBS

KEYS = ["a", "b", "c", "d"]
BROKEN: set[tuple[str, str]] = set()  # (op, key) pairs that raise
INTERRUPT: dict[str, tuple[str, str] | None] = {"at": None}  # (op, key) that raises KeyboardInterrupt once


def _maybe_fail(op: str, key: str) -> None:
    if INTERRUPT["at"] == (op, key):
        INTERRUPT["at"] = None
        raise KeyboardInterrupt
    if (op, key) in BROKEN:
        raise RuntimeError(f"{op}[{key}] is broken")


@nf.op(out=nf.DynamicOut())
def items():
    for i, key in enumerate(KEYS):
        yield nf.DynamicOutput(i + 1, mapping_key=key)


@nf.op
def framed(context, n):
    _maybe_fail("framed", context.get_mapping_key())
    return pd.DataFrame({"n": [n, n * 10]})


@nf.op
def summed(context, frame):
    _maybe_fail("summed", context.get_mapping_key())
    return int(frame.n.sum())


@nf.op
def total(values):
    return sum(values)


@nf.job
def model_job():
    total(items().map(framed).map(summed).collect())


def expected_summed(key: str) -> int:
    return 11 * (KEYS.index(key) + 1)


TOTAL = sum(expected_summed(k) for k in KEYS)
STEPS = ["framed", "summed"]
PAIRS = st.tuples(st.sampled_from(STEPS), st.sampled_from(KEYS))


class RunsModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        JOBS["model_job"] = model_job
        BROKEN.clear()
        INTERRUPT["at"] = None
        self.folder = Path(tempfile.mkdtemp(prefix="nbflow-runs-model-"))
        self.path = str(self.folder / "runs.duckdb")
        self.instance = nf.Instance(self.path)
        self.runs: list[str] = []  # the model: run ids that should be stored

    # -- what the world does ----------------------------------------------------------------
    @rule(pairs=st.sets(PAIRS, max_size=3))
    def break_steps(self, pairs: set) -> None:
        BROKEN.clear()
        BROKEN.update(pairs)

    @rule()
    def fix_everything(self) -> None:
        BROKEN.clear()

    def _launch(self, start, interrupt=None) -> nf.Run:
        INTERRUPT["at"] = interrupt
        before = set(self.instance.runs(limit=None).run_id)
        try:
            run = start()
        except KeyboardInterrupt:
            new = set(self.instance.runs(limit=None).run_id) - before
            assert len(new) == 1
            run = self.instance.get_run(new.pop())
            assert run.status == "CANCELED"
        INTERRUPT["at"] = None
        self.runs.append(run.run_id)
        return run

    # -- runs -------------------------------------------------------------------------------------
    @rule(interrupt=st.one_of(st.none(), PAIRS))
    def run_the_job(self, interrupt) -> None:
        broken = set(BROKEN)
        run = self._launch(lambda: model_job.run(instance=self.instance), interrupt)
        if interrupt is None:
            assert run.status == ("FAILURE" if broken else "SUCCESS")

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), interrupt=st.one_of(st.none(), st.none(), PAIRS))
    def rerun_what_failed(self, data, interrupt) -> None:
        parent = self.instance.get_run(data.draw(st.sampled_from(self.runs[::-1])))  # the newest first
        if parent.status == "SUCCESS":
            return
        finished = _finished(parent)
        broken = set(BROKEN)
        child = self._launch(lambda: parent.rerun(failed=True), interrupt)
        assert _executed(child) & finished == set()  # nothing stored is redone
        would_run = {f"{op}[{k}]" for op, k in broken | ({interrupt} if interrupt else set())}
        if not would_run & (_executed(child) | (_all_steps() - finished)):
            assert child.status == "SUCCESS", child.steps()[["step_key", "status", "error"]]

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def rerun_one_key(self, data, key: str) -> None:
        parent = self.instance.get_run(data.draw(st.sampled_from(self.runs[::-1])))
        if parent.steps().query("op == 'items'").status.tolist() != ["SUCCESS"]:
            return  # the fan-out did not finish: its keys are not all known
        child = self._launch(lambda: parent.rerun("framed", keys=[key]))
        if child.status != "CANCELED":
            assert _executed(child) <= {f"framed[{key}]", f"summed[{key}]", "total"}
            assert f"framed[{key}]" in _executed(child)

    @precondition(lambda self: self.runs)
    @rule(data=st.data())
    def delete_a_run(self, data) -> None:
        run_id = data.draw(st.sampled_from(self.runs[::-1]))
        self.instance.delete_run(run_id)
        self.runs.remove(run_id)

    @rule()
    def reopen(self) -> None:
        self.instance.close()
        self.instance = nf.Instance(self.path)

    # -- what must hold ------------------------------------------------------------------------
    @invariant()
    def every_run_agrees_with_its_records(self) -> None:
        stored = self.instance.runs(limit=None)
        assert sorted(stored.run_id) == sorted(self.runs)
        for run_id in self.runs:
            run = self.instance.get_run(run_id)
            steps = run.steps()
            assert not steps.step_key.duplicated().any(), steps.step_key.tolist()
            finished = _finished(run)
            outputs = self.instance.sql(
                "SELECT step_key, op, mapping_key FROM outputs WHERE run_id = ? AND op <> 'items'", [run_id])
            assert set(outputs.step_key) == finished - {"items"}
            for op, key in zip(outputs.op, outputs.mapping_key, strict=True):
                if op == "summed":
                    assert run.output("summed", key=key) == expected_summed(key)
                elif op == "framed":
                    assert run.output("framed", key=key).n.sum() == expected_summed(key)
                else:
                    assert run.output("total") == TOTAL
            if run.status == "SUCCESS":
                assert finished == _all_steps() | {"items"}
        orphans = self.instance.sql(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'frames' AND table_name NOT IN "
            "(SELECT table_name FROM outputs WHERE table_name IS NOT NULL)")
        assert orphans.empty, orphans.table_name.tolist()

    def teardown(self) -> None:
        BROKEN.clear()
        INTERRUPT["at"] = None
        self.instance.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _finished(run) -> set[str]:
    steps = run.steps()
    return set(steps[steps.status == "SUCCESS"].step_key)


def _executed(run) -> set[str]:
    steps = run.steps()
    return set(steps[steps.reused_from.isna() & (steps.status != "SKIPPED")].step_key)


def _all_steps() -> set[str]:
    return {"total"} | {f"{op}[{k}]" for op in STEPS for k in KEYS}


RunsModel.TestCase.settings = settings(
    max_examples=int(os.environ.get("NBFLOW_MODEL_EXAMPLES", "25")), stateful_step_count=10, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestRunsModel = pytest.mark.slow(RunsModel.TestCase)
