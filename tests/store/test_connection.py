"""ConnectionHolder: open on first use, release when idle, revalidate on reopen (in one process)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from nbflow.store.connection import ConnectionHolder


def _wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def holders():
    made: list[ConnectionHolder] = []

    def make(path: str, **kwargs) -> ConnectionHolder:
        made.append(ConnectionHolder(path, **kwargs))
        return made[-1]

    yield make
    for holder in made:
        holder.close()


def test_the_file_is_opened_on_first_use_and_released_when_idle(store_path, holders):
    holder = holders(store_path, idle_release=0.1)
    assert not holder.is_open and holder.opens == 0
    with holder.use() as con:
        assert con.execute("SELECT 1").fetchall() == [(1,)]
    assert holder.is_open
    assert _wait_until(lambda: not holder.is_open, timeout=3)
    with holder.use():
        pass
    assert holder.opens == 2


def test_a_busy_connection_is_not_released(store_path, holders):
    holder = holders(store_path, idle_release=0.05)
    with holder.use():
        holder.release()
        time.sleep(0.3)  # the reaper waits for the lock; the block keeps the file
        assert holder.is_open
    holder.release()
    assert not holder.is_open


def test_an_in_memory_store_is_never_released(holders):
    holder = holders(":memory:", idle_release=0.05)
    with holder.transaction() as con:
        con.execute("CREATE TABLE kept (a INTEGER)")
    holder.release()
    time.sleep(0.2)
    assert holder.is_open
    with holder.use() as con:
        assert con.execute("SELECT count(*) FROM kept").fetchall() == [(0,)]


def test_a_reopen_while_the_old_reaper_winds_down_is_still_released(store_path, holders):
    # The reaper closes the file and returns; its thread can still be alive when another
    # thread reopens the file. That reopen must get a reaper of its own.
    holder = holders(store_path, idle_release=0.1)
    closed, resume = threading.Event(), threading.Event()
    real_reap = holder._reap

    def slow_to_exit():
        real_reap()
        closed.set()
        resume.wait(5)

    holder._reap = slow_to_exit  # type: ignore[method-assign]
    with holder.use():
        pass
    assert closed.wait(5)
    assert not holder.is_open
    with holder.use():  # reopened while the first reaper thread is alive
        pass
    resume.set()
    assert _wait_until(lambda: not holder.is_open, timeout=3), "the reopened file was never released"


def test_a_failed_transaction_rolls_back_and_leaves_the_counter(store_path, holders):
    holder = holders(store_path)
    with holder.transaction() as con:
        con.execute("CREATE TABLE t (a INTEGER)")
    counter = holder._seen_counter
    with pytest.raises(RuntimeError, match="stop"), holder.transaction() as con:
        con.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("stop")
    with holder.use() as con:
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
        stored = con.execute("SELECT value FROM nbflow_meta WHERE key = 'change_counter'").fetchall()[0][0]
    assert stored == counter == holder._seen_counter


def test_caches_are_invalidated_only_by_other_writers(store_path, holders):
    mine = holders(store_path)
    other = holders(store_path)
    changes: list[int] = []
    mine.on_change(lambda: changes.append(mine.opens))

    with mine.transaction() as con:  # my own write
        con.execute("CREATE TABLE t (a INTEGER)")
    mine.release()
    with mine.use():
        pass
    assert changes == []

    mine.release()
    with other.transaction() as con:  # someone else's write
        con.execute("INSERT INTO t VALUES (1)")
    other.release()
    with mine.use() as con:
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(1,)]
    assert changes == [mine.opens]  # told on the reopen that saw the other write

    mine.release()
    with other.use() as con:  # reading changes nothing
        con.execute("SELECT * FROM t").fetchall()
    other.release()
    with mine.use():
        pass
    assert len(changes) == 1



def test_a_quick_use_leaves_the_work_of_opening_to_the_next_use(store_path, holders):
    holder = holders(store_path)
    opened: list[int] = []
    holder.on_open(lambda con: opened.append(con.execute("SELECT 1").fetchall()[0][0]))
    quick_opens: list[bool] = []
    holder.on_quick_open(lambda: quick_opens.append(holder.opening_deferred))

    with holder.use(quick=True) as con:  # opens the file, the callback waits
        assert con.execute("SELECT value FROM nbflow_meta WHERE key = 'schema_version'").fetchall()
    assert opened == [] and holder.opening_deferred
    assert quick_opens == [True]  # told once, so the work can be done in the background
    with holder.use(quick=True):  # still waits
        pass
    assert opened == [] and quick_opens == [True]
    with holder.use():  # the next ordinary use runs it first, once
        assert opened == [1]
    with holder.use():
        pass
    assert opened == [1] and not holder.opening_deferred

    holder.release()
    with holder.use(quick=True):
        pass
    holder.finish_opening()  # what the background thread does after a quick reopen
    assert opened == [1, 1] and not holder.opening_deferred

    holder.release()
    with holder.use(quick=True):
        pass
    holder.release()  # closed before anyone did it: it is done on the next open instead
    assert not holder.opening_deferred
    holder.finish_opening()  # the file is closed: nothing to do, and it is not reopened
    assert opened == [1, 1] and not holder.is_open
    with holder.use():
        pass
    assert opened == [1, 1, 1]
    assert quick_opens == [True, True, True]  # not told of an ordinary open


def test_a_failing_open_callback_fails_the_use_that_runs_it(store_path, holders):
    holder = holders(store_path)
    calls: list[str] = []

    def broken(con) -> None:
        calls.append("broken")
        raise RuntimeError("sweep failed")

    holder.on_open(broken)
    with holder.use(quick=True):
        pass
    with pytest.raises(RuntimeError, match="sweep failed"), holder.use():
        pass
    with holder.use():  # run once per open, as before
        pass
    assert calls == ["broken"]

@pytest.mark.slow
def test_a_script_that_ends_while_the_store_is_open_exits_quietly(store_path):
    code = (
        "import sys, nbflow as nf\n"
        "inst = nf.instance(sys.argv[1])\n"
        "inst.runs()\n"
        "assert inst.store.holder.is_open\n"
    )
    done = subprocess.run([sys.executable, "-c", code, store_path], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert done.stderr == ""  # no "nanobind: leaked ... instances!" from a connection left open


@pytest.mark.parametrize("in_memory", [False, True])
def test_duckdb_leaves_a_core_for_the_run(tmp_path, in_memory):
    """The store's DuckDB uses one core fewer than the process may use (a run's executor
    and writer threads need the other), and at least one."""
    import os

    import nbflow as nf

    inst = nf.Instance.ephemeral() if in_memory else nf.Instance(str(tmp_path / "t.duckdb"))
    threads = inst.sql("SELECT current_setting('threads') AS n")["n"][0]
    assert int(threads) == max(1, len(os.sched_getaffinity(0)) - 1)
    inst.close()
