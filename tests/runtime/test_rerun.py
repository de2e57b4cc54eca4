"""Reruns through the public API, on a job with two chained maps and a collect.

Oracles: a rerun's final output equals a fresh full run's, and the set of steps that
executed (``reused_from`` empty) is exactly the expected one.
"""

from __future__ import annotations

import pytest

import nbflow as nf
from nbflow.definitions.graph import JOBS

ITEMS = {"a": 1, "b": 2, "c": 3, "d": 4}
BROKEN: set[str] = set()


@nf.op(out=nf.DynamicOut())
def emit():
    for key, value in ITEMS.items():
        yield nf.DynamicOutput(value, mapping_key=key)


@nf.op
def double(context, x):
    if context.get_mapping_key() in BROKEN:
        raise RuntimeError(f"broken {context.get_mapping_key()}")
    return 2 * x


@nf.op
def inc(x):
    return x + 1


@nf.op
def total(xs):
    return sum(xs)


@nf.job
def two_maps():
    total(emit().map(double).map(inc).collect())


def expected_total():
    return sum(2 * v + 1 for v in ITEMS.values())


def executed(run):
    steps = run.steps()
    return set(steps[steps.reused_from.isna()].step_key)


@pytest.fixture(autouse=True)
def _reset():
    items = dict(ITEMS)
    JOBS["two_maps"] = two_maps
    yield
    BROKEN.clear()
    ITEMS.clear()
    ITEMS.update(items)


def test_rerun_failed_runs_only_what_failed_and_what_it_feeds(instance):
    BROKEN.add("c")
    parent = two_maps.run(instance=instance)
    assert parent.status == "FAILURE"
    BROKEN.clear()
    child = parent.rerun(failed=True)
    assert child.status == "SUCCESS"
    assert executed(child) == {"double[c]", "inc[c]", "total"}
    assert child.output("total") == expected_total()
    assert child.output("double") == {k: 2 * v for k, v in ITEMS.items()}  # reused and new together
    steps = child.steps().set_index("step_key")
    assert steps.loc["double[a]", "reused_from"] == parent.run_id
    assert child.parent_run_id == parent.run_id and child.root_run_id == parent.run_id


def test_rerun_one_key_downstream_follows_that_key_and_recollects(instance):
    parent = two_maps.run(instance=instance)
    child = parent.rerun("double", keys=["b"], downstream=True)
    assert executed(child) == {"double[b]", "inc[b]", "total"}
    assert child.output("total") == expected_total()


def test_rerun_one_key_without_downstream(instance):
    parent = two_maps.run(instance=instance)
    child = parent.rerun("inc", keys=["a", "d"], downstream=False)
    assert executed(child) == {"inc[a]", "inc[d]"}
    assert child.output("total") == expected_total()  # reused from the parent


def test_rerun_a_fanout_op_downstream_uses_its_new_keys(instance):
    parent = two_maps.run(instance=instance)
    ITEMS["e"] = 5
    del ITEMS["a"]
    child = parent.rerun("emit", downstream=True)
    assert executed(child) == {"emit", "total"} | {f"{op}[{k}]" for op in ("double", "inc") for k in "bcde"}
    assert child.output("total") == expected_total()
    assert list(child.output("emit")) == list("bcde")


def test_rerun_everything(instance):
    parent = two_maps.run(instance=instance, tags={"who": "me"})
    child = parent.rerun()
    assert executed(child) == set(parent.steps().step_key)
    assert child.tags["who"] == "me"
    assert child.output("total") == parent.output("total")


def test_a_fix_typed_into_the_cell_is_what_reruns(instance):
    @nf.op
    def fragile(x):
        raise ValueError("old code")

    @nf.job
    def fixable():
        total(emit().map(fragile).collect())

    parent = fixable.run(instance=instance)
    assert parent.status == "FAILURE"

    @nf.op
    def fragile(x):  # noqa: F811 - redefined, as when its cell is edited and run again
        return -x

    child = parent.rerun(failed=True)
    assert child.status == "SUCCESS"
    assert child.output("total") == -sum(ITEMS.values())
    versions = child.steps().groupby("op").code_version.nunique()
    old, new = parent.steps().set_index("op").code_version["fragile"].iloc[0], child.steps().set_index("op").code_version["fragile"].iloc[0]
    assert old != new and versions["fragile"] == 1


def test_lineage_parent_and_children(instance):
    BROKEN.add("a")
    root = two_maps.run(instance=instance)
    first = root.rerun(failed=True)
    BROKEN.clear()
    second = first.rerun(failed=True)
    assert second.status == "SUCCESS"
    assert [r.run_id for r in root.children()] == [first.run_id]
    assert second.parent.run_id == first.run_id
    assert second.root_run_id == root.run_id
    lineage = second.lineage()
    assert lineage.run_id.tolist() == [root.run_id, first.run_id, second.run_id]
    assert lineage.status.tolist() == ["FAILURE", "FAILURE", "SUCCESS"]


def test_runs_filters_and_delete_run(instance):
    BROKEN.add("a")
    failed = two_maps.run(instance=instance)
    BROKEN.clear()
    ok = two_maps.run(instance=instance)
    assert instance.runs(job="two_maps", status="FAILURE").run_id.tolist() == [failed.run_id]
    assert instance.runs(limit=1).run_id.tolist() == [ok.run_id]
    instance.delete_run(failed.run_id)
    for table in ("runs", "steps", "outputs", "events"):
        assert instance.sql(f"select count(*) as n from {table} where run_id = ?", [failed.run_id]).n[0] == 0
    assert ok.output("total") == expected_total()
    with pytest.raises(nf.RunNotFoundError, match=r"No run with id 'nope-nope' in the store"):
        instance.delete_run("nope-nope")


def test_delete_run_keeps_a_frame_table_a_rerun_still_uses(instance):
    import pandas as pd

    @nf.op
    def frame():
        return pd.DataFrame({"x": [1, 2, 3]})

    @nf.op
    def width(df):
        return len(df.columns)

    @nf.job
    def frames_job():
        width(frame())

    parent = frames_job.run(instance=instance)
    child = parent.rerun("width")
    instance.delete_run(parent.run_id)
    pd.testing.assert_frame_equal(child.output("frame"), pd.DataFrame({"x": [1, 2, 3]}))


def test_interrupted_run_resumes_without_redoing_finished_steps(instance):
    calls: list[str] = []
    interrupt = {"at": "c"}

    @nf.op(out=nf.DynamicOut())
    def keys():
        for k in "abcd":
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op
    def slow(context, k):
        calls.append(k)
        if k == interrupt["at"]:
            interrupt["at"] = None
            raise KeyboardInterrupt
        return k.upper()

    @nf.op
    def joined(parts):
        return "".join(parts)

    @nf.job
    def interruptible():
        joined(keys().map(slow).collect())

    with pytest.raises(KeyboardInterrupt):
        interruptible.run(instance=instance)
    canceled = instance.get_run(instance.runs().run_id[0])
    assert canceled.status == "CANCELED"
    calls.clear()
    child = canceled.rerun(failed=True)
    assert child.output("joined") == "ABCD"
    assert sorted(calls) == ["c", "d"]  # a and b had finished: kept, not redone
    # The fan-out op had not finished, so it runs again; it yields a and b with the same
    # items, which is what lets their finished steps be kept.
    assert executed(child) == {"keys", "slow[c]", "slow[d]", "joined"}
    kept = child.steps().set_index("step_key").reused_from
    assert kept["slow[a]"] == canceled.run_id and kept["slow[b]"] == canceled.run_id


def test_a_changed_item_or_changed_code_is_not_kept(instance):
    interrupt = {"at": "c"}

    @nf.op(out=nf.DynamicOut())
    def source():
        for k, v in ITEMS.items():
            yield nf.DynamicOutput(v, mapping_key=k)

    @nf.op
    def stage(context, x):
        if context.get_mapping_key() == interrupt["at"]:
            interrupt["at"] = None
            raise KeyboardInterrupt
        return x * 100

    @nf.job
    def memo_job():
        total(source().map(stage).collect())

    with pytest.raises(KeyboardInterrupt):
        memo_job.run(instance=instance)
    canceled = instance.get_run(instance.runs().run_id[0])
    ITEMS["a"] = 10  # a's item changed: a runs again; b did not change: kept
    child = canceled.rerun(failed=True)
    assert executed(child) == {"source", "stage[a]", "stage[c]", "stage[d]", "total"}
    assert child.output("total") == 100 * sum(ITEMS.values())


class Payload:
    def __init__(self, n):
        self.n = n


def test_a_stored_input_that_no_longer_loads_fails_only_the_step_that_needs_it(instance):
    @nf.op(out=nf.DynamicOut())
    def objects():
        for k in "xy":
            yield nf.DynamicOutput(Payload(ord(k)), mapping_key=k)

    @nf.op
    def unwrap(p):
        return p.n

    @nf.job
    def pickled():
        total(objects().map(unwrap).map(inc).collect())

    parent = pickled.run(instance=instance)
    instance.sql("delete from outputs where run_id = ? and op = 'unwrap' and mapping_key = 'x'", [parent.run_id])
    before = instance.sql("select count(*) as n from outputs where run_id = ?", [parent.run_id]).n[0]

    child = parent.rerun("inc", keys=["x", "y"], downstream=False)
    errors = child.steps().set_index("step_key").error
    assert errors["inc[x]"].startswith(
        "Step inc[x] cannot run: its input from output 'result' of step unwrap[x] cannot be loaded "
        f"from run {parent.run_id[:8]} (the parent run stored no value for it)."
    )
    assert child.output("inc", key="y") == ord("y") + 1
    assert instance.sql("select count(*) as n from outputs where run_id = ?", [parent.run_id]).n[0] == before

    saved = globals().pop("Payload")  # the class is gone: the stored pickle cannot load
    try:
        broken = parent.rerun("unwrap", keys=["y"], downstream=False)
    finally:
        globals()["Payload"] = saved
    message = broken.steps().set_index("step_key").error["unwrap[y]"]
    assert message.startswith(
        f"Step unwrap[y] cannot run: its input from output 'result' of step objects[y] cannot be loaded "
        f"from run {parent.run_id[:8]} (AttributeError: Can't get attribute 'Payload'"
    ), message


def _chained_job(stop: dict):
    """emit -> map(first) -> map(second) -> collect; ``stop`` says where to raise what, once:
    ``{"at": ("fan", "b"), "raise": RuntimeError}`` raises in the fan-out after yielding b."""

    def maybe_stop(where):
        if stop.get("at") == where:
            stop["at"] = None
            raise stop["raise"]("stopped")

    @nf.op(out=nf.DynamicOut())
    def fan():
        maybe_stop(("fan", None))
        for k in "abcd":
            yield nf.DynamicOutput(ord(k), mapping_key=k)
            maybe_stop(("fan", k))

    @nf.op
    def first(context, x):
        maybe_stop(("first", context.get_mapping_key()))
        return x + 1

    @nf.op
    def second(context, x):
        maybe_stop(("second", context.get_mapping_key()))
        return x * 10

    @nf.job
    def chained():
        total(fan().map(first).map(second).collect())

    return chained


CHAINED_TOTAL = sum((ord(k) + 1) * 10 for k in "abcd")
STOPS = [(("fan", "b"), KeyboardInterrupt), (("fan", "c"), RuntimeError), (("first", "c"), KeyboardInterrupt),
         (("second", "b"), KeyboardInterrupt), (("second", "c"), RuntimeError), (("first", "b"), RuntimeError)]


@pytest.mark.parametrize(("at", "error"), STOPS)
def test_rerun_of_a_stopped_chain_of_maps_keeps_stored_steps_and_collects(instance, at, error):
    chained = _chained_job({"at": at, "raise": error})
    try:
        chained.run(instance=instance)
    except KeyboardInterrupt:
        pass
    parent = instance.get_run(instance.runs().run_id[0])
    assert parent.status in ("CANCELED", "FAILURE")
    before = parent.steps()
    stored = set(before[before.status == "SUCCESS"].step_key)
    child = parent.rerun(failed=True)
    steps = child.steps()
    assert not steps.step_key.duplicated().any(), steps.step_key.tolist()
    assert child.status == "SUCCESS"
    assert child.output("total") == CHAINED_TOTAL
    everything = {"fan", "total"} | {f"{op}[{k}]" for op in ("first", "second") for k in "abcd"}
    # What the parent stored is kept (a fan-out that had not finished runs again: it must).
    assert executed(child) == everything - stored
    assert set(steps.step_key) == everything


def test_rerunning_one_of_two_failed_keys_carries_the_other_and_says_what_the_collect_misses(instance):
    BROKEN.update({"a", "b"})
    parent = two_maps.run(instance=instance)
    BROKEN.clear()
    child = parent.rerun("double", keys=["a"])
    steps = child.steps().set_index("step_key")
    assert executed(child) == {"double[a]", "inc[a]", "total"}
    # b was not selected: it stays as the parent left it, and the run is not a success.
    assert steps.status["double[b]"] == "FAILURE" and steps.reused_from["double[b]"] == parent.run_id
    assert steps.status["inc[b]"] == "SKIPPED"
    assert child.status == "FAILURE"
    assert steps.status["total"] == "SKIPPED"
    assert steps.error["total"] == (
        f"the outputs of inc to collect are incomplete: double[b] failed in run {parent.run_id[:8]} and this "
        "rerun did not include it. Use run.rerun('double', keys=['b']), or run.rerun(failed=True) for every "
        "step that did not succeed."
    )
    # Finishing the job from the child reruns only b.
    done = child.rerun(failed=True)
    assert done.status == "SUCCESS" and done.output("total") == expected_total()
    assert executed(done) == {"double[b]", "inc[b]", "total"}


def test_a_step_whose_input_failed_in_the_parent_says_so(instance):
    BROKEN.add("b")
    parent = two_maps.run(instance=instance)
    child = parent.rerun("inc", keys=["b"], downstream=False)
    error = child.steps().set_index("step_key").error["inc[b]"]
    assert error.startswith(
        "Step inc[b] cannot run: its input from output 'result' of step double[b] cannot be loaded "
        f"from run {parent.run_id[:8]} (that step failed there)."
    ), error


def test_a_rerun_of_a_rerun_that_stored_nothing_keeps_what_the_run_before_finished(instance):
    stop = {"at": ("first", "c"), "raise": KeyboardInterrupt}
    chained = _chained_job(stop)
    with pytest.raises(KeyboardInterrupt):
        chained.run(instance=instance)
    first_run = instance.get_run(instance.runs().run_id[0])
    finished = set(first_run.steps().query("status == 'SUCCESS'").step_key)
    assert {"first[a]", "first[b]", "second[a]"} <= finished
    stop.update({"at": ("fan", None)})  # the rerun stops before its fan-out yields anything
    with pytest.raises(KeyboardInterrupt):
        first_run.rerun(failed=True)
    stopped = instance.get_run(instance.runs().run_id[0])
    assert stopped.parent.run_id == first_run.run_id
    assert set(stopped.steps().query("status == 'SUCCESS'").step_key) == set()

    child = stopped.rerun(failed=True)
    steps = child.steps().set_index("step_key")
    assert child.status == "SUCCESS" and child.output("total") == CHAINED_TOTAL
    everything = {"fan", "total"} | {f"{op}[{k}]" for op in ("first", "second") for k in "abcd"}
    assert executed(child) == everything - finished
    # Kept from the run that finished them, two generations back.
    assert {steps.reused_from[s] for s in finished} == {first_run.run_id}
    assert child.output("second", key="a") == (ord("a") + 1) * 10


def test_a_rerun_gets_the_run_config_back_exactly(instance):
    import datetime as dt
    from decimal import Decimal

    seen = []

    @nf.op(config_schema={"when": dt.datetime, "pair": tuple, "by_id": dict, "price": Decimal})
    def configured(context):
        seen.append(dict(context.op_config))
        return 1

    @nf.job
    def with_config():
        configured()

    config = {"when": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC), "pair": (1, "x"),
              "by_id": {1: "one", 2: "two"}, "price": Decimal("9.90")}
    parent = with_config.run(instance=instance, run_config={"ops": {"configured": {"config": config}}})
    child = parent.rerun()
    assert child.status == "SUCCESS"
    assert seen[1] == seen[0] == config
    assert [type(v) for v in seen[1].values()] == [dt.datetime, tuple, dict, Decimal]
    assert list(seen[1]["by_id"]) == [1, 2]
    assert child.run_config == parent.run_config == {"ops": {"configured": {"config": config}}}
    # Plain values stay plain JSON for SQL.
    assert instance.sql("SELECT run_config->>'$.ops.configured.config.price.value' AS p FROM runs "
                        "WHERE run_id = ?", [parent.run_id]).p[0] == "9.90"


def test_a_run_config_that_cannot_be_kept_is_refused_before_the_run(instance):
    class Opaque:
        pass

    @nf.op(config_schema={"thing": object})
    def takes(context):
        return 1

    @nf.job
    def opaque_config():
        takes()

    with pytest.raises(nf.ConfigError, match=r"Job 'opaque_config' was not run: "
                       r"run_config\['ops'\]\['takes'\]\['config'\]\['thing'\] is a .*Opaque .*which a stored "
                       r"run cannot give back exactly to a rerun\. Use str, int"):
        opaque_config.run(instance=instance, run_config={"ops": {"takes": {"config": {"thing": Opaque()}}}})
    assert len(instance.runs()) == 0


SLOW_CELL = '''
@nf.op
def slow(context, k):
    """Upper-case one key."""
    # stop once, at the key the test names
    if k == INTERRUPT["at"]:
        INTERRUPT["at"] = None
        raise KeyboardInterrupt
    return k.upper()
'''


def _run_cell(path, source: str, interrupt: dict) -> dict:
    """Run ``source`` as a notebook cell would: its code comes from a file of its own."""
    path.write_text(source)
    namespace = {"__name__": "__main__", "nf": nf, "INTERRUPT": interrupt}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("stored_by_an_earlier_release", [False, True])
def test_a_comment_or_docstring_edit_keeps_finished_steps(instance, tmp_path, stored_by_an_earlier_release):
    interrupt = {"at": "c"}
    cell = _run_cell(tmp_path / "cell_1.py", SLOW_CELL, interrupt)

    @nf.op(out=nf.DynamicOut())
    def keys():
        for k in "abcd":
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op
    def joined(parts):
        return "".join(parts)

    @nf.job
    def commented():
        joined(keys().map(cell["slow"]).collect())

    with pytest.raises(KeyboardInterrupt):
        commented.run(instance=instance)
    canceled = instance.get_run(instance.runs().run_id[0])
    if stored_by_an_earlier_release:  # those hashed the source text
        instance.sql("UPDATE steps SET code_version = '5f1e0c3a9b2d' WHERE op = 'slow'")
    edited = SLOW_CELL.replace("# stop once, at the key the test names", "# the test stops here once") \
        .replace('"""Upper-case one key."""', '"""Upper-case one key (the docstring was edited)."""')
    _run_cell(tmp_path / "cell_2.py", edited, interrupt)  # the cell, edited and run again

    child = canceled.rerun(failed=True)
    assert child.output("joined") == "ABCD"
    if stored_by_an_earlier_release:  # once: the stored hash cannot be compared
        assert executed(child) == {"keys", "slow[a]", "slow[b]", "slow[c]", "slow[d]", "joined"}
    else:
        assert executed(child) == {"keys", "slow[c]", "slow[d]", "joined"}
