"""The run store on ``:memory:`` and on a file: rows written by a run, outputs loaded back,
``instance.sql``, run lookup, error messages, and batched writes."""

from __future__ import annotations

import os
import re
import time

import pandas as pd
import pandas.testing as pdt
import pyarrow as pa
import pytest

import nbflow as nf
from nbflow.store import writer as writer_module
from nbflow.store.connection import ConnectionHolder

# -- a small job ------------------------------------------------------------------------------


@nf.op(out=nf.DynamicOut())
def fan(context):
    context.log.info("fanning out")
    for i in range(3):
        yield nf.DynamicOutput(i, mapping_key=f"k{i}")


@nf.op
def double(x):
    print(f"doubling {x}")
    return 2 * x


@nf.op
def total(values):
    return sum(values)


@nf.job(tags={"team": "store"})
def store_small():
    total(fan().map(double).collect())


@nf.op
def boom():
    raise ValueError("boom went the op")


@nf.job
def store_failing():
    boom()


SMALL_STEPS = {"fan", "double[k0]", "double[k1]", "double[k2]", "total"}


# -- rows ------------------------------------------------------------------------------------


def test_a_run_writes_its_runs_row(store_instance):
    before = time.time()
    run = store_small.run(instance=store_instance, tags={"who": "test"})
    rows = store_instance.sql("SELECT *, epoch(start_time) AS s, epoch(end_time) AS e FROM runs")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row.run_id == run.run_id
    assert row.job_name == "store_small"
    assert row.status == "SUCCESS"
    assert row.root_run_id == run.run_id
    assert row.pid == os.getpid()
    assert row.backend == "in_process"
    assert before - 1 <= row.s <= row.e <= time.time() + 1
    assert run.tags == {"team": "store", "who": "test"}
    assert run.status == "SUCCESS" and run.success


def test_a_run_writes_one_steps_row_per_step(store_instance):
    run = store_small.run(instance=store_instance)
    steps = store_instance.sql("SELECT * FROM steps WHERE run_id = ?", [run.run_id])
    assert set(steps.step_key) == SMALL_STEPS
    assert len(steps) == len(SMALL_STEPS)
    assert set(steps.status) == {"SUCCESS"}
    assert set(steps.attempts) == {1}
    assert steps.code_version.str.fullmatch(r"[0-9a-f]{12}").all()
    mapped = steps[steps.op == "double"].sort_values("key_index")
    assert list(mapped.mapping_key) == ["k0", "k1", "k2"]
    assert list(mapped.key_index) == [0, 1, 2]
    assert steps[steps.op != "double"].mapping_key.isna().all()


def test_run_steps_has_a_duration_that_adds_up(store_instance):
    run = store_small.run(instance=store_instance)
    steps = run.steps()
    assert list(steps.columns[:8]) == [
        "step_key", "op", "mapping_key", "status", "attempts", "start_time", "end_time", "duration"
    ]
    assert pd.api.types.is_timedelta64_dtype(steps["duration"])
    assert (steps["duration"] >= pd.Timedelta(0)).all()
    assert steps["duration"].sum() >= pd.Timedelta(0)  # DateOffset objects could not be summed
    runs = store_instance.runs()
    assert pd.api.types.is_timedelta64_dtype(runs["duration"])
    assert (runs["duration"] == runs["end_time"] - runs["start_time"]).all()


def test_a_run_writes_its_outputs_rows(store_instance):
    run = store_small.run(instance=store_instance)
    outputs = store_instance.sql(
        "SELECT step_key, op, coalesce(mapping_key, '-'), output_name, kind, json_value, type_name FROM outputs "
        "WHERE run_id = ? ORDER BY op, key_index",
        [run.run_id],
    )
    assert list(outputs.itertuples(index=False, name=None)) == [
        ("double[k0]", "double", "k0", "result", "json", "0", "int"),
        ("double[k1]", "double", "k1", "result", "json", "2", "int"),
        ("double[k2]", "double", "k2", "result", "json", "4", "int"),
        ("fan", "fan", "k0", "result", "json", "0", "int"),
        ("fan", "fan", "k1", "result", "json", "1", "int"),
        ("fan", "fan", "k2", "result", "json", "2", "int"),
        ("total", "total", "-", "result", "json", "6", "int"),
    ]


def test_a_run_writes_its_logs_as_events(store_instance):
    run = store_small.run(instance=store_instance)
    logs = run.logs()
    printed = logs[logs.kind == "stdout"]
    assert sorted(printed.step_key) == ["double[k0]", "double[k1]", "double[k2]"]
    assert sorted(m.strip() for m in printed.message) == ["doubling 0", "doubling 1", "doubling 2"]
    logged = logs[logs.kind == "log"]
    assert list(logged.step_key) == ["fan"]
    assert "fanning out" in logged.message.iloc[0]
    assert list(run.logs("double[k1]").message.str.strip()) == ["doubling 1"]
    assert logs.ts.is_monotonic_increasing


def test_a_failed_step_is_stored_with_its_error(store_instance):
    run = store_failing.run(instance=store_instance)
    assert run.status == "FAILURE"
    steps = run.steps()
    assert list(steps.status) == ["FAILURE"]
    assert "ValueError: boom went the op" in steps.error.iloc[0]


# -- outputs ---------------------------------------------------------------------------------


def test_outputs_load_back(store_instance):
    run = store_small.run(instance=store_instance)
    stored = store_instance.get_run(run.run_id)  # no job attached: reads the store only
    for handle in (run, stored):
        assert handle.output("double") == {"k0": 0, "k1": 2, "k2": 4}
        assert handle.output("double", key="k1") == 2
        assert handle.output("fan") == {"k0": 0, "k1": 1, "k2": 2}
        assert handle.output("total") == 6


FRAMES = {
    "plain": pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [1.5, None, 2.5]}),
    "named_index": pd.DataFrame({"v": [10, 20]}, index=pd.Index(["p", "q"], name="key")),
    "multi_index": pd.DataFrame(
        {"v": [1.0, 2.0]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["s", "n"])
    ),
    "unnamed_index": pd.DataFrame({"v": [1, 2]}, index=["p", "q"]),
    "sliced": pd.DataFrame({"v": [1, 2, 3, 4]}).iloc[2:],
    "index_named_like_a_column": pd.DataFrame({"a": [1, 2]}, index=pd.Index([5, 6], name="a")),
    "times_and_flags": pd.DataFrame(
        {"t": pd.to_datetime(["2024-01-01", "2024-01-02"]), "ok": [True, False],
         "c": pd.Categorical(["x", "y"])}
    ),
    "empty": pd.DataFrame({"a": pd.Series([], dtype="int64")}),
}


def _frame_job(value, name):
    @nf.op(name="make")
    def make():
        return value

    @nf.op(name="rows")
    def rows(frame):
        return len(frame)

    @nf.job(name=name)
    def frame_job():
        rows(make())

    return frame_job


def _frames_tables(inst):
    return set(inst.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'frames'").table_name)


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_dataframe_outputs_become_tables_and_load_back_equal(store_instance, name):
    frame = FRAMES[name]
    run = _frame_job(frame, f"frame_{name}").run(instance=store_instance)
    assert run.status == "SUCCESS"
    row = store_instance.sql("SELECT kind, table_name, type_name FROM outputs WHERE op = 'make'").iloc[0]
    assert (row.kind, row.type_name) == ("table", "pandas.DataFrame")
    assert _frames_tables(store_instance) == {row.table_name}
    pdt.assert_frame_equal(run.output("make"), frame)
    pdt.assert_frame_equal(store_instance.get_run(run.run_id).output("make"), frame)
    assert run.output("rows") == len(frame)
    # the table can be queried like any other
    queried = store_instance.sql(f'SELECT count(*) AS n FROM frames."{row.table_name}"')
    assert queried.n.iloc[0] == len(frame)


def test_an_arrow_table_output_becomes_a_table_and_loads_back_equal(store_instance):
    table = pa.table({"a": [1, 2, 3], "s": ["u", "v", None], "f": [0.5, None, 1.5]})
    run = _frame_job(table, "frame_arrow").run(instance=store_instance)
    row = store_instance.sql("SELECT kind, table_name, type_name FROM outputs WHERE op = 'make'").iloc[0]
    assert (row.kind, row.type_name) == ("table", "pyarrow.Table")
    back = store_instance.get_run(run.run_id).output("make")
    assert isinstance(back, pa.Table)
    assert back.equals(table)


UNTABLEABLE = {
    "duplicate_columns": pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "int_column_names": pd.DataFrame({0: [1, 2], 1: [3, 4]}),
    "mixed_object_column": pd.DataFrame({"m": [1, "x", 2.5]}),
    "dict_column": pd.DataFrame({"d": [{"a": 1}, {"b": 2}]}),
    "tz_aware": pd.DataFrame({"t": pd.to_datetime(["2024-01-01"]).tz_localize("Europe/Paris")}),
    "nullable_int": pd.DataFrame({"i": pd.array([1, None], dtype="Int64")}),
    "multiindex_columns": pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
}


@pytest.mark.parametrize("name", sorted(UNTABLEABLE))
def test_frames_duckdb_would_change_are_pickled_and_load_back_equal(store_instance, name):
    frame = UNTABLEABLE[name]
    run = _frame_job(frame, f"pickled_{name}").run(instance=store_instance)
    assert run.status == "SUCCESS"
    kind = store_instance.sql("SELECT kind FROM outputs WHERE op = 'make'").kind.iloc[0]
    assert kind == "pickle"
    assert _frames_tables(store_instance) == set()  # a refused table is not left behind
    pdt.assert_frame_equal(store_instance.get_run(run.run_id).output("make"), frame)


def test_an_output_nothing_can_store_fails_to_load_with_the_reason(store_instance):
    class Unpicklable:
        def __reduce__(self):
            raise TypeError("cannot pickle Unpicklable")

    @nf.op(name="lock")
    def lock():
        return Unpicklable()

    @nf.job(name="store_unstorable")
    def unstorable():
        lock()

    run = unstorable.run(instance=store_instance)
    assert run.status == "SUCCESS"  # storage never fails a run
    with pytest.raises(nf.OutputNotFoundError,
                       match=r"This output could not be stored: TypeError: cannot pickle Unpicklable"):
        store_instance.get_run(run.run_id).output("lock")


# -- instance.sql and instance.runs ----------------------------------------------------------


def test_instance_sql_returns_a_dataframe_and_takes_parameters(store_instance):
    run = store_small.run(instance=store_instance)
    found = store_instance.sql("SELECT count(*) AS n FROM steps WHERE status = 'SUCCESS'")
    assert isinstance(found, pd.DataFrame)
    assert found.n.iloc[0] == len(SMALL_STEPS)
    mapped = store_instance.sql(
        "SELECT step_key FROM steps WHERE run_id = ? AND op = ? ORDER BY key_index", [run.run_id, "double"]
    )
    assert list(mapped.step_key) == ["double[k0]", "double[k1]", "double[k2]"]
    store_instance.sql("CREATE TABLE scratch (a INTEGER)")  # statements work too
    assert store_instance.sql("SELECT * FROM scratch").empty


def test_runs_filters_by_job_and_status_newest_first(store_instance):
    first = store_small.run(instance=store_instance)
    failed = store_failing.run(instance=store_instance)
    last = store_small.run(instance=store_instance)
    every = store_instance.runs()
    assert list(every.run_id) == [last.run_id, failed.run_id, first.run_id]
    assert list(store_instance.runs(job="store_small").run_id) == [last.run_id, first.run_id]
    assert list(store_instance.runs(status="failure").run_id) == [failed.run_id]  # any case
    assert list(store_instance.runs(job="store_failing", status="FAILURE").run_id) == [failed.run_id]
    assert store_instance.runs(job="store_small", status="FAILURE").empty
    assert store_instance.runs(job="no_such_job").empty
    assert list(store_instance.runs(limit=1).run_id) == [last.run_id]
    assert len(store_instance.runs(limit=None)) == 3


# -- run lookup ------------------------------------------------------------------------------


def test_get_run_by_full_id_and_by_unique_prefix(store_instance):
    run = store_small.run(instance=store_instance)
    for text in (run.run_id, run.run_id[:8], run.run_id[:4]):
        found = store_instance.get_run(text)
        assert isinstance(found, nf.Run)
        assert found.run_id == run.run_id
        assert (found.job_name, found.status) == ("store_small", "SUCCESS")


def test_get_run_of_an_unknown_id_names_it_and_the_store(store_instance):
    store_small.run(instance=store_instance)
    with pytest.raises(nf.RunNotFoundError) as info:
        store_instance.get_run("not-a-run")
    assert re.fullmatch(
        rf"No run with id 'not-a-run' in the store {re.escape(store_instance.path)}\. "
        r"List the stored runs with instance\.runs\(\)\.",
        str(info.value),
    )
    assert isinstance(info.value, KeyError)


def test_get_run_needs_four_characters_of_a_prefix(store_instance):
    run = store_small.run(instance=store_instance)
    with pytest.raises(nf.RunNotFoundError, match=r"No run with id '\w{3}'"):
        store_instance.get_run(run.run_id[:3])


def test_get_run_prefix_is_not_a_like_pattern(store_instance):
    store_small.run(instance=store_instance)
    # '_' and '%' are LIKE wildcards; with one stored run, '____' must not find it
    for text in ("____", "%%%%"):
        with pytest.raises(nf.RunNotFoundError, match="No run with id"):
            store_instance.get_run(text)


def test_get_run_with_an_ambiguous_prefix_asks_for_more(store_instance):
    for suffix in ("1", "2"):
        store_instance.store.insert_run(
            {"run_id": f"abcd-{suffix}", "job_name": "j", "status": "SUCCESS", "start": time.time()}
        )
    assert store_instance.get_run("abcd-2").run_id == "abcd-2"
    with pytest.raises(nf.RunNotFoundError,
                       match=r"The run id prefix 'abcd' matches several runs in the store .*give more characters"):
        store_instance.get_run("abcd")


# -- run.output errors -----------------------------------------------------------------------


def test_output_of_a_missing_op_lists_the_valid_ops(store_instance):
    run = store_small.run(instance=store_instance)
    for handle in (run, store_instance.get_run(run.run_id)):
        with pytest.raises(
            nf.OutputNotFoundError,
            match=rf"^Run {run.run_id[:8]} has no op 'doubel'\. Valid ones \(closest first\): 'double', ",
        ) as info:
            handle.output("doubel")
        assert "'fan'" in str(info.value) and "'total'" in str(info.value)
        assert isinstance(info.value, KeyError)


def test_output_of_a_missing_key_says_no_such_step_ran(store_instance):
    run = store_small.run(instance=store_instance)
    with pytest.raises(
        nf.OutputNotFoundError,
        match=rf"No outputs found for output 'result' from op 'double' for mapping key 'k9' in run "
              rf"{run.run_id[:8]}: no such step ran\.",
    ):
        store_instance.get_run(run.run_id).output("double", key="k9")


def test_output_of_a_failed_step_shows_its_status(store_instance):
    run = store_failing.run(instance=store_instance)
    with pytest.raises(nf.OutputNotFoundError,
                       match=rf"No outputs found for output 'result' from op 'boom' in run {run.run_id[:8]} "
                             r"\(boom: FAILURE\)\."):
        store_instance.get_run(run.run_id).output("boom")


# -- batched writes --------------------------------------------------------------------------

N_KEYS = 2000


@nf.op(out=nf.DynamicOut())
def many():
    for i in range(N_KEYS):
        yield nf.DynamicOutput(i, mapping_key=f"m{i}")


@nf.op
def plus_one(x):
    return x + 1


@nf.job
def store_wide():
    many().map(plus_one)


@pytest.fixture
def transactions(monkeypatch):
    """Every ConnectionHolder.transaction call, with its lock_timeout."""
    calls: list = []
    real = ConnectionHolder.transaction

    def counting(self, lock_timeout=None):
        calls.append(lock_timeout)
        return real(self, lock_timeout)

    monkeypatch.setattr(ConnectionHolder, "transaction", counting)
    return calls


def _check_wide_run(inst, run):
    assert run.status == "SUCCESS"
    counts = inst.sql(
        "SELECT (SELECT count(*) FROM steps WHERE run_id = $1) AS steps, "
        "(SELECT count(*) FROM outputs WHERE run_id = $1 AND op = 'plus_one') AS outputs",
        [run.run_id],
    ).iloc[0]
    assert (counts.steps, counts.outputs) == (N_KEYS + 1, N_KEYS)
    assert inst.get_run(run.run_id).output("plus_one", key="m1999") == 2000


def test_a_wide_run_is_written_in_a_few_transactions(store_instance, transactions, monkeypatch):
    monkeypatch.setattr(writer_module, "FLUSH_SECONDS", 3600.0)  # only the row count triggers a flush
    run = store_wide.run(instance=store_instance)
    # the run's row, then one batch at the end: not one transaction per step
    assert len(transactions) <= 3, transactions
    _check_wide_run(store_instance, run)


def test_batches_go_out_when_enough_rows_wait(store_instance, monkeypatch):
    monkeypatch.setattr(writer_module, "FLUSH_SECONDS", 3600.0)  # never by time
    monkeypatch.setattr(writer_module, "FLUSH_ROWS", 500)
    monkeypatch.setattr(writer_module, "WAKE_ROWS", 200)
    batches: list[tuple[int, bool, float | None]] = []  # (step rows, final, lock_timeout)
    real = writer_module.RunWriter._write_batch

    def recording(self, steps, outputs, events, reused, final, lock_timeout):
        batches.append((len(steps), final is not None, lock_timeout))
        return real(self, steps, outputs, events, reused, final, lock_timeout)

    monkeypatch.setattr(writer_module.RunWriter, "_write_batch", recording)
    run = store_wide.run(instance=store_instance)
    midrun = [b for b in batches if not b[1]]
    # 2,001 steps: the flusher is woken at 200 buffered, so rows go out during the run ...
    assert midrun, batches
    # ... and at 500 the run's thread writes them itself: no more wait in memory
    assert all(rows <= 500 for rows, _, _ in batches), batches
    assert sum(rows for rows, _, _ in batches) == N_KEYS + 1
    # mid-run batches wait briefly for their turn, only the final one as long as it takes
    assert all(timeout == writer_module.MIDRUN_TURN_WAIT for _, _, timeout in midrun), batches
    assert batches[-1][1] and batches[-1][2] is None
    _check_wide_run(store_instance, run)


def test_batches_go_out_when_enough_time_passed(store_instance, transactions, monkeypatch):
    monkeypatch.setattr(writer_module, "FLUSH_SECONDS", 0.0)  # every step is "late"
    run = store_small.run(instance=store_instance)
    assert len(transactions) >= 3  # the rows are on disk while the run goes on
    assert store_instance.get_run(run.run_id).output("total") == 6
