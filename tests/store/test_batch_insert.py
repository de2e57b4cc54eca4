"""Batches go in as list parameters when small and as Arrow tables when large: both store the
same rows, and a small run never imports pyarrow or pandas."""

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


def test_a_small_run_imports_neither_pyarrow_nor_pandas(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import nbflow as nf

        @nf.op(out=nf.DynamicOut())
        def emit():
            for i in range(3):
                yield nf.DynamicOutput(i, mapping_key=str(i))

        @nf.op
        def square(x):
            return x * x

        @nf.op
        def total(xs):
            return sum(xs)

        @nf.job
        def small():
            total(emit().map(square).collect())

        run = small.run(instance=nf.Instance({str(tmp_path / "small.duckdb")!r}))
        assert run.output("total") == 5
        print(sorted(m for m in ("pyarrow", "pandas") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
