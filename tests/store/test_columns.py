"""Keys and small tables go to DuckDB as NumPy columns: a process that reruns steps, ticks a
sensor or adds many partition keys never imports pyarrow, nor pandas with it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

import nbflow as nf
from nbflow.store.columns import registered, string_columns


def test_string_columns_are_read_as_a_view_with_nulls():
    inst = nf.Instance.ephemeral()
    with inst.store.holder.use() as con:
        columns = string_columns(op=["a", "b", None], mapping_key=["k 1", None, "ké"])
        assert all(isinstance(column, np.ndarray) for column in columns.values())
        with registered(con, "_test_view", columns):
            rows = con.execute("SELECT op, mapping_key FROM _test_view").fetchall()
        assert rows == [("a", "k 1"), ("b", None), (None, "ké")]
        assert "_test_view" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}


def test_reruns_ticks_and_large_adds_import_neither_pyarrow_nor_pandas(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import nbflow as nf

        @nf.op(out=nf.DynamicOut())
        def emit():
            for i in range(4):
                yield nf.DynamicOutput(i, mapping_key=f"k{{i}}")

        failing = {{2}}

        @nf.op
        def check(x):
            if x in failing:
                raise ValueError("fails the first time")
            return x

        @nf.op
        def total(xs):
            return sum(xs)

        @nf.job
        def rerun_job():
            total(emit().map(check).collect())

        inst = nf.Instance({str(tmp_path / "store.duckdb")!r})
        first = rerun_job.run(instance=inst, raise_on_error=False)
        assert first.status == "FAILURE"
        failing.clear()
        second = first.rerun(failed=True)
        assert second.status == "SUCCESS" and second.output("total") == 6

        @nf.sensor(job=rerun_job)
        def ticking(context):
            return nf.SensorResult(run_requests=[nf.RunRequest(run_key=f"r{{i}}") for i in range(3)],
                                   dynamic_partitions_requests=[
                                       nf.AddDynamicPartitionsRequest("ticked", ["a", "b"])])

        tick = ticking.tick(instance=inst)
        assert tick.status == "SUCCESS", tick.error
        assert len(tick.run_ids) == 3

        keys = [f"key {{i:05d}}" for i in range(10_000)][::-1]
        inst.add_dynamic_partitions("many", keys)
        inst.delete_dynamic_partitions("many", keys[:5_000])
        assert inst.get_dynamic_partitions("many") == keys[5_000:]
        print(sorted(m for m in ("pyarrow", "pandas") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_varying_columns_keep_nulls_whole_numbers_bytes_and_odd_text():
    from nbflow.store.columns import varying_columns

    def numpy_columns(columns, spec, text_at=None):
        arrays, constants = varying_columns(columns, spec, text_at)
        assert not constants  # every column here varies
        return arrays

    inst = nf.Instance.ephemeral()
    spec = (("name", "string"), ("position", "int64"), ("took", "float64"), ("blob", "binary"))
    rows = [("k\udcff", 2**53 - 1, 0.25, b"\x00\xff"), (None, None, None, None), ("é", 0, 1e300, b"")]
    columns = numpy_columns(zip(*rows, strict=True), spec, text_at=0)
    assert columns["position"].dtype == np.float64  # read by DuckDB without the interpreter
    with inst.store.holder.use() as con, registered(con, "_test_rows", columns):
        back = con.execute("SELECT name, position::BIGINT, took, blob FROM _test_rows").fetchall()
    assert back == [("k\\udcff", 2**53 - 1, 0.25, b"\x00\xff"), (None, None, None, None), ("é", 0, 1e300, b"")]
    assert numpy_columns(zip(), spec)["name"].shape == (0,)


def test_text_columns_of_one_value_come_back_as_parameters():
    from nbflow.store.columns import varying_columns

    spec = (("key", "string"), ("status", "string"), ("position", "int64"), ("error", "string"),
            ("blob", "binary"))
    rows = [(f"k{i}", "SUCCESS", 7, "bad \udcff", None) for i in range(3)]
    arrays, constants = varying_columns(zip(*rows, strict=True), spec, text_at=3)
    assert list(arrays) == ["key", "position"]  # numbers stay arrays: DuckDB reads them without the GIL
    assert constants == {"status": "SUCCESS", "error": "bad \\udcff", "blob": None}


def test_a_batch_of_one_value_in_every_column_keeps_an_array_for_its_row_count():
    from nbflow.store.columns import varying_columns

    spec = (("op", "string"), ("status", "string"))
    arrays, constants = varying_columns(zip(*[("square", "SUCCESS")] * 3, strict=True), spec)
    assert constants == {"op": "square"} and arrays["status"].tolist() == ["SUCCESS"] * 3


def test_ints_that_fit_in_int64_become_an_int64_array():
    from nbflow.store.columns import int_column

    assert int_column([3, -(2**63), 2**63 - 1]).tolist() == [3, -(2**63), 2**63 - 1]
    assert int_column([1, True]) is None  # a bool's JSON is true, not 1
    assert int_column([1, 2**63]) is None
    assert int_column([1, 1.0]) is None
    assert int_column([]) is None
