"""The store's named reads, which the run handle, the instance and the views use instead of SQL."""

from __future__ import annotations

import nbflow as nf
from nbflow.store import queries

letters = nf.DynamicPartitionsDefinition(name="query_letters")


@nf.op(out=nf.DynamicOut())
def pieces():
    for key in ("a", "b", "c"):
        yield nf.DynamicOutput(key, mapping_key=key)


@nf.op
def shout(text: str) -> str:
    if text == "b":
        raise ValueError("no b")
    return text.upper()


@nf.op
def joined(parts: list) -> str:
    return "".join(parts)


@nf.job(partitions_def=letters)
def shouting():
    joined(pieces().map(shout).collect())


def test_reads_of_one_run(instance):
    instance.add_dynamic_partitions("query_letters", ["x", "y"])
    run = shouting.run(instance=instance, partition_key="x")
    store = instance.store
    assert queries.count_succeeded_steps(store, run.run_id, "pieces") == 1
    assert queries.count_succeeded_steps(store, run.run_id, "shout") == 2
    assert queries.has_mapped_steps(store, run.run_id, "shout")
    assert not queries.has_mapped_steps(store, run.run_id, "pieces")
    assert not queries.has_mapped_steps(store, run.run_id, "no_such_op")
    assert queries.has_keyed_outputs(store, run.run_id, "shout", "result")
    assert not queries.has_keyed_outputs(store, run.run_id, "joined", "result")
    assert queries.step_statuses(store, run.run_id, "shout", "b") == [("shout[b]", "FAILURE")]
    assert len(queries.step_statuses(store, run.run_id, "shout", limit=2)) == 2
    assert queries.step_statuses(store, run.run_id, "no_such_op") == []
    names = queries.output_names_by_step(store, run.run_id)
    assert set(names.step_key) >= {"pieces", "shout[a]", "shout[c]"}
    found = queries.runs_by_id(store, [run.run_id, "deleted-run"])
    assert list(found.index) == [run.run_id] and found.loc[run.run_id].status == "FAILURE"
    assert queries.jobs_of_partitions(store, "query_letters") == ["shouting"]
    assert queries.jobs_of_partitions(store, "unknown") == []


def test_reads_of_partitions(instance):
    instance.add_dynamic_partitions("query_letters", ["a1", "b1", "a2"])
    store = instance.store
    assert "query_letters" in queries.partitions_def_names(store)
    assert queries.partition_key_position(store, "query_letters", "a2", None, False) == 2
    assert queries.partition_key_position(store, "query_letters", "a2", "A", False) == 1  # a1, a2 match
    assert queries.partition_key_position(store, "query_letters", "b1", "^a", True) is None
    events = queries.newest_partition_events(store, "query_letters", 2)
    assert len(events) == 2 and set(events.action) == {"add"}
    assert queries.tick_record(store, "no-such-tick") is None
    assert queries.latest_materialization(store, "no_such_asset") is None
    assert queries.assets_of_partitions(store, "query_letters") == []
