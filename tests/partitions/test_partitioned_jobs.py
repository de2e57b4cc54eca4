"""Partitioned op jobs and assets: keys checked before anything runs, context.partition_key,
materializations per (asset, partition), and the status table."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import nbflow as nf

STATUS_COLUMNS = ["key", "asset", "status", "last_run", "updated"]


def _status(frame: pd.DataFrame, column: str = "asset") -> dict[tuple[str, str], str]:
    return {(row.key, getattr(row, column)): row.status for row in frame.itertuples()}


# -- op jobs ----------------------------------------------------------------------------------------
def test_a_partitioned_job_sees_its_key(instance):
    episodes = nf.DynamicPartitionsDefinition("pj_episodes")
    key = "ep 1, part/2 | 🎙️ 'x'"
    episodes.add([key, "other"], instance=instance)

    @nf.op
    def pj_which(context):
        return (context.has_partition_key, context.partition_key)

    @nf.job(partitions_def=episodes)
    def pj_job():
        pj_which()

    run = pj_job.run(partition_key=key, instance=instance)
    assert run.status == "SUCCESS"
    assert tuple(run.output("pj_which")) == (True, key)  # from the store (a JSON list)
    assert instance.runs().partition_key.tolist() == [key]
    assert instance.sql("select partitions_def from runs").partitions_def.tolist() == ["pj_episodes"]
    result = pj_job.execute_in_process(partition_key="other", instance=instance)
    assert result.success and tuple(result.output_for_node("pj_which")) == (True, "other")


def test_an_unknown_key_fails_before_anything_runs_naming_key_definition_and_closest(instance):
    episodes = nf.DynamicPartitionsDefinition("pj_fruits")
    episodes.add(["apple", "apricot", "banana", "cherry"], instance=instance)
    ran = []

    @nf.op
    def pj_record(context):
        ran.append(context.partition_key)

    @nf.job(partitions_def=episodes)
    def pj_fruit_job():
        pj_record()

    with pytest.raises(nf.UnknownPartitionError) as caught:
        pj_fruit_job.run(partition_key="aple", instance=instance)
    message = str(caught.value)
    assert message.startswith("Could not find a partition with key 'aple' in DynamicPartitionsDefinition 'pj_fruits'.")
    assert "Valid ones (closest first): 'apple', " in message
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, nf.NbflowError)
    with pytest.raises(KeyError, match=r"Could not find a partition with key 'durian'"):
        pj_fruit_job.execute_in_process(partition_key="durian", instance=instance)
    assert ran == [] and instance.runs().empty
    assert instance.sql("select count(*) as n from materializations").n[0] == 0


def test_an_unknown_key_of_an_empty_definition(instance):
    empty = nf.DynamicPartitionsDefinition("pj_empty")

    @nf.op
    def pj_nothing():
        return 1

    @nf.job(partitions_def=empty)
    def pj_empty_job():
        pj_nothing()

    with pytest.raises(nf.UnknownPartitionError, match=r"key 'a' in DynamicPartitionsDefinition 'pj_empty'.*There are none\."):
        pj_empty_job.run(partition_key="a", instance=instance)


def test_a_deleted_key_can_no_longer_be_run(instance):
    episodes = nf.DynamicPartitionsDefinition("pj_deleted")
    episodes.add(["a"], instance=instance)

    @nf.op
    def pj_one():
        return 1

    @nf.job(partitions_def=episodes)
    def pj_deleted_job():
        pj_one()

    assert pj_deleted_job.run(partition_key="a", instance=instance).success
    episodes.delete(["a"], instance=instance)
    with pytest.raises(nf.UnknownPartitionError, match="Could not find a partition with key 'a'"):
        pj_deleted_job.run(partition_key="a", instance=instance)
    assert len(instance.runs()) == 1


def test_missing_key_and_key_for_an_unpartitioned_job_are_clear_errors(instance):
    episodes = nf.DynamicPartitionsDefinition("pj_need")
    episodes.add(["a", "b"], instance=instance)

    @nf.op
    def pj_plain():
        return 1

    @nf.job(partitions_def=episodes)
    def pj_needs_key():
        pj_plain()

    @nf.job
    def pj_no_partitions():
        pj_plain()

    with pytest.raises(nf.PartitionsError, match=r"Job 'pj_needs_key' is partitioned by 'pj_need': pass "
                                                 r"partition_key=\.\.\. \(one of its 2 keys\)\."):
        pj_needs_key.run(instance=instance)
    with pytest.raises(nf.PartitionsError, match=r"Job 'pj_no_partitions' is not partitioned, so it takes no "
                                                 r"partition_key \(got 'a'\)\. Give the job partitions_def=\.\.\. "
                                                 r"to partition it\."):
        pj_no_partitions.run(partition_key="a", instance=instance)
    assert instance.runs().empty


@pytest.mark.parametrize(("key", "message"), [
    ("bad\tkey", r"The partition key 'bad\\tkey' contains the control character '\\t'"),
    ("", r"A partition key must not be empty"),
    ("k" * 300, r"is 300 characters long; the limit is 255"),
    (42, r"A partition key must be a str, but got 42 of type int"),
])
def test_run_validates_the_key_before_looking_it_up(instance, key, message):
    episodes = nf.DynamicPartitionsDefinition("pj_valid")
    episodes.add(["a"], instance=instance)

    @nf.op
    def pj_v():
        return 1

    @nf.job(partitions_def=episodes)
    def pj_valid_job():
        pj_v()

    with pytest.raises(nf.InvalidKeyError, match=message):
        pj_valid_job.run(partition_key=key, instance=instance)
    assert instance.runs().empty


def test_context_partition_key_outside_a_partitioned_run_is_an_error(instance):
    @nf.op
    def pj_reads_key(context):
        return context.partition_key

    @nf.job
    def pj_unpartitioned_reader():
        pj_reads_key()

    run = pj_unpartitioned_reader.run(instance=instance)
    assert run.status == "FAILURE"
    assert "Cannot access partition_key for a non-partitioned run" in run.steps().error[0]


def test_job_status_comes_from_its_runs(instance):
    episodes = nf.DynamicPartitionsDefinition("pj_status")
    episodes.add(["ok", "bad", "never"], instance=instance)

    @nf.op
    def pj_maybe(context):
        if context.partition_key == "bad":
            raise ValueError("bad episode")
        return 1

    @nf.job(partitions_def=episodes)
    def pj_status_job():
        pj_maybe()

    ok = pj_status_job.run(partition_key="ok", instance=instance)
    pj_status_job.run(partition_key="bad", instance=instance)
    status = episodes.status(pj_status_job, instance=instance)
    assert list(status.columns) == ["key", "job", "status", "last_run", "updated"]
    assert status.key.tolist() == ["ok", "bad", "never"]
    assert status.status.tolist() == ["materialized", "failed", "missing"]
    assert status.last_run[0] == ok.run_id and pd.isna(status.last_run[2])
    # the latest run decides
    pj_status_job.run(partition_key="ok", run_config=None, instance=instance, tags={"again": 1})

    @nf.op
    def pj_maybe(context):  # noqa: F811 -- the fix, typed into the op's cell
        return 1

    pj_status_job.run(partition_key="bad", instance=instance)
    assert episodes.status(pj_status_job, instance=instance).status.tolist() == ["materialized"] * 2 + ["missing"]


def test_job_status_counts_only_runs_of_its_own_definition(instance):
    first, second = nf.DynamicPartitionsDefinition("pj_v1"), nf.DynamicPartitionsDefinition("pj_v2")
    first.add(["x"], instance=instance)
    second.add(["x"], instance=instance)

    @nf.op
    def pj_same():
        return 1

    @nf.job(partitions_def=first)
    def pj_same_name():
        pj_same()

    pj_same_name.run(partition_key="x", instance=instance)
    assert first.status(pj_same_name, instance=instance).status.tolist() == ["materialized"]

    @nf.job(partitions_def=second)
    def pj_same_name():  # the same job name, now under another definition
        pj_same()

    assert second.status(pj_same_name, instance=instance).status.tolist() == ["missing"]


def test_job_status_is_running_while_a_run_is_in_flight(instance):
    episodes = nf.DynamicPartitionsDefinition("pj_flight")
    episodes.add(["a", "b"], instance=instance)
    seen = {}

    @nf.op
    def pj_peek(context):
        seen["status"] = episodes.status(pj_flight_job, instance=instance)
        return 1

    @nf.job(partitions_def=episodes)
    def pj_flight_job():
        pj_peek()

    run = pj_flight_job.run(partition_key="b", instance=instance)
    assert _status(seen["status"], "job") == {("a", "pj_flight_job"): "missing", ("b", "pj_flight_job"): "running"}
    assert seen["status"].last_run[1] == run.run_id
    assert episodes.status(pj_flight_job, instance=instance).status.tolist() == ["missing", "materialized"]


# -- assets -------------------------------------------------------------------------------------------
def test_assets_take_upstream_values_by_parameter_name_and_run_after_deps(instance):
    episodes = nf.DynamicPartitionsDefinition("pa_eps")
    key = "ep/1, the \"pilot\" | 🎙️"
    episodes.add([key, "ep-2"], instance=instance)
    order = []

    @nf.asset(partitions_def=episodes)
    def pa_audio(context):
        order.append("pa_audio")
        return f"audio of {context.partition_key}"

    @nf.asset(partitions_def=episodes)
    def pa_side_effect(context):
        order.append("pa_side_effect")

    @nf.asset(partitions_def=episodes, deps=[pa_side_effect])
    def pa_transcript(context, pa_audio):
        order.append("pa_transcript")
        return pa_audio.upper()

    @nf.asset(partitions_def=episodes, deps=["pa_transcript"])
    def pa_summary(pa_transcript: str) -> str:
        order.append("pa_summary")
        return pa_transcript[:5]

    result = nf.materialize([pa_summary, pa_transcript, pa_side_effect, pa_audio], partition_key=key,
                            instance=instance)
    assert result.success
    assert order.index("pa_side_effect") < order.index("pa_transcript") < order.index("pa_summary")
    assert order.index("pa_audio") < order.index("pa_transcript")
    assert result.output_for_node("pa_transcript") == f"AUDIO OF {key.upper()}"
    assert result.output_for_node("pa_summary") == "AUDIO"
    stored = instance.sql("select asset, partition_key, run_id, status from materializations "
                          "where status = 'materialized' order by asset")
    assert stored.asset.tolist() == ["pa_audio", "pa_side_effect", "pa_summary", "pa_transcript"]
    assert set(stored.partition_key) == {key} and set(stored.run_id) == {result.run_id}
    status = episodes.status(instance=instance)
    assert list(status.columns) == STATUS_COLUMNS
    assert _status(status) == {
        (k, a): ("materialized" if k == key else "missing")
        for k in [key, "ep-2"] for a in ["pa_audio", "pa_side_effect", "pa_summary", "pa_transcript"]
    }
    mine = pa_summary.status(instance=instance)
    assert mine.key.tolist() == [key, "ep-2"] and mine.status.tolist() == ["materialized", "missing"]
    assert mine.last_run[0] == result.run_id and not pd.isna(mine.updated[0]) and pd.isna(mine.updated[1])
    assert episodes.status("pa_audio", instance=instance).status.tolist() == ["materialized", "missing"]
    # steps of assets with deps record their own code version, not the wrapper's
    versions = result.run.steps().set_index("step_key").code_version
    assert versions["pa_transcript"] != versions["pa_summary"]


def test_materialize_validates_the_key_before_running(instance):
    episodes = nf.DynamicPartitionsDefinition("pa_check")
    episodes.add(["a"], instance=instance)

    @nf.asset(partitions_def=episodes)
    def pa_checked(context):
        return 1

    with pytest.raises(nf.UnknownPartitionError, match=r"Could not find a partition with key 'b' in "
                                                       r"DynamicPartitionsDefinition 'pa_check'"):
        nf.materialize([pa_checked], partition_key="b", instance=instance)
    with pytest.raises(nf.PartitionsError, match=r"Job 'materialize:pa_checked' is partitioned by 'pa_check': "
                                                 r"pass partition_key="):
        nf.materialize([pa_checked], instance=instance)
    with pytest.raises(nf.InvalidKeyError, match=r"contains the control character '\\r'"):
        nf.materialize([pa_checked], partition_key="a\r", instance=instance)
    assert instance.runs().empty
    assert pa_checked.status(instance=instance).status.tolist() == ["missing"]


def test_asset_definition_errors():
    first, second = nf.DynamicPartitionsDefinition("pa_one"), nf.DynamicPartitionsDefinition("pa_two")

    @nf.asset
    def pa_plain():
        return 1

    @nf.asset(partitions_def=first)
    def pa_first(context):
        return 1

    @nf.asset(partitions_def=second)
    def pa_second(context):
        return 1

    @nf.asset(partitions_def=first)
    def pa_needs(context, pa_first):
        return pa_first

    with pytest.raises(nf.DefinitionError, match=r"asset 'pa_plain' is not partitioned: it has no per-partition status"):
        pa_plain.status()
    with pytest.raises(nf.DefinitionError, match=r"The assets of 'pa_mixed' must share one partitions definition "
                                                 r"\(found \['pa_one', 'pa_two'\]\)"):
        nf.define_asset_job("pa_mixed", [pa_first, pa_second])
    half = nf.define_asset_job("pa_half", [pa_first, pa_plain])  # as in Dagster, unpartitioned ones may join
    assert half.partitions_def is first
    with pytest.raises(nf.DefinitionError, match=r"asset 'pa_needs' takes the value of asset\(s\) \['pa_first'\], "
                                                 r"which are not among the assets given \(\['pa_needs'\]\)\. Include them\."):
        nf.materialize([pa_needs])
    with pytest.raises(nf.DefinitionError, match=r"define_asset_job\('pa_empty'\) needs a non-empty list of @asset "
                                                 r"definitions, got \[\]"):
        nf.define_asset_job("pa_empty", [])

    @nf.asset(deps=["pa_loop_b"])
    def pa_loop_a():
        return 1

    @nf.asset(deps=["pa_loop_a"])
    def pa_loop_b():
        return 1

    with pytest.raises(nf.DefinitionError, match=r"assets form a cycle through 'pa_loop_"):
        nf.define_asset_job("pa_loop", [pa_loop_a, pa_loop_b])


def test_define_asset_job_takes_the_assets_definition(instance):
    episodes = nf.DynamicPartitionsDefinition("pa_job")
    episodes.add(["a", "b"], instance=instance)

    @nf.asset(partitions_def=episodes)
    def pa_job_asset(context):
        return context.partition_key * 2

    job = nf.define_asset_job("pa_asset_job", [pa_job_asset])
    assert job.partitions_def is episodes
    run = job.run(partition_key="b", instance=instance)
    assert run.output("pa_job_asset") == "bb"
    assert episodes.status(job, instance=instance).status.tolist() == ["missing", "materialized"]
    assert _status(episodes.status(job, instance=instance)) == _status(pa_job_asset.status(instance=instance))


def test_asset_status_failed_and_running(instance):
    episodes = nf.DynamicPartitionsDefinition("pa_states")
    episodes.add(["good", "bad", "peek", "idle"], instance=instance)
    seen = {}

    @nf.asset(partitions_def=episodes)
    def pa_stateful(context):
        if context.partition_key == "bad":
            raise ValueError("broken episode")
        if context.partition_key == "peek":
            seen["inside"] = pa_stateful.status(instance=instance)
        return 1

    @nf.asset(partitions_def=episodes)
    def pa_after(context, pa_stateful):
        return pa_stateful

    job = nf.define_asset_job("pa_states_job", [pa_stateful, pa_after])
    job.run(partition_key="good", instance=instance)
    failed = job.run(partition_key="bad", instance=instance)
    job.run(partition_key="peek", instance=instance)
    inside = seen["inside"]
    assert dict(zip(inside.key, inside.status, strict=True)) == {
        "good": "materialized", "bad": "failed", "peek": "running", "idle": "missing"}
    status = episodes.status(job, instance=instance)
    assert _status(status) == {
        ("good", "pa_stateful"): "materialized", ("good", "pa_after"): "materialized",
        ("bad", "pa_stateful"): "failed", ("bad", "pa_after"): "failed",  # it never ran: not materialized
        ("peek", "pa_stateful"): "materialized", ("peek", "pa_after"): "materialized",
        ("idle", "pa_stateful"): "missing", ("idle", "pa_after"): "missing",
    }
    assert set(status[status.key == "bad"].last_run) == {failed.run_id}


def test_a_run_left_started_shows_running_and_a_canceled_one_failed(instance):
    episodes = nf.DynamicPartitionsDefinition("pa_left")
    episodes.add(["stuck", "stopped"], instance=instance)

    @nf.asset(partitions_def=episodes)
    def pa_left_asset(context):
        if context.partition_key == "stopped":
            raise KeyboardInterrupt  # Ctrl-C in the notebook
        return 1

    # A run whose process still works on it: started, never finished (written as launch() does).
    instance.store.writer("still-going").run_started({
        "run_id": "still-going", "job_name": "materialize:pa_left_asset", "status": "STARTED",
        "partition_key": "stuck", "start": time.time(), "partitions_def": "pa_left",
        "assets": ["pa_left_asset"],
    })
    with pytest.raises(KeyboardInterrupt):
        nf.materialize([pa_left_asset], partition_key="stopped", instance=instance)
    status = pa_left_asset.status(instance=instance)
    assert dict(zip(status.key, status.status, strict=True)) == {"stuck": "running", "stopped": "failed"}
    assert instance.runs().set_index("partition_key").status["stopped"] == "CANCELED"


def test_status_of_every_asset_and_of_nothing(instance):
    episodes = nf.DynamicPartitionsDefinition("pa_none")
    episodes.add(["a"], instance=instance)
    empty = episodes.status(instance=instance)
    assert list(empty.columns) == STATUS_COLUMNS and empty.empty
    assert nf.DynamicPartitionsDefinition("pa_no_keys").status("anything", instance=instance).empty
