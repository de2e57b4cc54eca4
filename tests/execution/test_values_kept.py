"""Which output values a run keeps in memory: those something downstream still needs.

A mapped value whose only consumer is the next map of the same key is dropped once that
step has its inputs (it is in the store); collected values stay for the collect. What a
run returns still reads every value, from the store where memory no longer has it.
"""

from __future__ import annotations

import nbflow as nf
from nbflow.definitions.compose import DynSource
from nbflow.definitions.config import resolve_run_config
from nbflow.execution.backend import InProcessBackend
from nbflow.execution.events import MemorySink
from nbflow.execution.executor import Executor
from nbflow.runtime.instance import launch


@nf.op(out=nf.DynamicOut())
def kv_emit():
    for i in range(4):
        yield nf.DynamicOutput(i, mapping_key=f"k{i}")


@nf.op
def kv_square(x: int) -> int:
    return x * x


@nf.op
def kv_plus(x: int) -> int:
    return x + 1


@nf.op
def kv_total(values: list) -> int:
    return sum(values)


@nf.op
def kv_show(x: int) -> str:
    return str(x)


@nf.job
def chain():
    kv_total(kv_emit().map(kv_square).map(kv_plus).collect())


@nf.job
def branching():  # kv_square's values feed a map and a collect: kept
    squares = kv_emit().map(kv_square)
    squares.map(kv_show)
    kv_total(squares.collect())


def _values(job):
    sink = MemorySink()
    outcome = Executor(job, "run", resolve_run_config(job, None), sink, InProcessBackend()).execute()
    assert outcome.status == "SUCCESS"
    return outcome.values


def test_a_run_makes_no_index_of_its_keys():
    # Steps go by key index; {key: index} is made only for a lookup by key. At a million keys
    # it would be about 60 MB held to the end of the run.
    sink = MemorySink()
    executor = Executor(chain, "run", resolve_run_config(chain, None), sink, InProcessBackend())
    assert executor.execute().status == "SUCCESS"
    assert executor.values._indexes == {}
    assert [r.key_index for r in sink.steps if r.node == "kv_plus"] == [0, 1, 2, 3]
    assert executor.values[("kv_plus", "result", "k2")] == 5  # a lookup by key makes it
    assert list(executor.values._indexes) == [DynSource("kv_emit", "result")]


def test_values_only_the_next_step_of_the_key_needed_are_dropped():
    values = _values(chain)
    keys = [f"k{i}" for i in range(4)]
    assert not any(("kv_emit", "result", k) in values for k in keys)
    assert not any(("kv_square", "result", k) in values for k in keys)
    assert [values[("kv_plus", "result", k)] for k in keys] == [1, 2, 5, 10]  # collected: kept
    assert values[("kv_total", "result", None)] == 18


def test_values_with_more_than_one_consumer_are_kept():
    values = _values(branching)
    assert [values[("kv_square", "result", f"k{i}")] for i in range(4)] == [0, 1, 4, 9]
    assert values[("kv_total", "result", None)] == 14


def test_dropped_values_are_read_from_the_store(instance):
    run = launch(chain, instance_=instance)
    result = run.as_execution_result()
    assert result.output_for_node("kv_square") == {"k0": 0, "k1": 1, "k2": 4, "k3": 9}
    assert result.output_for_node("kv_emit") == {"k0": 0, "k1": 1, "k2": 2, "k3": 3}
    assert result.output_for_node("kv_total") == 18


def test_a_dropped_run_handle_frees_its_values_without_the_garbage_collector(instance):
    import gc
    import weakref

    run = chain.run(instance=instance)
    assert run.output("kv_total") == sum(i * i + 1 for i in range(4))
    outcome = weakref.ref(run._outcome)  # what the handle keeps in memory: the run's values
    assert outcome() is not None
    gc.disable()
    try:
        del run
        assert outcome() is None, "the run's values are only freed by the garbage collector"
    finally:
        gc.enable()
