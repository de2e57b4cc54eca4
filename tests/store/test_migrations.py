"""Numbered, append-only migrations with a version check on open."""

from __future__ import annotations

import hashlib
import re
import time

import duckdb
import pytest

import nbflow as nf
from nbflow.errors import StoreError
from nbflow.runtime.instance import Instance
from nbflow.store import connection
from nbflow.store.schema import LATEST, MIGRATIONS


def _meta(path: str) -> dict:
    con = duckdb.connect(path)
    try:
        return dict(con.execute("SELECT key, value FROM nbflow_meta").fetchall())
    finally:
        con.close()


def _tables(path: str) -> set[str]:
    con = duckdb.connect(path)
    try:
        return {f"{s}.{t}" for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    finally:
        con.close()


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _insert_a_run(inst: Instance, run_id: str = "run-0001") -> None:
    inst.store.insert_run({"run_id": run_id, "job_name": "j", "status": "SUCCESS", "start": time.time()})


def test_migrations_are_numbered_from_one_without_gaps():
    assert [number for number, _, _ in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1][0] == LATEST


def test_a_new_file_gets_the_latest_schema(store_path):
    inst = Instance(store_path)
    assert inst.runs().empty
    inst.close()
    assert _meta(store_path) == {"schema_version": LATEST, "change_counter": 0, "partition_deletes": 0}
    assert {"main.runs", "main.steps", "main.outputs", "main.events", "main.nbflow_meta"} <= _tables(store_path)


def test_an_in_memory_store_gets_the_latest_schema():
    inst = Instance.ephemeral()
    version = inst.sql("SELECT value FROM nbflow_meta WHERE key = 'schema_version'")
    assert version.value.iloc[0] == LATEST
    inst.close()


def test_reopening_does_not_rerun_migrations(store_path, monkeypatch):
    inst = Instance(store_path)
    _insert_a_run(inst)
    inst.close()
    # Were the migrations run again, this SQL would fail the open.
    broken = [(number, title, "SELECT no_such_function()") for number, title, _ in MIGRATIONS]
    monkeypatch.setattr(connection, "MIGRATIONS", broken)
    again = Instance(store_path)
    assert list(again.runs().run_id) == ["run-0001"]
    assert again.store.holder.opens == 1
    again.close()
    assert _meta(store_path)["schema_version"] == LATEST


def test_only_newer_migrations_run_on_an_older_store(store_path, monkeypatch):
    inst = Instance(store_path)
    _insert_a_run(inst)
    inst.close()
    counter = _meta(store_path)["change_counter"]
    newer = [(n, t, "SELECT no_such_function()") for n, t, _ in MIGRATIONS]
    newer.append((LATEST + 1, "extra table", "CREATE TABLE extra (a INTEGER); INSERT INTO extra VALUES (7)"))
    monkeypatch.setattr(connection, "MIGRATIONS", newer)
    monkeypatch.setattr(connection, "LATEST", LATEST + 1)
    upgraded = Instance(store_path)
    assert list(upgraded.sql("SELECT a FROM extra").a) == [7]
    assert list(upgraded.runs().run_id) == ["run-0001"]
    upgraded.close()
    assert _meta(store_path) == {"schema_version": LATEST + 1, "change_counter": counter, "partition_deletes": 0}


def test_a_failing_migration_leaves_the_store_as_it_was(store_path, monkeypatch):
    first = Instance(store_path)
    first.runs()
    first.close()
    before = _tables(store_path)
    bad = [*MIGRATIONS, (LATEST + 1, "half done", "CREATE TABLE half (a INTEGER); SELECT no_such_function()")]
    monkeypatch.setattr(connection, "MIGRATIONS", bad)
    monkeypatch.setattr(connection, "LATEST", LATEST + 1)
    inst = Instance(store_path)
    with pytest.raises(StoreError, match=r"(?s)schema version \d+ \(half done\) failed.*no_such_function"):
        inst.runs()
    assert not inst.store.holder.is_open
    assert _tables(store_path) == before
    assert _meta(store_path)["schema_version"] == LATEST


def test_an_empty_duckdb_file_is_migrated(store_path):
    import os

    os.makedirs(os.path.dirname(store_path))
    duckdb.connect(store_path).close()
    inst = Instance(store_path)
    assert inst.runs().empty
    inst.close()
    assert _meta(store_path)["schema_version"] == LATEST


def test_a_store_from_a_newer_nbflow_is_refused_and_left_alone(store_path):
    inst = Instance(store_path)
    _insert_a_run(inst)
    inst.close()
    con = duckdb.connect(store_path)
    con.execute("UPDATE nbflow_meta SET value = ? WHERE key = 'schema_version'", [LATEST + 1])
    con.close()
    digest, tables = _digest(store_path), _tables(store_path)

    newer = Instance(store_path)
    for _ in range(2):  # refused every time, not just on the first open
        with pytest.raises(nf.StoreVersionError) as info:
            newer.runs()
        assert re.fullmatch(
            rf"The nbflow store {re.escape(store_path)} has schema version {LATEST + 1}, but this nbflow "
            rf"only knows versions up to {LATEST}: it was written by a newer nbflow\. Upgrade nbflow "
            r"\(pip install -U nbflow\), or point NBFLOW_HOME at another folder\.",
            str(info.value),
        )
        assert not newer.store.holder.is_open  # the file is not kept open either
    assert isinstance(info.value, nf.StoreError)

    assert _digest(store_path) == digest
    assert _tables(store_path) == tables
    assert _meta(store_path)["schema_version"] == LATEST + 1
    con = duckdb.connect(store_path)
    assert con.execute("SELECT run_id FROM runs").fetchall() == [("run-0001",)]
    con.close()
