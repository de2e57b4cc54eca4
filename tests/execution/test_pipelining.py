"""Per-key pipelining on every executor: mapped steps start while the fan-out op still
yields, and ``g[k]`` runs as soon as ``f[k]`` is done, without waiting for other keys.

The ops leave markers in a folder (steps may run in other threads or processes), and an
op that needs something to have happened first waits for its marker -- for a bounded
time, so a barrier shows up as a failure, not a hang.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import nbflow as nf
from nbflow.runtime.instance import launch

WAIT = 20.0


def _mark(folder: str, name: str) -> None:
    (Path(folder) / name).touch()


def _wait_for(folder: str, name: str) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if (Path(folder) / name).exists():
            return True
        time.sleep(0.005)
    return False


def build(folder: str):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(3):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")
        # f[k0] and g[k0] run while the fan-out op still runs: it waits for them to finish.
        _mark(folder, "g k0 seen before emit was done" if _wait_for(folder, "g k0") else "emit timed out")
        _mark(folder, "emit done")

    @nf.op
    def f(context, x):
        key = context.get_mapping_key()
        if key == "k2" and not _wait_for(folder, "g k0"):
            _mark(folder, "f k2 timed out")
        _mark(folder, f"f {key}")
        return x

    @nf.op
    def g(context, x):
        _mark(folder, f"g {context.get_mapping_key()}")
        return x

    @nf.op
    def gather(xs):
        _mark(folder, "collect")
        return xs

    @nf.job
    def pipelined():
        gather(emit().map(f).map(g).collect())

    return pipelined


def test_mapped_steps_start_before_the_fanout_op_returns(instance, backend_factory, tmp_path):
    run = launch(build(str(tmp_path)), instance_=instance, backend=backend_factory())
    assert run.status == "SUCCESS"
    assert (tmp_path / "g k0 seen before emit was done").exists()


def test_g_of_a_key_follows_f_of_that_key_without_a_barrier(instance, backend_factory, tmp_path):
    run = launch(build(str(tmp_path)), instance_=instance, backend=backend_factory())
    assert not (tmp_path / "f k2 timed out").exists()
    assert run.output("gather") == [0, 1, 2]  # in the order the fan-out yielded


def test_in_process_order_is_strictly_per_key(instance, tmp_path):
    trace: list[str] = []

    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(3):
            trace.append(f"yield k{i}")
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")
        trace.append("emit done")

    @nf.op
    def f(context, x):
        trace.append(f"f {context.get_mapping_key()}")
        return x

    @nf.op
    def g(context, x):
        trace.append(f"g {context.get_mapping_key()}")
        return x

    @nf.op
    def gather(xs):
        trace.append("collect")
        return xs

    @nf.job
    def ordered():
        gather(emit().map(f).map(g).collect())

    launch(ordered, instance_=instance)
    assert trace.index("f k0") < trace.index("emit done")
    assert trace.index("g k0") < trace.index("emit done")
    assert trace.index("g k0") < trace.index("f k2")
    assert trace[-1] == "collect"


def test_in_process_interrupt_inside_a_batch_keeps_what_finished_before_it(instance):
    """The in-process back end advances every queued step in one poll; Ctrl-C inside one of
    them must not lose the reports of those that ran before it in the same poll."""
    trace: list[str] = []

    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(5):
            trace.append(f"yield k{i}")
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    def f(context, x):
        if context.get_mapping_key() == "k2":
            raise KeyboardInterrupt  # Ctrl-C while f[k2] runs
        return x

    @nf.op
    def gather(xs):
        return xs

    @nf.job
    def interrupted():
        gather(emit().map(f).collect())

    with pytest.raises(KeyboardInterrupt):
        launch(interrupted, instance_=instance)
    run = instance.get_run(instance.runs().run_id[0])
    assert run.status == "CANCELED"
    statuses = dict(zip(run.steps().step_key, run.steps().status, strict=True))
    assert statuses["f[k0]"] == statuses["f[k1]"] == "SUCCESS"
    assert statuses["f[k2]"] == "CANCELED"
    # The fan-out yielded k3 in the same poll, before f[k2] was interrupted: its item is
    # stored and its mapped step recorded, not lost with the interrupt.
    yielded = [t.split()[1] for t in trace]
    assert yielded[-1] == "k3"
    assert run.output("emit") == {"k0": 0, "k1": 1, "k2": 2, "k3": 3}
    assert statuses["f[k3]"] == "CANCELED"
