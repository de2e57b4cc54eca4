"""A run keeps what it buffered until it is written, and a Ctrl-C never splits a batch."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

import nbflow as nf
from nbflow.store import writer as writer_module

LONG_WRITER = """
import sys, time
import nbflow as nf
inst = nf.Instance(sys.argv[1])
inst.runs()
inst.close()
print("@{}", flush=True)
sys.stdin.readline()
with inst.store.holder.transaction() as con:   # a long batch of another kernel
    print("@{}", flush=True)
    time.sleep(float(sys.argv[2]))
print("@{}", flush=True)
sys.stdin.readline()
"""


def test_the_final_write_waits_for_a_busy_store_instead_of_dropping_the_run(store_path, child, caplog):
    other = child("other", LONG_WRITER, store_path, "3")
    other.message()
    inst = nf.Instance(store_path, lock_timeout=0.5)

    @nf.op(out=nf.DynamicOut())
    def keys():
        for i in range(8):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    def slow(x):
        if x == 7:  # the other kernel takes the store for longer than our lock_timeout
            inst.store.holder.release()
            other.send()
            other.message()
        return x * 10

    @nf.job
    def patient():
        keys().map(slow)

    with caplog.at_level(logging.WARNING, logger="nbflow"):
        run = patient.run(instance=inst)
    assert run.status == "SUCCESS"
    stored = inst.sql("SELECT step_key, status FROM steps WHERE run_id = ?", [run.run_id])
    assert len(stored) == 9 and set(stored.status) == {"SUCCESS"}
    assert inst.get_run(run.run_id).output("slow") == {f"k{i}": i * 10 for i in range(8)}
    assert any("Still waiting (nothing is dropped)" in r.getMessage() for r in caplog.records)
    other.message()
    other.send()
    assert other.finish() == 0, other.stderr
    inst.close()


@nf.op(out=nf.DynamicOut())
def many():
    for i in range(30):
        yield nf.DynamicOutput(i, mapping_key=f"m{i}")


@nf.op
def plus(x):
    return x + 1


@nf.job
def interrupted_job():
    many().map(plus)


def test_ctrl_c_during_a_batch_write_commits_the_batch_then_cancels(store_instance, monkeypatch):
    monkeypatch.setattr(writer_module, "FLUSH_SECONDS", 0.0)  # a batch every step or few
    real = writer_module.RunWriter._insert_steps
    batches: list[list[str]] = []

    def insert_then_ctrl_c(self, con, steps):
        real(self, con, steps)
        batches.append([s[0] for s in steps])
        # The second batch: early in the run (30 steps of 50 ms), whichever thread writes it
        # and however many steps the first one took.
        if len(batches) == 2:
            try:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives while the batch is being written
                time.sleep(0.05)  # the signal's handler runs in here, inside the batch
            except KeyboardInterrupt:
                # What DuckDB makes of an interrupt in the middle of a statement.
                raise RuntimeError("Query interrupted") from None

    monkeypatch.setattr(writer_module.RunWriter, "_insert_steps", insert_then_ctrl_c)

    @nf.op
    def slow_plus(x):
        time.sleep(0.05)  # slower than a batch write: the flusher writes a batch every step or two
        return x + 1

    @nf.job
    def slow_job():
        many().map(slow_plus)

    with pytest.raises(KeyboardInterrupt):
        slow_job.run(instance=store_instance)
    run_id = store_instance.runs().run_id.iloc[0]
    run = store_instance.get_run(run_id)
    assert run.status == "CANCELED"
    stored = store_instance.sql("SELECT step_key, status FROM steps WHERE run_id = ?", [run_id])
    assert set(batches[1]) <= set(stored.step_key)  # the interrupted batch was kept
    assert stored.step_key.is_unique
    assert set(stored[stored.step_key.isin(batches[1])].status) == {"SUCCESS"}


def test_giving_up_the_final_wait_says_loudly_what_was_not_written(store_path, monkeypatch, capsys):
    inst = nf.Instance(store_path, lock_timeout=0.01)
    holder = inst.store.holder
    real_transaction = holder.transaction
    calls = []

    def busy_then_interrupted(lock_timeout=None):
        calls.append(lock_timeout)
        if len(calls) == 1:
            return real_transaction(lock_timeout)  # the run's start is recorded
        if len(calls) < 4:
            raise nf.StoreLockedError("held by another kernel")
        raise KeyboardInterrupt  # the user stops the wait

    monkeypatch.setattr(holder, "transaction", busy_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        interrupted_job.run(instance=inst)
    assert calls[-1] is None  # the final write, not a mid-run batch, was waiting
    err = capsys.readouterr().err
    assert "the wait for the store was interrupted: its last 31 step rows" in err
    assert "were NOT written" in err
    monkeypatch.undo()
    inst.close()


def test_ctrl_c_held_back_until_the_last_batch_commits_is_not_reported_as_a_loss(store_path, monkeypatch,
                                                                               capsys):
    monkeypatch.setattr(writer_module, "FLUSH_SECONDS", 3600.0)  # one batch: the run's last
    real = writer_module.RunWriter._insert_steps

    def insert_then_ctrl_c(self, con, steps):
        real(self, con, steps)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        except KeyboardInterrupt:
            raise RuntimeError("Query interrupted") from None

    monkeypatch.setattr(writer_module.RunWriter, "_insert_steps", insert_then_ctrl_c)
    inst = nf.Instance(store_path)
    with pytest.raises(KeyboardInterrupt):
        interrupted_job.run(instance=inst)
    run = inst.get_run(inst.runs().run_id.iloc[0])
    assert run.status == "SUCCESS"  # the last batch, with the run's status, was committed
    assert len(run.steps()) == 31
    assert "NOT written" not in capsys.readouterr().err
    inst.close()
