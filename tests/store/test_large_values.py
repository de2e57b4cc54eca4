"""Large values: pickled into files beside a store file (into chunk tables for an in-memory
store), as a stream both ways, and removed with what refers to them."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import nbflow as nf
from nbflow.errors import OutputNotFoundError
from nbflow.store import serialize, value_files


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(serialize, "LARGE_BYTES", 1 << 20)
    monkeypatch.setattr(serialize, "CHUNK_BYTES", 1 << 18)


VALUES = {
    "bytes": bytes(range(256)) * 8192,  # 2 MB
    "array": np.arange(300_000, dtype=np.float64),  # 2.4 MB
    "text": "naïve ✓ " * 200_000,
}


def _large_job(value):
    @nf.op
    def big():
        return value

    @nf.op
    def size(v):
        return len(v)

    @nf.job
    def large_job():
        size(big())

    return large_job


def _equal(back, value):
    assert type(back) is type(value)
    assert (back == value).all() if isinstance(value, np.ndarray) else back == value


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_a_large_output_goes_to_a_file_beside_the_store_and_loads_back_equal(small_limits, tmp_path, kind):
    path = str(tmp_path / "large.duckdb")
    inst = nf.Instance(path)
    value = VALUES[kind]
    run = _large_job(value).run(instance=inst)
    row = inst.sql("SELECT kind, json_value, table_name FROM outputs WHERE op = 'big'").iloc[0]
    assert row.kind == "file"
    stored = tmp_path / "large.duckdb.values" / f"{row.table_name}.pickle"
    assert stored.stat().st_size > 1 << 20
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    inst.close()

    again = nf.Instance(path)
    _equal(again.get_run(run.run_id).output("big"), value)
    child = again.get_run(run.run_id).rerun("size")  # the rerun loads it as its input
    assert child.output("size") == len(value)
    _equal(child.output("big"), value)  # kept from the parent: the same file
    again.delete_run(run.run_id)
    assert stored.exists()  # the child still refers to it
    _equal(child.output("big"), value)
    again.delete_run(child.run_id)
    assert not stored.exists()
    again.close()


def test_an_in_memory_store_keeps_large_values_in_chunk_tables(small_limits):
    inst = nf.Instance(":memory:")
    run = _large_job(VALUES["bytes"]).run(instance=inst)
    row = inst.sql("SELECT kind, table_name FROM outputs WHERE op = 'big'").iloc[0]
    assert row.kind == "chunked"
    chunks = inst.sql(f'SELECT count(*) AS n, max(octet_length(chunk)) AS most FROM frames."{row.table_name}"')
    assert chunks.n[0] > 4 and chunks.most[0] <= 1 << 18
    _equal(run.output("big"), VALUES["bytes"])
    inst.delete_run(run.run_id)
    assert inst.sql("SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = 'frames'").n[0] == 0


def test_value_files_nothing_refers_to_are_removed_when_the_store_is_opened(small_limits, tmp_path):
    path = str(tmp_path / "s.duckdb")
    inst = nf.Instance(path)
    run = _large_job(VALUES["bytes"]).run(instance=inst)
    inst.close()
    folder = value_files.folder_of(path)
    kept = {p.name for p in folder.iterdir()}
    # What a process killed between writing a file and committing its batch leaves behind.
    (folder / "r0123456789ab_1_abcdef.pickle").write_bytes(b"orphan")
    (folder / "r0123456789ab_2_abcdef.pickle.partial").write_bytes(b"half")
    (folder / "notes.txt").write_text("not ours: left alone")
    again = nf.Instance(path)
    assert again.get_run(run.run_id).status == "SUCCESS"
    assert {p.name for p in folder.iterdir()} == kept | {"notes.txt"}
    again.close()


def test_files_of_a_run_still_going_are_not_swept(small_limits, tmp_path):
    path = str(tmp_path / "s.duckdb")
    inst = nf.Instance(path)
    _large_job(VALUES["bytes"]).run(instance=inst)
    folder = value_files.folder_of(path)
    with inst.store.holder.transaction() as con:
        con.execute("UPDATE runs SET status = 'STARTED'")
        run_id = con.execute("SELECT run_id FROM runs").fetchone()[0]
    pending = folder / f"r{run_id[:12]}_9_abcdef.pickle"  # its batch may be on its way
    pending.write_bytes(b"soon referred to")
    assert inst.store.sweep_value_files() == 0
    assert pending.exists()
    inst.close()


def test_dropping_partition_outputs_removes_their_value_files(small_limits, tmp_path):
    inst = nf.Instance(str(tmp_path / "p.duckdb"))
    parts = nf.DynamicPartitionsDefinition(name="blobs")
    inst.add_dynamic_partitions("blobs", ["a"])

    @nf.op
    def big():
        return VALUES["bytes"]

    @nf.job(partitions_def=parts)
    def blob_job():
        big()

    blob_job.run(partition_key="a", instance=inst)
    folder = value_files.folder_of(inst.store.path)
    assert len(list(folder.iterdir())) == 1
    inst.delete_dynamic_partitions("blobs", ["a"], outputs="drop")
    assert list(folder.iterdir()) == []
    inst.close()


def test_a_missing_value_file_says_where_large_values_live(small_limits, tmp_path):
    inst = nf.Instance(str(tmp_path / "m.duckdb"))
    run = _large_job(VALUES["bytes"]).run(instance=inst)
    for file in value_files.folder_of(inst.store.path).iterdir():
        file.unlink()
    with pytest.raises(OutputNotFoundError, match=r"m\.duckdb\.values beside the store file: copy or move"):
        run.output("big")
    inst.close()


def test_a_crafted_file_name_in_the_store_is_refused(small_limits, tmp_path):
    inst = nf.Instance(str(tmp_path / "c.duckdb"))
    run = _large_job(VALUES["bytes"]).run(instance=inst)
    with inst.store.holder.transaction() as con:
        con.execute("UPDATE outputs SET table_name = '../../secret' WHERE op = 'big'")
    with pytest.raises(OutputNotFoundError, match=r"value file named '\.\./\.\./secret', which nbflow never writes"):
        run.output("big")
    inst.close()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file ownership is not checked on Windows")
def test_value_files_are_unpickled_only_from_a_trusted_store(small_limits, tmp_path):
    path = str(tmp_path / "t.duckdb")
    inst = nf.Instance(path)
    run = _large_job(VALUES["bytes"]).run(instance=inst)
    inst.close()
    os.chmod(path, 0o666)  # anyone may write it now
    untrusted = nf.Instance(path)
    with pytest.raises(nf.NbflowError, match="trust=True"):
        untrusted.get_run(run.run_id).output("big")
    untrusted.close()
    _equal(nf.Instance(path, trust=True).get_run(run.run_id).output("big"), VALUES["bytes"])


def test_small_values_are_not_large():
    assert not serialize.is_large(b"x" * 1000)
    assert not serialize.is_large([b"x" * (64 << 20)])  # containers are pickled as before
    assert serialize.is_large(np.zeros(serialize.LARGE_BYTES // 8))
