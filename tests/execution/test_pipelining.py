"""Per-key pipelining: mapped steps start while the fan-out op still yields, and
``g[k]`` runs as soon as ``f[k]`` is done, before other keys' ``f``."""

from __future__ import annotations

import pytest

import nbflow as nf
from nbflow.instance import launch


def build(trace):
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
    def pipelined():
        gather(emit().map(f).map(g).collect())

    return pipelined


@pytest.mark.same_process  # the trace is the test's list
def test_mapped_steps_start_before_the_fanout_op_returns(instance, backend_factory):
    trace: list[str] = []
    launch(build(trace), instance_=instance, backend=backend_factory())
    assert trace.index("f k0") < trace.index("emit done")
    assert trace.index("g k0") < trace.index("emit done")


@pytest.mark.same_process  # the trace is the test's list
def test_g_of_a_key_follows_f_of_that_key_without_a_barrier(instance, backend_factory):
    trace: list[str] = []
    launch(build(trace), instance_=instance, backend=backend_factory())
    assert trace.index("g k0") < trace.index("f k2")
    assert trace[-1] == "collect"
    assert trace.index("collect") > max(trace.index(f"g k{i}") for i in range(3))
