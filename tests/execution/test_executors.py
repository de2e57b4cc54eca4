"""Choosing executors, what only concurrent executors can do, limits, async ops, background
runs, cancel and interrupt, durability, and the failures only worker processes have.

Concurrency is shown by steps that wait for each other (a barrier with a timeout), never by
timing: a serial executor would time out at the barrier.
"""

from __future__ import annotations

import _thread
import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import nbflow as nf
from nbflow.execution.processes import ProcessBackend
from nbflow.runtime.instance import launch


def _fan(n: int):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(n):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    return emit


# -- choosing an executor ------------------------------------------------------------------------
def test_the_job_the_run_and_run_config_choose_the_executor(instance):
    emit = _fan(3)

    @nf.op
    def double(x):
        return 2 * x

    @nf.job(executor_def=nf.thread_executor.configured({"max_concurrent": 3}))
    def chosen():
        emit().map(double)

    assert instance.runs().empty
    assert chosen.run(instance=instance).output("double") == {"k0": 0, "k1": 2, "k2": 4}
    backend = lambda: instance.sql("select backend from runs order by start_time desc limit 1").backend[0]  # noqa: E731
    assert backend() == "thread"
    chosen.run(instance=instance, executor=nf.in_process_executor)
    assert backend() == "in_process"
    chosen.run(instance=instance, run_config={"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}})
    assert backend() == "multiprocess"
    chosen.run(instance=instance, executor="multiprocess")
    assert backend() == "multiprocess"
    chosen.execute_in_process(instance=instance)  # as in Dagster: always in this process
    assert backend() == "in_process"


def test_bad_executor_settings_say_what_is_allowed():
    with pytest.raises(nf.ConfigError, match=r"thread_executor has no setting 'max_concurent'. Its settings are"):
        nf.thread_executor.configured({"max_concurent": 4})
    with pytest.raises(nf.ConfigError, match=r"max_concurrent must be an int >= 1, got 0"):
        nf.multiprocess_executor.configured({"max_concurrent": 0})
    with pytest.raises(nf.ConfigError, match=r"start_method must be one of \['forkserver', 'spawn', 'fork'\]"):
        nf.multiprocess_executor.configured({"start_method": "thread"})
    with pytest.raises(nf.ConfigError, match=r"each tag_concurrency_limits entry needs 'key' and 'limit'"):
        nf.thread_executor.configured({"tag_concurrency_limits": [{"key": "api"}]})
    with pytest.raises(nf.ConfigError, match=r"cluster.existing needs an \"address\""):
        nf.dask_executor.configured({"cluster": {"existing": {}}})
    with pytest.raises(nf.ConfigError, match=r"executor= takes an executor definition"):
        @nf.job(executor_def=42)
        def nope():
            _fan(1)()
    with pytest.raises(nf.ConfigError, match=r"Unknown executor 'gpu'; use one of"):
        nf.job(executor_def="gpu")(lambda: None)


def test_an_unreachable_dask_cluster_says_so_and_stores_no_run(instance):
    emit = _fan(2)

    @nf.op
    def inc(x):
        return x + 1

    @nf.job
    def nowhere():
        emit().map(inc)

    executor = nf.dask_executor.configured({"cluster": {"existing": {"address": "tcp://127.0.0.1:9"}}})
    import dask
    import distributed  # noqa: F401 -- its config defaults must be loaded before they are overridden

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(
            ConnectionError, match=r"no Dask scheduler answered at 'tcp://127.0.0.1:9'"):
        nowhere.run(instance=instance, executor=executor)
    assert instance.runs().empty


# -- concurrency ---------------------------------------------------------------------------------
def _barrier_job(n: int, barrier: threading.Barrier, **op_options):
    emit = _fan(n)

    @nf.op(**op_options)
    def meet(x):
        barrier.wait(timeout=10)  # passes only if all n steps run at the same time
        return x

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def together():
        total(emit().map(meet).collect())

    return together


def test_thread_executor_runs_mapped_steps_at_the_same_time(instance):
    job = _barrier_job(6, threading.Barrier(6))
    run = job.run(instance=instance, executor=nf.thread_executor.configured({"max_concurrent": 6}))
    assert run.status == "SUCCESS"
    assert run.output("total") == 15


def _peak_job(n: int, **op_options):
    lock, state = threading.Lock(), {"now": 0, "peak": 0}
    emit = _fan(n)

    @nf.op(**op_options)
    def call_api(x):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return x

    @nf.op
    def other(x):
        return x

    @nf.job
    def limited():
        items = emit()
        items.map(call_api)
        items.map(other)

    return limited, state


def test_a_tag_limit_caps_one_op_while_the_rest_runs_wide(instance):
    job, state = _peak_job(24, tags={"dagster/concurrency_key": "api"})
    limits = [{"key": "dagster/concurrency_key", "value": "api", "limit": 3}]
    run = job.run(instance=instance, executor=nf.thread_executor.configured(
        {"max_concurrent": 12, "tag_concurrency_limits": limits}))
    assert run.status == "SUCCESS"
    assert 1 <= state["peak"] <= 3


def test_a_pool_limit_set_on_the_instance_holds(instance):
    job, state = _peak_job(24, pool="api")
    instance.set_pool_limit("api", 2)
    assert instance.pool_limits() == {"api": 2}
    run = job.run(instance=instance, executor=nf.thread_executor.configured({"max_concurrent": 12}))
    assert run.status == "SUCCESS"
    assert 1 <= state["peak"] <= 2
    with pytest.raises(nf.ConfigError, match=r"the limit of pool 'api' must be an int >= 1"):
        instance.set_pool_limit("api", 0)
    instance.set_pool_limit("api", None)
    assert instance.pool_limits() == {}


def test_async_ops_run_concurrently_on_the_in_process_executor(instance):
    arrived = {"n": 0}

    @nf.op(out=nf.DynamicOut())
    async def emit():
        for i in range(8):
            await asyncio.sleep(0)
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    async def fetch(x):
        arrived["n"] += 1
        for _ in range(1000):  # every step waits here until all 8 are in: only concurrent steps get out
            if arrived["n"] == 8:
                break
            await asyncio.sleep(0.01)
        print(f"fetched {x}")
        return x * 10

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def fetch_all():
        total(emit().map(fetch).collect())

    run = fetch_all.run(instance=instance)
    assert run.status == "SUCCESS"
    assert run.output("total") == 280
    assert run.output("fetch", key="k3") == 30
    logs = run.logs("fetch[k3]")
    assert logs.message.tolist() == ["fetched 3"]  # each async step keeps its own output


def test_an_async_fanout_yielding_a_mapping_key_twice_fails_its_step(instance):
    @nf.op(out=nf.DynamicOut())
    async def emit():
        for key in ("a", "b", "a"):
            yield nf.DynamicOutput(key, mapping_key=key)

    @nf.op
    def shout(x):
        return x.upper()

    @nf.job
    def twice():
        emit().map(shout)

    run = twice.run(instance=instance, raise_on_error=False)
    assert run.status == "FAILURE"
    error = run.steps().query("step_key == 'emit'").error.iloc[0]
    assert "op 'emit' yielded the mapping key 'a' twice. Mapping keys must be unique within one step." in error
    assert sorted(run.steps().query("op == 'shout'").mapping_key) == ["a", "b"]  # the items before it ran


# -- background runs, cancel, interrupt -----------------------------------------------------------
def _gate_job(folder: Path, n: int = 6, slow_key: str = "k3"):
    emit = _fan(n)

    @nf.op
    def work(context, x):
        if context.get_mapping_key() == slow_key:
            while not (folder / "open").exists():  # pure Python: an interrupt stops it
                time.sleep(0.01)
        return x

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def gated():
        total(emit().map(work).collect())

    return gated


def _wait_until(check, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_a_background_run_can_be_followed_and_waited_for(tmp_path):
    inst = nf.instance(str(tmp_path / "store.duckdb"))
    run = _gate_job(tmp_path).run(instance=inst, wait=False)
    assert run.status == "STARTED" and run.is_running
    # Finished steps reach the store while another step still runs (the flush timer).
    assert _wait_until(lambda: len(inst.sql(
        "select * from steps where run_id = ? and status = 'SUCCESS'", [run.run_id])) >= 3)
    assert run.is_running
    (tmp_path / "open").touch()
    assert run.wait(timeout=30).status == "SUCCESS"
    assert run.output("total") == 15


def test_cancel_keeps_finished_steps_and_a_rerun_finishes_the_run(tmp_path, backend_name):
    inst = nf.instance(str(tmp_path / "store.duckdb"))
    job = _gate_job(tmp_path)
    executor = {"in_process": nf.in_process_executor, "thread": nf.thread_executor,
                "multiprocess": nf.multiprocess_executor.configured({"max_concurrent": 2})}[backend_name]
    run = job.run(instance=inst, wait=False, executor=executor)
    assert _wait_until(lambda: len(inst.sql(
        "select * from steps where run_id = ? and status = 'SUCCESS'", [run.run_id])) >= 3)
    run.cancel()
    assert run.status == "CANCELED"
    steps = run.steps().set_index("step_key")
    assert steps.loc["work[k3]", "status"] == "CANCELED"
    assert steps.loc["total", "status"] == "CANCELED"
    kept = set(steps.index[steps.status == "SUCCESS"])
    assert {"work[k0]", "work[k1]", "work[k2]"} <= kept
    (tmp_path / "open").touch()
    finished = run.rerun(failed=True)
    assert finished.status == "SUCCESS"
    assert finished.output("total") == 15
    redone = set(inst.sql("select step_key from steps where run_id = ? and reused_from is null",
                          [finished.run_id]).step_key)
    assert "work[k0]" not in redone  # kept from the canceled run, not done again


@pytest.fixture(params=["in_process", "thread", "multiprocess"])
def backend_name(request):
    return request.param


def test_an_interrupt_cancels_the_run_with_a_short_message(tmp_path):
    inst = nf.instance(str(tmp_path / "store.duckdb"))
    job = _gate_job(tmp_path)
    threading.Timer(1.5, _thread.interrupt_main).start()  # what Jupyter's interrupt button does
    with pytest.raises(nf.RunInterrupted, match=r"was canceled: \d+ step\(s\) finished and are stored, "
                                                r"\d+ canceled. Finish it with run.rerun\(failed=True\)") as info:
        job.run(instance=inst)
    run = info.value.run
    assert run.status == "CANCELED"
    assert info.value._render_traceback_()[0].startswith("RunInterrupted: run ")
    assert isinstance(info.value, KeyboardInterrupt)  # scripts stop as on any Ctrl-C


class Unpicklable:
    """Data as far as nbflow can tell, but it refuses pickling (as some C extension objects do)."""

    def __reduce__(self):
        raise TypeError("cannot pickle 'Unpicklable' object")


# -- durability and worker processes --------------------------------------------------------------
def test_a_worker_process_that_dies_fails_only_its_step(instance):
    emit = _fan(4)

    @nf.op
    def fragile(context, x):
        if context.get_mapping_key() == "k1":
            os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
        return x

    @nf.job
    def survives():
        emit().map(fragile)

    run = launch(survives, instance_=instance, backend=ProcessBackend(2))
    steps = run.steps().set_index("step_key")
    assert steps.loc["fragile[k1]", "status"] == "FAILURE"
    assert "worker process died (exit code -9)" in steps.loc["fragile[k1]", "error"]
    assert run.output("fragile") == {"k0": 0, "k2": 2, "k3": 3} or set(
        steps.index[steps.status == "SUCCESS"]) >= {"fragile[k0]", "fragile[k2]", "fragile[k3]"}


def test_what_cannot_be_pickled_fails_its_step_with_the_fix(instance):
    lock = threading.Lock()

    @nf.op
    def make_lock():
        return Unpicklable()

    @nf.op
    def uses_global_lock(x):
        with lock:
            return x

    @nf.op
    def one():
        return 1

    @nf.job
    def unpicklable():
        make_lock()
        uses_global_lock(one())

    run = launch(unpicklable, instance_=instance, backend=ProcessBackend(2))
    steps = run.steps().set_index("step_key")
    assert steps.loc["one", "status"] == "SUCCESS"
    assert steps.loc["make_lock", "status"] == "FAILURE"
    assert "cannot be pickled to send it back" in steps.loc["make_lock", "error"]
    assert "run this job with the thread executor" in steps.loc["make_lock", "error"]
    assert steps.loc["uses_global_lock", "status"] == "FAILURE"
    assert "op 'uses_global_lock' cannot run in a worker process: the op's function" in steps.loc[
        "uses_global_lock", "error"]


def test_retries_with_backoff_and_jitter_run_on_worker_processes(instance, tmp_path):
    emit = _fan(2)
    policy = nf.RetryPolicy(max_retries=2, delay=0.01, backoff=nf.Backoff.EXPONENTIAL, jitter=nf.Jitter.FULL)

    @nf.op(retry_policy=policy)
    def flaky(context, x):
        marker = tmp_path / f"tried-{context.get_mapping_key()}-{context.retry_number}"
        marker.touch()
        if context.retry_number < 2:
            raise RuntimeError("not yet")
        return x

    @nf.job
    def retried():
        emit().map(flaky)

    run = launch(retried, instance_=instance, backend=ProcessBackend(2))
    assert run.status == "SUCCESS"
    assert run.steps().set_index("step_key").loc["flaky[k1]", "attempts"] == 3


def test_retry_policy_delays():
    exponential = nf.RetryPolicy(max_retries=3, delay=1.0, backoff=nf.Backoff.EXPONENTIAL)
    assert [exponential.delay_before(n) for n in (1, 2, 3)] == [1.0, 3.0, 7.0]
    linear = nf.RetryPolicy(max_retries=3, delay=1.0, backoff=nf.Backoff.LINEAR)
    assert [linear.delay_before(n) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]
    full = nf.RetryPolicy(max_retries=3, delay=1.0, jitter=nf.Jitter.FULL)
    assert all(0.0 <= full.delay_before(1) <= 1.0 for _ in range(50))
    with pytest.raises(nf.DefinitionError, match="backoff and jitter need a delay"):
        nf.RetryPolicy(max_retries=1, backoff=nf.Backoff.LINEAR)


def test_two_background_runs_share_a_pool(instance):
    job, state = _peak_job(12, pool="db")
    instance.set_pool_limit("db", 3)
    threads = nf.thread_executor.configured({"max_concurrent": 8})
    first = job.run(instance=instance, executor=threads, wait=False)
    second = job.run(instance=instance, executor=threads, wait=False)
    assert first.wait(timeout=60).status == second.wait(timeout=60).status == "SUCCESS"
    assert 1 <= state["peak"] <= 3  # across both runs
    assert instance.pool_slots.in_use("db") == 0


def test_values_of_classes_defined_in_a_cell_travel_both_ways(instance):
    class Episode:  # defined here, like a class in a notebook cell: no module to import it from
        def __init__(self, title: str) -> None:
            self.title = title

    @nf.op(out=nf.DynamicOut())
    def episodes():
        for title in ("pilot", "finale"):
            yield nf.DynamicOutput(Episode(title), mapping_key=title)

    @nf.op
    def shout(episode):
        assert type(episode).__name__ == "Episode"
        return Episode(episode.title.upper())

    @nf.job
    def cast():
        episodes().map(shout)

    run = launch(cast, instance_=instance, backend=ProcessBackend(2))
    assert run.status == "SUCCESS"
    loud = run.output("shout")
    assert [e.title for e in loud.values()] == ["PILOT", "FINALE"]
