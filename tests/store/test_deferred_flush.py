"""A mid-run flush that finds the store locked keeps its rows and writes them later."""

from __future__ import annotations

import contextlib
import time

import nbflow as nf
from nbflow.store import writer as writer_module


def test_rows_survive_a_locked_store_during_the_run(tmp_path, monkeypatch):
    inst = nf.instance(str(tmp_path / "s.duckdb"))
    holder = inst.store.holder
    real_transaction = holder.transaction
    refused = []

    @contextlib.contextmanager
    def sometimes_locked(lock_timeout=None):
        if lock_timeout is not None and len(refused) < 3:  # a mid-run flush
            refused.append(lock_timeout)
            raise nf.StoreLockedError("held by a test")
        with real_transaction(lock_timeout) as con:
            yield con

    monkeypatch.setattr(holder, "transaction", sometimes_locked)
    monkeypatch.setattr(writer_module, "FLUSH_SECONDS", 0.001)  # the flusher tries all the time

    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(20):
            yield nf.DynamicOutput(i, mapping_key=str(i))

    @nf.op
    def double(x):
        time.sleep(0.01)  # long enough for the flusher to try between steps
        return 2 * x

    @nf.job
    def deferred():
        emit().map(double)

    run = deferred.run(instance=inst)
    assert len(refused) == 3
    assert run.status == "SUCCESS"
    assert len(run.steps()) == 21
    assert run.output("double") == {str(i): 2 * i for i in range(20)}
    inst.close()
