"""Backfills: one run per partition key, in order, with a progress line and a summary."""

from __future__ import annotations

import json

import pytest

import nbflow as nf

KEYS = ["ep 1", "ep,2", "ep|3", "ep/4", "ép 5 🎙️"]


@pytest.fixture
def setup(instance):
    episodes = nf.DynamicPartitionsDefinition("bf_eps")
    episodes.add(KEYS, instance=instance)
    state = {"broken": {"ep|3"}, "ran": []}

    @nf.op
    def bf_work(context):
        state["ran"].append(context.partition_key)
        if context.partition_key in state["broken"]:
            raise ValueError(f"cannot do {context.partition_key}")
        return context.partition_key.upper()

    @nf.job(partitions_def=episodes)
    def bf_job():
        bf_work()

    return episodes, bf_job, state


def test_backfill_runs_every_key_once_in_order_with_progress(instance, setup, capsys):
    _, bf_job, state = setup
    result = bf_job.backfill(instance=instance)
    assert state["ran"] == KEYS  # sequential, in insertion order
    assert list(result.runs) == KEYS
    assert result.succeeded == [k for k in KEYS if k != "ep|3"] and result.failed == ["ep|3"]
    assert repr(result) == f"<Backfill {result.backfill_id}: 5 partitions, 4 succeeded, 1 failed>"
    summary = result.summary()
    assert list(summary.columns) == ["partition_key", "status", "run_id"]
    assert summary.partition_key.tolist() == KEYS
    assert summary.status.tolist() == ["SUCCESS", "SUCCESS", "FAILURE", "SUCCESS", "SUCCESS"]
    out = capsys.readouterr().out
    assert f"backfill {result.backfill_id} of bf_job: 1/5 partitions, 0 failed" in out
    assert out.rstrip("\n").endswith(f"backfill {result.backfill_id} of bf_job: 5/5 partitions, 1 failed")
    runs = instance.runs()
    assert len(runs) == 5 and set(runs.partition_key) == set(KEYS)
    assert {tags["nbflow/backfill"] for tags in runs.tags.map(json.loads)} == {result.backfill_id}
    assert result.runs["ep/4"].output("bf_work") == "EP/4"


def test_backfill_explicit_keys_and_duplicates(instance, setup):
    _, bf_job, state = setup
    result = bf_job.backfill(partition_keys=["ep/4", "ep 1", "ep/4"], instance=instance, progress=False)
    assert state["ran"] == ["ep/4", "ep 1"] and list(result.runs) == ["ep/4", "ep 1"]


def test_failed_partitions_are_backfilled_again_and_succeed_after_a_fix(instance, setup):
    episodes, bf_job, state = setup
    state["broken"] = {"ep|3", "ep/4"}
    bf_job.backfill(partition_keys=["ep 1", "ep|3", "ep/4"], instance=instance, progress=False)
    status = episodes.status(bf_job, instance=instance)
    assert status.status.tolist() == ["materialized", "missing", "failed", "failed", "missing"]
    state["ran"].clear()
    again = bf_job.backfill(select="failed", instance=instance, progress=False)
    assert state["ran"] == ["ep|3", "ep/4"] and again.failed == ["ep|3", "ep/4"]
    state["broken"].clear()  # the fix
    state["ran"].clear()
    fixed = bf_job.backfill(select="failed", instance=instance, progress=False)
    assert state["ran"] == ["ep|3", "ep/4"] and fixed.succeeded == ["ep|3", "ep/4"]
    state["ran"].clear()
    rest = bf_job.backfill(select="missing", instance=instance, progress=False)
    assert state["ran"] == ["ep,2", "ép 5 🎙️"] and rest.failed == []
    assert set(episodes.status(bf_job, instance=instance).status) == {"materialized"}
    state["ran"].clear()
    nothing = bf_job.backfill(select="failed_or_missing", instance=instance, progress=False)
    assert state["ran"] == [] and nothing.runs == {}


def test_failed_backfill_with_the_result_keys(instance, setup):
    _, bf_job, state = setup
    first = bf_job.backfill(instance=instance, progress=False)
    state["broken"].clear()
    assert bf_job.backfill(first.failed, instance=instance, progress=False).succeeded == ["ep|3"]


def test_backfill_select_by_regex_and_like(instance, setup):
    _, bf_job, state = setup
    bf_job.backfill(select={"regex": r"^ep[,|]"}, instance=instance, progress=False)
    assert state["ran"] == ["ep,2", "ep|3"]
    state["ran"].clear()
    bf_job.backfill(select={"like": "%/%"}, instance=instance, progress=False)
    assert state["ran"] == ["ep/4"]
    state["ran"].clear()
    result = bf_job.backfill(select={"regex": "no such"}, instance=instance, progress=False)
    assert state["ran"] == [] and result.runs == {}


def test_an_empty_selection_says_so(instance, setup, capsys):
    _, bf_job, _ = setup
    result = bf_job.backfill(select={"regex": "zzz"}, instance=instance)
    assert capsys.readouterr().out == f"backfill {result.backfill_id} of bf_job: no partitions selected\n"


def test_unknown_keys_fail_before_any_run(instance, setup):
    _, bf_job, state = setup
    with pytest.raises(nf.UnknownPartitionError, match=r"Could not find partition\(s\) \['ep 9', 'x'\] in "
                                                       r"DynamicPartitionsDefinition 'bf_eps'; nothing was run\. "
                                                       r"Valid ones \(closest first\): 'ep 1'"):
        bf_job.backfill(partition_keys=["ep 1", "ep 9", "x"], instance=instance, progress=False)
    assert state["ran"] == [] and instance.runs().empty


@pytest.mark.parametrize(("keys", "error", "message"), [
    ("ep 1", nf.PartitionsError, r"backfill takes a list of partition keys, not the str 'ep 1': pass \['ep 1'\]\."),
    (["ep 1", "bad\nkey"], nf.InvalidKeyError, r"The partition key 'bad\\nkey' contains the control character"),
    (["ep 1", ""], nf.InvalidKeyError, r"A partition key must not be empty"),
    (["ep 1", "k" * 256], nf.InvalidKeyError, r"is 256 characters long; the limit is 255"),
    (["ep 1", 3], nf.InvalidKeyError, r"A partition key must be a str, but got 3 of type int"),
])
def test_backfill_validates_keys_before_any_run(instance, setup, keys, error, message):
    _, bf_job, state = setup
    with pytest.raises(error, match=message):
        bf_job.backfill(partition_keys=keys, instance=instance, progress=False)
    assert state["ran"] == [] and instance.runs().empty


def test_backfill_argument_errors(instance, setup):
    _, bf_job, state = setup

    @nf.op
    def bf_plain():
        return 1

    @nf.job
    def bf_unpartitioned():
        bf_plain()

    with pytest.raises(nf.PartitionsError, match=r"Job 'bf_unpartitioned' is not partitioned; a backfill needs a job "
                                                 r"with partitions_def=\."):
        bf_unpartitioned.backfill(instance=instance)
    with pytest.raises(nf.PartitionsError, match=r"Pass partition_keys= or select=, not both\."):
        bf_job.backfill(partition_keys=["ep 1"], select="failed", instance=instance)
    with pytest.raises(nf.PartitionsError, match=r"select= must be one of \['all', 'missing', 'failed', "
                                                 r"'failed_or_missing'\] or a dict with 'regex'/'like', got 'broken'\."):
        bf_job.backfill(select="broken", instance=instance)
    with pytest.raises(nf.PartitionsError, match=r"select= takes 'regex' and/or 'like', got \['glob'\]\."):
        bf_job.backfill(select={"glob": "*"}, instance=instance)
    with pytest.raises(nf.PartitionsError, match=r"regex='\(' is not a valid regular expression"):
        bf_job.backfill(select={"regex": "("}, instance=instance)
    assert state["ran"] == [] and instance.runs().empty


def test_backfill_of_an_asset_job(instance):
    episodes = nf.DynamicPartitionsDefinition("bf_assets")
    episodes.add(["a", "b", "c"], instance=instance)
    broken = {"b"}

    @nf.asset(partitions_def=episodes)
    def bf_source(context):
        return context.partition_key

    @nf.asset(partitions_def=episodes, deps=[bf_source])
    def bf_derived(context, bf_source):
        if bf_source in broken:
            raise ValueError("broken")
        return bf_source * 2

    job = nf.define_asset_job("bf_asset_job", [bf_source, bf_derived])
    assert job.backfill(instance=instance, progress=False).failed == ["b"]
    status = episodes.status(job, instance=instance)
    assert status[status.asset == "bf_derived"].status.tolist() == ["materialized", "failed", "materialized"]
    assert status[status.asset == "bf_source"].status.tolist() == ["materialized"] * 3

    @nf.asset(partitions_def=episodes, deps=[bf_source])
    def bf_derived(context, bf_source):  # the fix, typed into the asset's cell (it has deps=)
        return bf_source * 3

    again = job.backfill(select="failed", instance=instance, progress=False)
    assert again.succeeded == ["b"] and again.runs["b"].output("bf_derived") == "bbb"
    assert set(episodes.status(job, instance=instance).status) == {"materialized"}
