"""Deleting partitions that have stored outputs: keep (the default), drop, and restoring."""

from __future__ import annotations

import pandas as pd
import pytest

import nbflow as nf


def _frames(instance) -> set[str]:
    tables = instance.sql("select table_name from duckdb_tables() where schema_name = 'frames'")
    return set(tables.table_name)


@pytest.fixture
def podcast(instance):
    episodes = nf.DynamicPartitionsDefinition("del_eps")
    episodes.add(["ep 1", "ep,2", "ep|3"], instance=instance)

    @nf.asset(partitions_def=episodes)
    def del_table(context):
        return pd.DataFrame({"episode": [context.partition_key], "minutes": [len(context.partition_key)]})

    @nf.asset(partitions_def=episodes)
    def del_count(context, del_table):
        return int(del_table.minutes.sum())

    runs = {key: nf.materialize([del_table, del_count], partition_key=key, instance=instance).run
            for key in ["ep 1", "ep,2"]}
    return episodes, del_table, del_count, runs


def test_keep_is_the_default_and_a_deleted_key_is_never_materialized(instance, podcast):
    episodes, del_table, del_count, runs = podcast
    assert del_count.status(instance=instance).status.tolist() == ["materialized", "materialized", "missing"]
    result = episodes.delete(["ep 1"], instance=instance)
    assert result.deleted == ["ep 1"]
    status = episodes.status(instance=instance)
    assert "ep 1" not in set(status.key)
    assert set(status[status.key == "ep,2"].status) == {"materialized"}
    # the outputs are kept: the past run still loads them
    assert runs["ep 1"].output("del_count") == 4
    assert runs["ep 1"].output("del_table").episode.tolist() == ["ep 1"]
    # re-adding starts as missing
    assert episodes.add(["ep 1"], instance=instance).added == ["ep 1"]
    status = del_count.status(instance=instance)
    assert status.key.tolist() == ["ep,2", "ep|3", "ep 1"]  # a re-added key goes to the end
    assert status.status.tolist() == ["materialized", "missing", "missing"]
    assert pd.isna(status.last_run[2])
    # ... until it is materialized again
    nf.materialize([del_table, del_count], partition_key="ep 1", instance=instance)
    assert del_count.status(instance=instance).status.tolist() == ["materialized", "missing", "materialized"]


def test_restore_outputs_brings_back_what_was_materialized(instance, podcast):
    episodes, _, del_count, runs = podcast
    episodes.delete(["ep 1", "ep,2"], instance=instance)
    episodes.add(["ep 1"], instance=instance, restore_outputs=True)
    episodes.add(["ep,2"], instance=instance)
    status = del_count.status(instance=instance).set_index("key")
    assert status.status.to_dict() == {"ep|3": "missing", "ep 1": "materialized", "ep,2": "missing"}
    assert status.last_run["ep 1"] == runs["ep 1"].run_id


def test_restore_through_the_instance(instance, podcast):
    _, del_table, _, _ = podcast
    instance.delete_dynamic_partitions("del_eps", ["ep,2"])
    instance.add_dynamic_partitions("del_eps", ["ep,2"], restore_outputs=True)
    assert del_table.status(instance=instance).set_index("key").status["ep,2"] == "materialized"


def test_drop_deletes_the_outputs_and_their_tables(instance, podcast):
    episodes, _, del_count, runs = podcast
    tables = instance.sql("select run_id, table_name from outputs where table_name is not null")
    table_of = dict(zip(tables.run_id, tables.table_name, strict=True))
    assert _frames(instance) == set(table_of.values())
    result = episodes.delete(["ep 1", "never there"], outputs="drop", instance=instance)
    assert (result.deleted, result.missing) == (["ep 1"], ["never there"])
    with pytest.raises(nf.OutputNotFoundError, match=r"No outputs found for output 'result' from op 'del_count'"):
        runs["ep 1"].output("del_count")
    with pytest.raises(nf.OutputNotFoundError):
        runs["ep 1"].output("del_table")
    assert _frames(instance) == {table_of[runs["ep,2"].run_id]}
    assert runs["ep,2"].output("del_count") == 4  # other partitions keep theirs
    assert instance.sql("select count(*) as n from materializations where partition_key = 'ep 1'").n[0] == 0
    assert runs["ep 1"].status == "SUCCESS"  # the run record stays
    episodes.add(["ep 1"], instance=instance, restore_outputs=True)  # nothing left to restore
    assert del_count.status(instance=instance).set_index("key").status["ep 1"] == "missing"


def test_drop_keeps_a_table_another_run_still_uses(instance, podcast):
    episodes, _, _, runs = podcast
    table = instance.sql("select table_name from outputs where run_id = ? and table_name is not null",
                         [runs["ep 1"].run_id]).table_name[0]
    # Another run (of a partition not being dropped) refers to the same stored frame, as a rerun's
    # copied output rows do.
    instance.sql("insert into outputs select ?, step_key, op, mapping_key, key_index, output_name, kind, "
                 "json_value, blob_value, table_name, type_name, run_id from outputs where table_name = ?",
                 [runs["ep,2"].run_id, table])
    episodes.delete(["ep 1"], outputs="drop", instance=instance)
    assert table in _frames(instance)
    assert instance.sql("select count(*) as n from outputs where table_name = ?", [table]).n[0] == 1


def test_drop_after_a_rerun_drops_the_shared_table_once_no_run_uses_it(instance):
    episodes = nf.DynamicPartitionsDefinition("del_rerun")
    episodes.add(["a", "b"], instance=instance)
    fail = {"on": True}

    @nf.asset(partitions_def=episodes)
    def del_frame(context):
        return pd.DataFrame({"k": [context.partition_key]})

    @nf.asset(partitions_def=episodes)
    def del_flaky(context, del_frame):
        if fail["on"]:
            raise ValueError("not yet")
        return len(del_frame)

    first = nf.materialize([del_frame, del_flaky], partition_key="a", instance=instance, raise_on_error=False).run
    fail["on"] = False
    second = first.rerun(failed=True)
    assert second.status == "SUCCESS"
    shared = instance.sql("select distinct table_name from outputs where table_name is not null")
    assert len(shared) == 1  # the rerun reused the parent's stored frame
    other = nf.materialize([del_frame, del_flaky], partition_key="b", instance=instance).run
    assert del_flaky.status(instance=instance).status.tolist() == ["materialized", "materialized"]
    episodes.delete(["a"], outputs="drop", instance=instance)
    assert shared.table_name[0] not in _frames(instance)
    assert len(_frames(instance)) == 1
    for run in (first, second):
        with pytest.raises(nf.OutputNotFoundError):
            run.output("del_frame")
    assert other.output("del_frame").k.tolist() == ["b"]


def test_drop_only_touches_runs_of_that_definition(instance):
    mine, theirs = nf.DynamicPartitionsDefinition("del_mine"), nf.DynamicPartitionsDefinition("del_theirs")
    mine.add(["x"], instance=instance)
    theirs.add(["x"], instance=instance)

    @nf.asset(partitions_def=mine)
    def del_mine_asset(context):
        return 1

    @nf.asset(partitions_def=theirs)
    def del_theirs_asset(context):
        return 2

    nf.materialize([del_mine_asset], partition_key="x", instance=instance)
    kept = nf.materialize([del_theirs_asset], partition_key="x", instance=instance).run
    mine.delete(["x"], outputs="drop", instance=instance)
    assert kept.output("del_theirs_asset") == 2
    assert del_theirs_asset.status(instance=instance).status.tolist() == ["materialized"]


def test_drop_of_a_missing_key_drops_nothing(instance, podcast):
    episodes, _, _, runs = podcast
    episodes.delete(["ep 1"], instance=instance)  # keep
    assert episodes.delete(["ep 1"], outputs="drop", instance=instance).missing == ["ep 1"]
    assert runs["ep 1"].output("del_count") == 4


@pytest.mark.parametrize("outputs", ["forget", "DROP", None, ""])
def test_a_bad_outputs_value_is_an_error(instance, podcast, outputs):
    episodes, *_ = podcast
    with pytest.raises(nf.PartitionsError, match=rf'outputs= must be "keep" or "drop", got {outputs!r}\.'):
        episodes.delete(["ep 1"], outputs=outputs, instance=instance)
    assert "ep 1" in episodes.keys(instance=instance)
