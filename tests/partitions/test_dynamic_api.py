"""DynamicPartitionsDefinition, its requests, and the instance's dynamic-partition API."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import nbflow as nf
from nbflow.partitions import AddDynamicPartitionsRequest, DeleteDynamicPartitionsRequest

ODD_KEYS = [
    "with space", "a,b", "x|y", "a/b/c", "it's \"quoted\"", "🎙️ episode", "'; DROP TABLE partitions; --",
    "%_wild%", "päär/2024 q1|x,y", "a...b", "é", "e\u0301", "trailing ", " leading", "x" * 255,
]


# -- definition and requests ---------------------------------------------------------------------
def test_requests_are_plain_values():
    episodes = nf.DynamicPartitionsDefinition("podcast_episodes")
    add = episodes.build_add_request(["ep-1", "ep 2"])
    assert add == AddDynamicPartitionsRequest("podcast_episodes", ["ep-1", "ep 2"])
    assert isinstance(add, nf.AddDynamicPartitionsRequest)
    delete = episodes.build_delete_request(k for k in ["ep-1"])
    assert delete == DeleteDynamicPartitionsRequest("podcast_episodes", ["ep-1"])
    assert hash(add) == hash(AddDynamicPartitionsRequest("podcast_episodes", ["ep-1", "ep 2"]))
    assert repr(episodes) == "DynamicPartitionsDefinition(name='podcast_episodes')"


@pytest.mark.parametrize("method", ["build_add_request", "build_delete_request"])
def test_a_bare_str_is_refused_and_told_to_pass_a_list(method):
    episodes = nf.DynamicPartitionsDefinition("eps")
    with pytest.raises(nf.PartitionsError, match=rf"{method} takes a list of partition keys, not the str 'apple': "
                                                 r"pass \['apple'\]\."):
        getattr(episodes, method)("apple")
    with pytest.raises(nf.PartitionsError, match=rf"{method} takes a list of partition keys, got 5\."):
        getattr(episodes, method)(5)


def test_requests_validate_their_keys():
    episodes = nf.DynamicPartitionsDefinition("eps")
    with pytest.raises(nf.InvalidKeyError, match=r"The partition key 'a\\tb' contains the control character"):
        episodes.build_add_request(["a\tb"])
    with pytest.raises(nf.InvalidKeyError, match="A partition key must not be empty"):
        episodes.build_delete_request([""])


def test_a_definition_needs_a_name():
    with pytest.raises(nf.PartitionsError, match=r"DynamicPartitionsDefinition needs a name \(a non-empty str\), got None"):
        nf.DynamicPartitionsDefinition()
    with pytest.raises(nf.PartitionsError, match=r"A partitions definition name must not be blank, got '  '"):
        nf.DynamicPartitionsDefinition("  ")
    with pytest.raises(nf.PartitionsError, match=r"partition_fn is not supported \(Dagster deprecated it too\)"):
        nf.DynamicPartitionsDefinition(partition_fn=lambda _: ["a"])
    assert nf.DynamicPartitionsDefinition("my fruits!").name == "my fruits!"  # names are not keys


def test_partitions_error_is_a_value_error():
    assert issubclass(nf.PartitionsError, ValueError) and issubclass(nf.PartitionsError, nf.NbflowError)
    assert issubclass(nf.UnknownPartitionError, KeyError)


# -- the instance API (Dagster's names) ----------------------------------------------------------
def test_instance_api_round_trip(instance):
    assert instance.get_dynamic_partitions("fruits") == []  # an unknown name has no keys, no error
    assert not instance.has_dynamic_partition("fruits", "apple")
    result = instance.add_dynamic_partitions("fruits", ["apple", "banana"])
    assert (result.added, result.existing) == (["apple", "banana"], [])
    assert repr(result) == "<AddResult 2 added, 0 already present>"
    assert instance.has_dynamic_partition("fruits", "apple")
    assert not instance.has_dynamic_partition("fruits", "cherry")
    assert not instance.has_dynamic_partition("fruits", 1)  # not a str: never a key
    assert instance.get_dynamic_partitions("fruits") == ["apple", "banana"]
    assert instance.count_dynamic_partitions("fruits") == 2
    gone = instance.delete_dynamic_partition("fruits", "apple")
    assert (gone.deleted, gone.missing) == (["apple"], [])
    assert repr(gone) == "<DeleteResult 1 deleted, 0 not present>"
    assert instance.get_dynamic_partitions("fruits") == ["banana"]
    assert nf.DynamicPartitionsDefinition("fruits").get_partition_keys(dynamic_partitions_store=instance) == ["banana"]


def test_insertion_order_and_a_readded_key_goes_to_the_end(instance):
    instance.add_dynamic_partitions("order", ["zeta", "alpha", "mid"])
    instance.add_dynamic_partitions("order", ["beta"])
    assert instance.get_dynamic_partitions("order") == ["zeta", "alpha", "mid", "beta"]
    instance.delete_dynamic_partition("order", "alpha")
    instance.add_dynamic_partitions("order", ["alpha"])
    assert instance.get_dynamic_partitions("order") == ["zeta", "mid", "beta", "alpha"]
    # the order survives a cold read of the store
    instance.store.partitions._index.clear()
    assert instance.get_dynamic_partitions("order") == ["zeta", "mid", "beta", "alpha"]


def test_adding_existing_keys_is_idempotent_and_reports_which_were_new(instance):
    instance.add_dynamic_partitions("eps", ["a", "b"])
    again = instance.add_dynamic_partitions("eps", ["b", "c", "a", "d"])
    assert again.added == ["c", "d"]
    assert again.existing == ["b", "a"]
    assert instance.get_dynamic_partitions("eps") == ["a", "b", "c", "d"]
    nothing = instance.add_dynamic_partitions("eps", ["a"])
    assert (nothing.added, nothing.existing) == ([], ["a"])
    assert instance.sql("select count(*) as n from partitions where def_name = 'eps'").n[0] == 4


def test_duplicates_inside_one_call_collapse(instance):
    result = instance.add_dynamic_partitions("eps", ["kiwi", "kiwi", "fig", "kiwi"])  # Dagster: IntegrityError
    assert (result.added, result.existing) == (["kiwi", "fig"], [])
    assert instance.get_dynamic_partitions("eps") == ["kiwi", "fig"]
    stored = instance.sql("select key, count(*) as n from partitions group by key order by key")
    assert stored.n.tolist() == [1, 1]
    deleted = instance.delete_dynamic_partitions("eps", ["kiwi", "kiwi", "nope", "nope"])
    assert (deleted.deleted, deleted.missing) == (["kiwi"], ["nope"])
    history = instance.dynamic_partitions_history("eps")
    assert list(zip(history.key, history.action, strict=True)) == [("kiwi", "add"), ("fig", "add"), ("kiwi", "delete")]


def test_deleting_a_missing_key_is_a_reported_no_op(instance):
    instance.add_dynamic_partitions("eps", ["a"])
    result = instance.delete_dynamic_partition("eps", "zz")
    assert (result.deleted, result.missing) == ([], ["zz"])
    assert instance.delete_dynamic_partition("unknown-def", "a").missing == ["a"]
    assert instance.get_dynamic_partitions("eps") == ["a"]
    assert instance.dynamic_partitions_history("eps").action.tolist() == ["add"]  # no-ops are not history


def test_bulk_delete_in_one_call(instance):
    keys = [f"k{i}" for i in range(2_000)]
    instance.add_dynamic_partitions("bulk", keys)
    result = instance.delete_dynamic_partitions("bulk", [*keys[::2], "absent"])
    assert result.deleted == keys[::2] and result.missing == ["absent"]
    assert instance.get_dynamic_partitions("bulk") == keys[1::2]


def test_history_records_time_and_source(instance):
    episodes = nf.DynamicPartitionsDefinition("eps")
    before = pd.Timestamp(time.time(), unit="s", tz="UTC")
    episodes.add(["a", "b"], instance=instance)
    instance.add_dynamic_partitions("eps", ["c"], source="sensor", source_id="tick-7")
    episodes.delete(["a"], instance=instance)
    instance.delete_dynamic_partitions("eps", ["b"], source="widget")
    after = pd.Timestamp(time.time(), unit="s", tz="UTC")
    history = episodes.history(instance=instance)
    assert list(history.columns) == ["key", "action", "ts", "source", "source_id"]
    assert list(zip(history.key, history.action, history.source, strict=True)) == [
        ("a", "add", "api"), ("b", "add", "api"), ("c", "add", "sensor"), ("a", "delete", "api"),
        ("b", "delete", "widget"),
    ]
    assert history.source_id.tolist()[2] == "tick-7"
    assert history.ts.is_monotonic_increasing
    assert (history.ts >= before.floor("ms")).all() and (history.ts <= after.ceil("ms")).all()


def test_two_definitions_with_the_same_name_share_keys(instance):
    first, second = nf.DynamicPartitionsDefinition("shared"), nf.DynamicPartitionsDefinition("shared")
    other = nf.DynamicPartitionsDefinition("other")
    first.add(["a"], instance=instance)
    assert second.keys(instance=instance) == ["a"]
    assert second.add(["a", "b"], instance=instance).added == ["b"]
    assert first.keys(instance=instance) == ["a", "b"]
    assert other.keys(instance=instance) == []


@pytest.mark.parametrize("key", ODD_KEYS)
def test_any_non_control_key_is_stored_and_returned_exactly(instance, key):
    episodes = nf.DynamicPartitionsDefinition("odd")
    assert episodes.add([key], instance=instance).added == [key]
    assert episodes.keys(instance=instance) == [key]
    assert instance.has_dynamic_partition("odd", key)
    instance.store.partitions._index.clear()  # read back from DuckDB, not from the index
    assert episodes.keys(instance=instance) == [key]
    assert instance.sql("select key from partitions").key.tolist() == [key]
    assert episodes.delete([key], instance=instance).deleted == [key]
    assert episodes.keys(instance=instance) == []


def test_look_alike_keys_stay_distinct(instance):
    keys = ["é", "e\u0301", "a", "a ", "A", "ａ"]  # NFC/NFD, trailing space, case, full width
    assert instance.add_dynamic_partitions("alike", keys).added == keys
    instance.store.partitions._index.clear()
    assert instance.get_dynamic_partitions("alike") == keys
    assert instance.delete_dynamic_partitions("alike", ["e\u0301"]).deleted == ["e\u0301"]
    assert instance.get_dynamic_partitions("alike") == ["é", "a", "a ", "A", "ａ"]


# -- the definition's conveniences ----------------------------------------------------------------
def test_conveniences_bound_to_the_default_instance():
    episodes = nf.DynamicPartitionsDefinition("default_eps")
    assert len(episodes) == 0 and "a" not in episodes
    assert episodes.add(["a", "b c", "d"]).added == ["a", "b c", "d"]
    assert "a" in episodes and "b c" in episodes and "zz" not in episodes and 3 not in episodes
    assert len(episodes) == 3
    assert episodes.keys() == ["a", "b c", "d"] == episodes.get_partition_keys()
    assert episodes.delete(["a"]).deleted == ["a"]
    assert "a" not in episodes and len(episodes) == 2
    assert nf.instance().get_dynamic_partitions("default_eps") == ["b c", "d"]
    assert episodes.history().action.tolist() == ["add", "add", "add", "delete"]


def test_conveniences_with_an_explicit_instance(instance):
    episodes = nf.DynamicPartitionsDefinition("explicit")
    episodes.add(["x"], instance=instance)
    assert episodes.keys(instance=instance) == ["x"]
    assert episodes.keys() == []  # the default instance is another store
    assert len(episodes) == 0


def test_select_by_regex_and_like_in_order(instance):
    episodes = nf.DynamicPartitionsDefinition("sel")
    episodes.add(["ep-10", "ep-2", "bonus", "ep-1", "ep_x", "EP-3"], instance=instance)
    assert episodes.select(regex=r"^ep-\d+$", instance=instance) == ["ep-10", "ep-2", "ep-1"]
    assert episodes.select(regex="1", instance=instance) == ["ep-10", "ep-1"]  # search, not full match
    assert episodes.select(like="ep-_", instance=instance) == ["ep-2", "ep-1"]
    assert episodes.select(like="ep%", regex="0$", instance=instance) == ["ep-10"]
    assert episodes.select(instance=instance) == episodes.keys(instance=instance)
    nf.DynamicPartitionsDefinition("sel").add(["ep-99"])  # another store: not selected
    assert episodes.select(regex="99", instance=instance) == []


def test_a_bad_regex_is_a_partitions_error(instance):
    episodes = nf.DynamicPartitionsDefinition("sel")
    episodes.add(["a"], instance=instance)
    with pytest.raises(nf.PartitionsError, match=r"regex='\[' is not a valid regular expression \(RE2 syntax"):
        episodes.select(regex="[", instance=instance)
    assert episodes.keys(instance=instance) == ["a"]  # the store is still usable


# -- key validation through every entry point ---------------------------------------------------------
BAD_KEYS = [
    ("", r"A partition key must not be empty\."),
    ("x" * 256, r"The partition key 'x{40}'\.\.\. is 256 characters long; the limit is 255\."),
    ("a\nb", r"The partition key 'a\\nb' contains the control character '\\n' \(U\+000A\); keys may not contain "
             r"control characters\."),
    ("nul\x00", r"contains the control character '\\x00' \(U\+0000\)"),
    ("del\x7f", r"contains the control character '\\x7f' \(U\+007F\)"),
    ("c1\x85", r"contains the control character '\\x85' \(U\+0085\)"),
    ("lone\ud800", r"contains the lone surrogate '\\ud800' \(U\+D800\), which is not valid Unicode text; keys must be "
                   r"encodable as UTF-8\."),
    (7, r"A partition key must be a str, but got 7 of type int\. Convert it with str\(\.\.\.\) first\."),
    (None, r"A partition key must be a str, but got None of type NoneType"),
    (["a"], r"A partition key must be a str, but got \['a'\] of type list"),  # not even hashable
]


@pytest.mark.parametrize(("key", "message"), BAD_KEYS)
def test_bad_keys_are_refused_on_add_and_delete_naming_key_and_rule(instance, key, message):
    episodes = nf.DynamicPartitionsDefinition("strict")
    episodes.add(["good"], instance=instance)
    with pytest.raises(nf.InvalidKeyError, match=message):
        episodes.add(["fine", key], instance=instance)
    with pytest.raises(nf.InvalidKeyError, match=message):
        instance.add_dynamic_partitions("strict", [key])
    with pytest.raises(nf.InvalidKeyError, match=message):
        instance.delete_dynamic_partitions("strict", ["good", key])
    with pytest.raises(nf.InvalidKeyError, match=message):
        instance.delete_dynamic_partition("strict", key)
    assert episodes.keys(instance=instance) == ["good"]  # nothing of a refused call was applied
    assert episodes.history(instance=instance).action.tolist() == ["add"]


@pytest.mark.parametrize("method", ["add_dynamic_partitions", "delete_dynamic_partitions"])
def test_instance_methods_refuse_a_bare_str(instance, method):
    with pytest.raises(nf.PartitionsError, match=rf"{method} takes a list of partition keys, not the str 'apple': "
                                                 r"pass \['apple'\]"):
        getattr(instance, method)("fruits", "apple")
    with pytest.raises(nf.PartitionsError, match=rf"{method} takes a list of partition keys, got None\."):
        getattr(instance, method)("fruits", None)
    assert instance.get_dynamic_partitions("fruits") == []


def test_mapping_keys_use_the_same_validator(instance):
    @nf.op(out=nf.DynamicOut())
    def pt_emit_surrogate():
        yield nf.DynamicOutput(1, mapping_key="ok key, with|odd/chars")
        yield nf.DynamicOutput(2, mapping_key="bad\ud800")

    @nf.op
    def pt_emit_total(values):
        return sum(values)

    @nf.job
    def pt_surrogate_job():
        pt_emit_total(pt_emit_surrogate().collect())

    run = pt_surrogate_job.run(instance=instance)
    assert run.status == "FAILURE"
    assert "contains the lone surrogate" in run.steps().set_index("step_key").error["pt_emit_surrogate"]


# -- applying requests, and edits inside one transaction -------------------------------------------
def test_applying_requests_records_their_source(instance):
    episodes = nf.DynamicPartitionsDefinition("req")
    added = instance.apply_partitions_request(episodes.build_add_request(["a", "b", "a"]), source="sensor",
                                              source_id="tick-1")
    assert (added.added, added.existing) == (["a", "b"], [])
    assert instance.apply_partitions_request(episodes.build_add_request(["b"])).existing == ["b"]
    history = episodes.history(instance=instance)
    assert history.source.tolist() == ["sensor", "sensor"] and history.source_id.tolist() == ["tick-1", "tick-1"]
    with pytest.raises(nf.PartitionsError, match=r"apply_partitions_request takes a request from build_add_request "
                                                 r"or build_delete_request, got \['a'\]\."):
        instance.apply_partitions_request(["a"])


def test_several_edits_in_one_transaction_see_each_other(instance):
    """A sensor tick applies all its partition requests in one transaction."""
    parts = instance.store.partitions
    with instance.store.holder.transaction() as tx:
        assert parts.add("tick", ["x", "y"], con=tx).added == ["x", "y"]
        again = parts.add("tick", ["x", "z"], con=tx)
        assert (again.added, again.existing) == (["z"], ["x"])
        assert parts.delete("tick", ["y"], con=tx).deleted == ["y"]
        assert parts.add("tick", ["y"], con=tx).added == ["y"]
    assert instance.get_dynamic_partitions("tick") == ["x", "z", "y"]
    instance.store.partitions._index.clear()
    assert instance.get_dynamic_partitions("tick") == ["x", "z", "y"]
    counts = instance.sql("select key, count(*) as n from partitions where def_name = 'tick' group by key")
    assert counts.n.tolist() == [1, 1, 1]


def test_a_rolled_back_edit_leaves_no_trace(instance):
    instance.add_dynamic_partitions("rb", ["keep"])
    parts = instance.store.partitions
    with pytest.raises(RuntimeError, match="tick failed"), instance.store.holder.transaction() as tx:
        parts.add("rb", ["new"], con=tx)
        parts.delete("rb", ["keep"], con=tx)
        assert instance.get_dynamic_partitions("rb") == ["new"]  # the transaction's own view
        raise RuntimeError("tick failed")
    assert instance.get_dynamic_partitions("rb") == ["keep"]
    assert instance.has_dynamic_partition("rb", "keep") and not instance.has_dynamic_partition("rb", "new")
    assert instance.dynamic_partitions_history("rb").action.tolist() == ["add"]


def test_two_instances_on_one_file_in_one_process_see_each_others_keys(tmp_path):
    path = str(tmp_path / "two.duckdb")
    first, second = nf.Instance(path), nf.Instance(path)
    try:
        first.add_dynamic_partitions("eps", ["a"])
        assert second.get_dynamic_partitions("eps") == ["a"]  # second's index is loaded now
        second.add_dynamic_partitions("eps", ["b"])
        first.delete_dynamic_partition("eps", "a")
        assert first.get_dynamic_partitions("eps") == ["b"]
        assert second.get_dynamic_partitions("eps") == ["b"]
        assert not second.has_dynamic_partition("eps", "a")
        assert second.add_dynamic_partitions("eps", ["b"]).existing == ["b"]  # no duplicate row
        assert first.count_dynamic_partitions("eps") == 1
        assert first.sql("select count(*) as n from partitions").n[0] == 1
    finally:
        first.close()
        second.close()


def test_a_check_without_an_index_asks_the_store_and_loads_the_index_in_the_background(tmp_path):
    inst = nf.Instance(str(tmp_path / "lazy.duckdb"))
    inst.add_dynamic_partitions("lazy_eps", ["a", "b, c"])
    inst.close()
    inst.store.partitions._forget()  # as after another process's write

    assert inst.has_dynamic_partition("lazy_eps", "b, c")
    assert not inst.has_dynamic_partition("lazy_eps", "zz")
    assert not inst.has_dynamic_partition("other_eps", "a")
    deadline = time.monotonic() + 30
    while "lazy_eps" not in inst.store.partitions._index:
        assert time.monotonic() < deadline, "the index was never loaded in the background"
        time.sleep(0.01)
    assert list(inst.store.partitions._index["lazy_eps"]) == ["a", "b, c"]
    inst.close()


def test_a_background_load_overtaken_by_a_write_is_thrown_away(tmp_path):
    inst = nf.Instance(str(tmp_path / "overtaken.duckdb"))
    partitions = inst.store.partitions
    inst.add_dynamic_partitions("eps", ["a"])
    started_at = partitions._generation  # a load starts here ...
    inst.add_dynamic_partitions("eps", ["b"])  # ... and a write overtakes it
    partitions._index.clear()
    with inst.store.holder.use():  # the file is open, as when a check starts a load
        partitions._background_load("eps", started_at)
    assert "eps" not in partitions._index
    assert inst.get_dynamic_partitions("eps") == ["a", "b"]
    inst.close()
