"""Processes take turns with a store file: first come, first served, and only while busy."""

from __future__ import annotations

import os
import signal
import threading
import time

import duckdb
import pytest

import nbflow as nf
from nbflow.errors import StoreError, StoreLockedError
from nbflow.store.connection import ConnectionHolder
from nbflow.store.turns import TurnQueue

pytestmark = pytest.mark.skipif(not TurnQueue.available(), reason="the turn queue needs fcntl")

def _create(path: str) -> None:
    inst = nf.Instance(path)
    inst.runs()
    inst.close()


IDLE_HOLDER = """
import sys, time
import nbflow as nf
inst = nf.Instance(sys.argv[1], idle_release=600)   # would keep the file for 10 minutes
inst.runs()
print("@{}", flush=True)
sys.stdin.readline()
print("@" + str(inst.store.holder.opens), flush=True)
"""


def test_an_idle_process_lets_the_file_go_as_soon_as_another_waits(store_path, child):
    _create(store_path)
    holder = child("idle", IDLE_HOLDER, store_path)
    holder.message()
    mine = ConnectionHolder(store_path, lock_timeout=10)
    try:
        with mine.transaction() as con:  # waited for the idle holder to give up its turn
            con.execute("CREATE TABLE mine (a INTEGER)")
    finally:
        mine.close()
    holder.send()
    assert holder.message() == 1
    assert holder.finish() == 0, holder.stderr


def test_turns_are_given_in_the_order_they_were_asked_for(store_path):
    os.makedirs(os.path.dirname(store_path))
    first, order = TurnQueue(store_path), []
    assert first.acquire(1.0) is not None
    asked = []

    def wait_turn(name: str) -> None:
        queue = TurnQueue(store_path)
        asked.append(name)
        assert queue.acquire(10.0) is not None
        order.append(name)
        time.sleep(0.02)
        queue.release()

    threads = []
    for name in ("second", "third", "fourth"):
        threads.append(threading.Thread(target=wait_turn, args=(name,)))
        threads[-1].start()
        while name not in asked or len(os.listdir(first.folder)) < len(threads) + 2:  # + the counter
            time.sleep(0.005)
    assert first.others_waiting()
    first.release()
    for thread in threads:
        thread.join(10)
    assert order == ["second", "third", "fourth"]


def test_a_dead_process_in_the_queue_does_not_block_it(store_path):
    os.makedirs(os.path.dirname(store_path))
    pid = os.fork()
    if pid == 0:  # the child takes the turn and dies holding it
        queue = TurnQueue(store_path)
        queue.acquire(5.0)
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    assert any(n.endswith(f"-{pid}") for n in os.listdir(TurnQueue(store_path).folder))
    mine = TurnQueue(store_path)
    assert mine.acquire(2.0) is not None
    mine.release()
    assert not any(n[:1].isdigit() for n in os.listdir(mine.folder))


def test_waiting_too_long_says_which_process_has_the_turn(store_path, skipping_clock):
    _create(store_path)
    other = ConnectionHolder(store_path)
    mine = ConnectionHolder(store_path, lock_timeout=30)
    began, real_began = skipping_clock.now(), time.monotonic()
    try:
        with other.use(), pytest.raises(StoreLockedError, match=rf"locked by process {os.getpid()}.*"
                                                                 r"NBFLOW_LOCK_TIMEOUT"), mine.use():
            pass
    finally:
        other.close()
        mine.close()
    assert skipping_clock.now() - began >= 30  # it waited out the whole lock timeout ...
    assert time.monotonic() - real_began < 10  # ... on the test's clock


def test_a_process_outside_the_queue_is_recognised_as_holding_the_lock(store_path, child, skipping_clock):
    _create(store_path)
    raw = child("raw", "import sys, duckdb\ncon = duckdb.connect(sys.argv[1])\nprint('@{}', flush=True)\n"
                       "sys.stdin.readline()\n", store_path)
    raw.message()
    holder = ConnectionHolder(store_path, lock_timeout=30)
    with pytest.raises(StoreLockedError, match=rf"locked by process {raw.pid}"), holder.use():
        pass
    holder.close()


def test_a_path_containing_lock_is_not_mistaken_for_a_locked_store(tmp_path):
    # DuckDB says "...lock..." for a held file, and the path here says it too: the error
    # must be told apart by asking the OS, not by reading the message.
    path = tmp_path / "deadlock" / "blocked.duckdb"
    path.parent.mkdir()
    path.write_bytes(b"this is not a database" * 100)
    holder = ConnectionHolder(str(path), lock_timeout=1.0)
    with (pytest.raises(StoreError, match=r"blocked.duckdb is not a readable DuckDB database") as caught,
          holder.use()):
        pass
    assert not isinstance(caught.value, StoreLockedError)
    assert path.read_bytes() == b"this is not a database" * 100
    holder.close()


def test_the_store_is_attached_with_extensions_off(store_path):
    inst = nf.Instance(store_path)
    settings = inst.sql("SELECT name, value FROM duckdb_settings() WHERE name IN "
                        "('autoinstall_known_extensions', 'autoload_known_extensions') ORDER BY name")
    assert settings.value.tolist() == ["false", "false"]
    inst.close()
    duckdb.connect(store_path).close()  # the file is really let go


def test_a_turns_folder_that_cannot_be_made_is_explained(store_path):
    os.makedirs(os.path.dirname(store_path))
    with open(store_path + ".turns", "w") as f:
        f.write("in the way")
    holder = ConnectionHolder(store_path, lock_timeout=1.0)
    with (pytest.raises(StoreError, match=r"Cannot take a turn with the nbflow store .*nbflow.duckdb.turns, "
                                          r"which must be a folder you can write"),
          holder.use()):
        pass
    holder.close()
