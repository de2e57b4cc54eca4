"""Large values are pickled into a table of chunks, chunk by chunk, and read back the same way."""

from __future__ import annotations

import numpy as np
import pytest

import nbflow as nf
from nbflow.store import serialize


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(serialize, "LARGE_BYTES", 1 << 20)
    monkeypatch.setattr(serialize, "CHUNK_BYTES", 1 << 18)


VALUES = {
    "bytes": bytes(range(256)) * 8192,  # 2 MB
    "array": np.arange(300_000, dtype=np.float64),  # 2.4 MB
    "text": "naïve ✓ " * 200_000,
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_a_large_output_is_stored_in_chunks_and_loads_back_equal(small_limits, tmp_path, kind):
    inst = nf.Instance(str(tmp_path / "large.duckdb"))
    value = VALUES[kind]

    @nf.op
    def big():
        return value

    @nf.op
    def size(v):
        return len(v)

    @nf.job
    def large_job():
        size(big())

    run = large_job.run(instance=inst)
    row = inst.sql("SELECT kind, json_value, table_name FROM outputs WHERE op = 'big'").iloc[0]
    assert row.kind == "chunked"
    chunks = inst.sql(f'SELECT count(*) AS n, max(octet_length(chunk)) AS most FROM frames."{row.table_name}"')
    assert chunks.n[0] > 4 and chunks.most[0] <= 1 << 18
    inst.close()

    again = nf.Instance(str(tmp_path / "large.duckdb"))
    back = again.get_run(run.run_id).output("big")
    assert type(back) is type(value)
    assert (back == value).all() if kind == "array" else back == value
    child = again.get_run(run.run_id).rerun("size")  # the rerun loads it as its input
    assert child.output("size") == len(value)
    again.delete_run(child.run_id)
    again.delete_run(run.run_id)
    assert again.sql("SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = 'frames'").n[0] == 0
    again.close()


def test_small_values_are_not_chunked():
    assert not serialize.is_large(b"x" * 1000)
    assert not serialize.is_large([b"x" * (64 << 20)])  # containers are pickled as before
    assert serialize.is_large(np.zeros(serialize.LARGE_BYTES // 8))
