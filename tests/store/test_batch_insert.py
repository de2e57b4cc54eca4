"""Batches go in as list parameters when small and as NumPy columns when large: both store the
same rows, and a run that makes no DataFrame imports neither pyarrow nor pandas (a small one
not even NumPy)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import nbflow as nf
from nbflow.store import writer


def _job():
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(5):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    def shape(x: int):
        print(f"odd \udcff text {x}")  # a lone surrogate, as from a non-UTF-8 file name
        if x == 3:
            raise ValueError(f"no \udcfe for {x}")
        return {"x": x, "set": {x}} if x % 2 else [x, str(x), None, 1.5]

    @nf.job
    def batch_job():
        emit().map(shape)

    return batch_job


def _stored(inst: nf.Instance, run_id: str) -> list:
    with inst.store.holder.use() as con:
        return [con.execute(f"SELECT * EXCLUDE (run_id{extra}) FROM {table} WHERE run_id = ? ORDER BY ALL",
                            [run_id]).fetchall()
                for table, extra in (("steps", ", start_time, end_time"), ("outputs", ""), ("events", ", ts"))]


@pytest.mark.parametrize("rows_as_lists", [True, False])
def test_both_ways_of_inserting_a_batch_store_the_same_rows(monkeypatch, tmp_path, rows_as_lists):
    inst = nf.Instance(str(tmp_path / "both.duckdb"))
    monkeypatch.setattr(writer, "_LIST_BATCH_ROWS", 10**9 if rows_as_lists else 0)
    run = _job().run(instance=inst, raise_on_error=False)
    monkeypatch.setattr(writer, "_LIST_BATCH_ROWS", 0 if rows_as_lists else 10**9)
    other = _job().run(instance=inst, raise_on_error=False)
    assert _stored(inst, run.run_id) == _stored(inst, other.run_id)
    assert run.output("shape", key="k1") == {"x": 1, "set": {1}}
    assert run.output("shape", key="k2") == [2, "2", None, 1.5]
    assert "no \\udcfe for 3" in run.steps().query("mapping_key == 'k3'").error.iloc[0]


@pytest.mark.parametrize("items, batch_rows, expected", [
    (3, None, "[]"),
    (3_000, 0, "['numpy']"),  # every batch as NumPy columns
])
def test_a_run_without_frames_imports_neither_pyarrow_nor_pandas(tmp_path, items, batch_rows, expected):
    script = textwrap.dedent(f"""
        import sys
        import nbflow as nf
        from nbflow.store import writer

        if {batch_rows!r} is not None:
            writer._LIST_BATCH_ROWS = {batch_rows!r}

        @nf.op(out=nf.DynamicOut())
        def emit():
            for i in range({items}):
                yield nf.DynamicOutput(i, mapping_key=str(i))

        @nf.op
        def square(x):
            print("odd \\udcff text")  # free text UTF-8 cannot hold, in every batch of events
            return x * x

        @nf.op
        def total(xs):
            return sum(xs)

        @nf.job
        def small():
            total(emit().map(square).collect())

        inst = nf.Instance({str(tmp_path / "small.duckdb")!r})
        run = small.run(instance=inst)
        assert run.output("total") == sum(i * i for i in range({items}))
        with inst.store.holder.use() as con:
            steps = con.execute("SELECT count(*), count(key_index), max(key_index) FROM steps WHERE run_id = ?",
                                [run.run_id]).fetchall()
            escaped = con.execute("SELECT count(*) FROM events WHERE run_id = ? AND contains(message, '\\\\udcff')",
                                  [run.run_id]).fetchall()
        assert steps[0] == ({items} + 2, {items}, {items} - 1) and escaped[0][0] >= {items}, (steps, escaped)
        print(sorted(m for m in ("pyarrow", "pandas", "numpy") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, errors="replace",
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected


def test_columns_of_one_value_in_a_large_batch_are_stored_as_given(monkeypatch, tmp_path):
    """Text columns that hold one value in a batch go in as parameters (here the outputs', all
    of the fan-out's): the rows stored are the same as from lists."""
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(4):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    def refuse(x: int):
        raise ValueError("no \udcfe here")

    @nf.job
    def refusing():
        emit().map(refuse)

    given: list[dict] = []

    def spied(columns, spec, text_at=None):
        arrays, constants = varying_columns(columns, spec, text_at)
        given.append(constants)
        return arrays, constants

    from nbflow.store.columns import varying_columns

    inst = nf.Instance(str(tmp_path / "one_value.duckdb"))
    monkeypatch.setattr(writer, "_LIST_BATCH_ROWS", 10**9)
    as_lists = refusing.run(instance=inst, raise_on_error=False)
    monkeypatch.setattr(writer, "_LIST_BATCH_ROWS", 0)
    monkeypatch.setattr(writer, "varying_columns", spied)
    as_columns = refusing.run(instance=inst, raise_on_error=False)
    assert _stored(inst, as_lists.run_id) == _stored(inst, as_columns.run_id)
    assert {"step_key": "emit", "op": "emit", "output_name": "result", "kind": "json", "blob_value": None,
            "table_name": None, "type_name": "int"} in given
    errors = as_columns.steps().query("op == 'refuse'").error
    assert len(errors) == 4 and all("no \\udcfe here" in error for error in errors)


@pytest.mark.parametrize("numbers", [
    [0, -1, 2**63 - 1, -(2**63), 7],  # int64 arrays, written as text by DuckDB
    [1, 2**63, -5],  # past int64: texts made in Python
])
def test_a_batch_of_ints_stores_the_same_json_either_way(monkeypatch, tmp_path, numbers):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i, number in enumerate(numbers):
            yield nf.DynamicOutput(number, mapping_key=f"k{i}")

    @nf.job
    def ints():
        emit()

    inst = nf.Instance(str(tmp_path / "ints.duckdb"))
    monkeypatch.setattr(writer, "_LIST_BATCH_ROWS", 10**9)
    as_lists = ints.run(instance=inst)
    monkeypatch.setattr(writer, "_LIST_BATCH_ROWS", 0)
    as_columns = ints.run(instance=inst)
    assert _stored(inst, as_lists.run_id) == _stored(inst, as_columns.run_id)
    with inst.store.holder.use() as con:
        texts = con.execute("SELECT json_value FROM outputs WHERE run_id = ? ORDER BY key_index",
                            [as_columns.run_id]).fetchall()
    assert [text for (text,) in texts] == [str(number) for number in numbers]
    assert [as_columns.output("emit", key=f"k{i}") for i in range(len(numbers))] == numbers
