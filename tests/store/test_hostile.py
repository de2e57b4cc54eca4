"""Store files from elsewhere: crafted names, pickles, damaged or foreign files, odd settings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import nbflow as nf
from nbflow.errors import StoreError


@nf.op
def a_frame():
    return pd.DataFrame({"a": [1, 2, 3]})


@nf.op
def a_set():
    return {1, 2, 3}  # not JSON: stored as a pickle


@nf.job
def stores_things():
    a_frame()
    a_set()


def _stored(path: str):
    inst = nf.Instance(path)
    run = stores_things.run(instance=inst)
    inst.close()
    return run.run_id


def test_a_crafted_table_name_is_never_run_as_sql(store_path, tmp_path):
    run_id = _stored(store_path)
    pwned = tmp_path / "pwned.csv"
    con = duckdb.connect(store_path)
    real = con.execute("SELECT table_name FROM outputs WHERE op = 'a_frame'").fetchall()[0][0]
    crafted = f"{real}\"; COPY (SELECT 42 AS x) TO '{pwned}'; SELECT * FROM frames.\"{real}"
    con.execute("UPDATE outputs SET table_name = ? WHERE op = 'a_frame'", [crafted])
    con.close()

    inst = nf.Instance(store_path)
    run = inst.get_run(run_id)
    with pytest.raises(nf.OutputNotFoundError, match=r"refers to the table .* which is not in the store"):
        run.output("a_frame")
    inst.delete_run(run_id)
    assert not pwned.exists()
    assert inst.runs().empty
    inst.close()


def test_a_new_store_is_private_to_its_owner(tmp_path):
    path = tmp_path / "fresh" / "nbflow.duckdb"
    inst = nf.Instance(str(path))
    inst.runs()
    inst.close()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_pickles_load_only_from_a_store_nobody_else_can_write(store_path):
    run_id = _stored(store_path)
    os.chmod(store_path, 0o666)  # anyone may have put something in it
    inst = nf.Instance(store_path)
    run = inst.get_run(run_id)
    with pytest.raises(StoreError, match=r"another user, or other users may write to it.*trust=True"):
        run.output("a_set")
    pd.testing.assert_frame_equal(run.output("a_frame"), pd.DataFrame({"a": [1, 2, 3]}))  # no pickle
    inst.close()
    trusting = nf.Instance(store_path, trust=True)
    assert trusting.get_run(run_id).output("a_set") == {1, 2, 3}
    trusting.close()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="changing a file's owner needs root")
def test_pickles_do_not_load_from_another_users_store(store_path):
    run_id = _stored(store_path)
    os.chown(store_path, 65534, -1)
    inst = nf.instance(store_path)
    with pytest.raises(StoreError, match="belongs to another user"):
        inst.get_run(run_id).output("a_set")
    assert nf.instance(store_path, trust=True).get_run(run_id).output("a_set") == {1, 2, 3}
    inst.close()


def test_a_foreign_duckdb_file_is_refused_and_left_unchanged(tmp_path):
    path = str(tmp_path / "sales.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER, name VARCHAR)")
    con.execute("INSERT INTO customers VALUES (1, 'ada')")
    con.close()
    with pytest.raises(StoreError, match=r"sales.duckdb is a DuckDB database but not an nbflow store "
                                         r"\(it holds main.customers and no nbflow_meta table\); "
                                         r"nbflow left it unchanged"):
        nf.Instance(path).runs()
    con = duckdb.connect(path, read_only=True)
    tables = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    con.close()
    assert tables == [("customers",)]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_file_gives_one_clear_error_naming_it(store_path, damage):
    if damage == "garbage":
        os.makedirs(os.path.dirname(store_path))
        with open(store_path, "wb") as f:
            f.write(os.urandom(20_000))
    else:
        _stored(store_path)
        size = os.path.getsize(store_path)
        with open(store_path, "r+b") as f:
            f.truncate(size // 3)
    before = Path(store_path).read_bytes()
    with pytest.raises(StoreError, match=rf"{store_path} is not a readable DuckDB database .*"
                                         r"nbflow left it unchanged. Move it away"):
        nf.Instance(store_path).runs()
    assert Path(store_path).read_bytes() == before


@pytest.mark.parametrize(("value", "message"), [
    ("abc", r"NBFLOW_LOCK_TIMEOUT='abc' is not a number of seconds"),
    ("nan", r"NBFLOW_LOCK_TIMEOUT='nan' must be a number of seconds >= 0"),
    ("-5", r"NBFLOW_LOCK_TIMEOUT='-5' must be a number of seconds >= 0"),
])
def test_an_odd_lock_timeout_setting_is_named(monkeypatch, tmp_path, value, message):
    monkeypatch.setenv("NBFLOW_LOCK_TIMEOUT", value)
    with pytest.raises(StoreError, match=message):
        nf.instance(str(tmp_path / "s.duckdb"))


def test_a_bad_lock_timeout_setting_does_not_break_import(tmp_path):
    code = ("import nbflow as nf\n"
            "try:\n    nf.instance()\nexcept nf.StoreError as exc:\n    print(type(exc).__name__, exc)\n")
    env = {**os.environ, "NBFLOW_LOCK_TIMEOUT": "abc", "NBFLOW_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("StoreError NBFLOW_LOCK_TIMEOUT='abc'")


def test_a_lock_timeout_argument_is_checked():
    with pytest.raises(StoreError, match=r"lock_timeout must be a number of seconds >= 0.*got nan"):
        nf.Instance(":memory:", lock_timeout=float("nan"))


def test_nbflow_home_with_a_tilde_means_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    monkeypatch.setenv("NBFLOW_HOME", "~/work")
    monkeypatch.chdir(tmp_path)
    inst = nf.instance()
    assert inst.path == str(tmp_path / "me" / "work" / "nbflow.duckdb")
    inst.runs()
    inst.close()
    assert not (tmp_path / "~").exists()


def test_nbflow_home_pointing_at_a_file_is_named(monkeypatch, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setenv("NBFLOW_HOME", str(tmp_path / "notes.txt"))
    with pytest.raises(StoreError, match=r"NBFLOW_HOME='.*notes.txt' is a file, not a folder"):
        nf.instance()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_store_writable_by_the_owners_own_group_is_still_trusted(store_path):
    run_id = _stored(store_path)
    os.chmod(store_path, 0o660)  # a umask of 002: the user's own group may write
    if os.stat(store_path).st_gid != os.getgid():
        pytest.skip("the file's group is not this user's group")
    inst = nf.Instance(store_path)
    assert inst.get_run(run_id).output("a_set") == {1, 2, 3}
    inst.close()
