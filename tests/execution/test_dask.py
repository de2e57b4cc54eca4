"""The Dask back end on a real LocalCluster (two worker processes, two threads each).

The session's cluster (``dask_cluster`` in tests/conftest.py) also runs the whole back-end
matrix; these tests cover what is Dask's own: batching, streaming a fan-out's items
across processes, worker deaths, pickling errors, cancel, and the three ways to reach a
cluster. Ops run in other processes, so they tell the test what happened through files.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import nbflow as nf
from nbflow.definitions.config import resolve_run_config
from nbflow.definitions.executors import (
    dask_executor,
    in_process_executor,
    multiprocess_executor,
    thread_executor,
)
from nbflow.errors import ConfigError
from nbflow.execution.backend import InProcessBackend
from nbflow.execution.backends import make_backend
from nbflow.execution.dask_backend import DaskBackend
from nbflow.execution.events import MemorySink
from nbflow.execution.executor import Executor
from nbflow.execution.processes import ProcessBackend
from nbflow.execution.threads import ThreadBackend
from nbflow.runtime.instance import launch
from tests.execution.graphs import ALL

UNPICKLABLE = threading.Lock()


class Unpicklable:
    """Data as far as nbflow can tell, but it refuses pickling (as some C extension objects do)."""

    def __reduce__(self):
        raise TypeError("cannot pickle 'Unpicklable' object")


@pytest.fixture
def on_cluster(dask_cluster):
    """A factory of back ends on the session's cluster."""
    return lambda **kw: DaskBackend(address=dask_cluster.scheduler_address, **kw)


def statuses(run):
    steps = run.steps()
    return dict(zip(steps.step_key, steps.status, strict=True))


@pytest.mark.parametrize("module", ALL, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_graphs_in_batches_of_three_match_the_oracle(module, instance, on_cluster):
    expected_outputs, expected_statuses = module.oracle()
    run = launch(module.job, module.run_config, instance, backend=on_cluster(batch_size=3))
    assert statuses(run) == expected_statuses
    for node, expected in expected_outputs.items():
        assert run.output(node) == expected, node


def test_many_trivial_steps_run_in_few_dask_tasks(instance, on_cluster):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(300):
            yield nf.DynamicOutput(i, mapping_key=str(i))

    @nf.op
    def inc(x):
        return x + 1

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def wide():
        total(emit().map(inc).collect())

    backend = on_cluster()
    sent = []
    original = backend._send
    backend._send = lambda ids: (sent.append(len(ids)), original(ids))[1]
    run = launch(wide, None, instance, backend=backend)
    assert run.output("total") == sum(range(1, 301))
    assert sum(sent) == 302
    assert len(sent) < 100, f"{len(sent)} Dask tasks for 302 steps"


def test_mapped_steps_run_while_the_fanout_op_still_yields(instance, on_cluster, tmp_path):
    # The fan-out yields k0, then waits (up to 60 s) until g[k0] has run on the other worker.
    # Without streaming it would wait the full minute and see nothing.
    seen = tmp_path / "seen"
    marks = str(tmp_path)

    @nf.op(out=nf.DynamicOut())
    def emit():
        yield nf.DynamicOutput(0, mapping_key="k0")
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(marks, "g-k0")) and time.time() < deadline:
            time.sleep(0.01)
        with open(os.path.join(marks, "seen"), "w") as fh:
            fh.write(str(os.path.exists(os.path.join(marks, "g-k0"))))
        for i in (1, 2):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    def f(x):
        return x * 10

    @nf.op
    def g(context, x):
        open(os.path.join(marks, f"g-{context.get_mapping_key()}"), "w").close()
        return x + 1

    @nf.op
    def gather(xs):
        return xs

    @nf.job
    def pipelined():
        gather(emit().map(f).map(g).collect())

    run = launch(pipelined, None, instance, backend=on_cluster())
    assert seen.read_text() == "True"
    assert run.output("gather") == [1, 11, 21]  # the order the fan-out yielded


def test_retries_run_again_on_the_cluster(instance, on_cluster):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for k in ("a", "b", "c"):
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op(retry_policy=nf.RetryPolicy(max_retries=2, delay=0.01))
    def flaky(context, k):
        if k == "b" and context.retry_number < 2:
            raise RuntimeError(f"transient {context.retry_number}")
        if k == "c":
            raise RuntimeError("permanent")
        return k

    @nf.job
    def retry_job():
        emit().map(flaky)

    run = launch(retry_job, None, instance, backend=on_cluster())
    steps = run.steps().set_index("step_key")
    assert steps.loc["flaky[a]", "attempts"] == 1
    assert (steps.loc["flaky[b]", "attempts"], steps.loc["flaky[b]", "status"]) == (3, "SUCCESS")
    assert (steps.loc["flaky[c]", "attempts"], steps.loc["flaky[c]", "status"]) == (3, "FAILURE")
    assert "permanent" in steps.loc["flaky[c]", "error"]
    retries = run.logs().query("kind == 'STEP_UP_FOR_RETRY'")
    assert retries.step_key.value_counts().to_dict() == {"flaky[b]": 2, "flaky[c]": 2}


def test_print_and_logging_on_a_worker_are_captured_per_step(instance, on_cluster):
    @nf.op(out=nf.DynamicOut())
    def emit():
        for k in ("x", "y"):
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op
    def talk(context, k):
        print(f"print from {k} in {os.getpid()}")
        context.log.info(f"context.log from {k}")
        return k

    @nf.job
    def talky():
        emit().map(talk)

    run = launch(talky, None, instance, backend=on_cluster())
    logs = run.logs("talk[y]")
    assert logs.message.tolist()[0].startswith("print from y in ")
    assert int(logs.message.tolist()[0].rsplit(" ", 1)[1]) != os.getpid()  # it ran elsewhere
    assert logs.message.tolist()[1] == "nbflow.op.talk: context.log from y"


class _SignalWhenRecorded:
    """A run observer that creates the file ``go`` once every step in ``steps`` is recorded."""

    def __init__(self, steps: set[str], go: str) -> None:
        self.waiting, self.go = set(steps), go

    def on_start(self, *args):
        pass

    def on_step(self, record):
        self.waiting.discard(record[0])
        if not self.waiting and not os.path.exists(self.go):
            open(self.go, "w").close()

    def on_item(self, node, output, key):
        pass

    def on_reused(self, step):
        pass

    def on_finish(self, status):
        pass


def _kill_worker_when(go: str, once: str | None = None) -> None:
    """Kill this worker process: at once the first time if ``once`` is given, else once ``go`` exists."""
    if once is not None and not os.path.exists(once):
        open(once, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(go):
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_that_dies_fails_its_mapped_step_and_the_run_goes_on(instance, on_cluster, tmp_path):
    # risky[b] kills its worker process only once the other steps are recorded (their Dask
    # tasks are over), so it dies alone: the session's scheduler gives up on a task at the
    # first death of its worker, and would also fail a step that merely shared the worker.
    go = str(tmp_path / "go")

    @nf.op(out=nf.DynamicOut())
    def emit():
        for k in ("a", "b", "c"):
            yield nf.DynamicOutput(k, mapping_key=k)

    @nf.op
    def risky(k):
        if k == "b":
            _kill_worker_when(go)
        return k

    @nf.op
    def after(k):
        return k.upper()

    @nf.job
    def crashing():
        emit().map(risky).map(after)

    observer = _SignalWhenRecorded({"risky[a]", "risky[c]", "after[a]", "after[c]"}, go)
    run = launch(crashing, None, instance, backend=on_cluster(batch_size=1), observer=observer)
    steps = run.steps().set_index("step_key")
    assert steps.loc["risky[b]", "status"] == "FAILURE"
    assert "Dask worker died while running step risky[b] (KilledWorker" in steps.loc["risky[b]", "error"]
    assert steps.loc["after[b]", "status"] == "SKIPPED"
    assert run.output("after") == {"a": "A", "c": "C"}
    assert run.status == "FAILURE"


def test_a_batch_lost_with_its_worker_runs_again_one_step_per_task(instance, on_cluster, tmp_path):
    # The three steps start together, so they go in one batch; risky_b kills the worker at
    # once, taking the batch down. Its steps then run one per task, and only risky_b fails.
    go, once = str(tmp_path / "go"), str(tmp_path / "killed-once")

    @nf.op
    def risky_a():
        return "a"

    @nf.op
    def risky_b():
        _kill_worker_when(go, once)
        return "b"

    @nf.op
    def risky_c():
        return "c"

    @nf.op
    def after(x):
        return x.upper()

    @nf.job
    def crashing_batch():
        after.alias("after_a")(risky_a())
        after.alias("after_b")(risky_b())
        after.alias("after_c")(risky_c())

    observer = _SignalWhenRecorded({"risky_a", "risky_c", "after_a", "after_c"}, go)
    backend = on_cluster(batch_size=3)
    sent = []
    original = backend._send
    backend._send = lambda ids: (sent.append(len(ids)), original(ids))[1]
    run = launch(crashing_batch, None, instance, backend=backend, observer=observer)
    assert os.path.exists(once)
    assert sent[:4] == [3, 1, 1, 1]  # the batch, then its steps one by one
    assert statuses(run) == {"risky_a": "SUCCESS", "risky_b": "FAILURE", "risky_c": "SUCCESS",
                             "after_a": "SUCCESS", "after_b": "SKIPPED", "after_c": "SUCCESS"}
    assert "Dask worker died while running step risky_b" in run.steps().set_index("step_key").loc["risky_b", "error"]
    assert (run.output("after_a"), run.output("after_c")) == ("A", "C")


def test_an_unpicklable_input_fails_its_step_naming_the_op_and_the_input(instance, on_cluster):
    @nf.op
    def use(lock=UNPICKLABLE):
        return 1

    @nf.op
    def fine():
        return 2

    @nf.job
    def locked():
        use()
        fine()

    run = launch(locked, None, instance, backend=on_cluster())
    steps = run.steps().set_index("step_key")
    assert steps.loc["fine", "status"] == "SUCCESS"
    assert steps.loc["use", "status"] == "FAILURE"
    with pytest.raises(AssertionError, match=r"op 'use' cannot run on Dask: its input 'lock' \(a _thread.lock\) "
                                             r"cannot be pickled .*Create such objects inside the op"):
        raise AssertionError(steps.loc["use", "error"])


def test_an_op_that_refers_to_an_unpicklable_global_names_the_function(instance, on_cluster):
    @nf.op
    def guarded():
        with UNPICKLABLE:
            return 1

    @nf.job
    def global_lock():
        guarded()

    run = launch(global_lock, None, instance, backend=on_cluster())
    error = run.steps().set_index("step_key").loc["guarded", "error"]
    with pytest.raises(AssertionError, match=r"op 'guarded' cannot run on Dask: the op's function .* cannot be pickled"):
        raise AssertionError(error)


def test_an_unpicklable_item_fails_the_fanout_step_saying_which_item(instance, on_cluster):
    @nf.op(out=nf.DynamicOut())
    def emit():
        yield nf.DynamicOutput(1, mapping_key="ok")
        yield nf.DynamicOutput(Unpicklable(), mapping_key="lock")

    @nf.op
    def use(x):
        return x

    @nf.job
    def bad_items():
        emit().map(use)

    run = launch(bad_items, None, instance, backend=on_cluster())
    steps = run.steps().set_index("step_key")
    assert steps.loc["emit", "status"] == "FAILURE"
    assert "the item 'lock' it yielded cannot be pickled" in steps.loc["emit", "error"]
    assert run.output("use") == {"ok": 1}  # the item that did arrive ran


def test_cancel_stops_the_cluster_work_and_keeps_what_finished(dask_cluster, tmp_path):
    marks = str(tmp_path)

    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(8):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    def slow(x):
        if x > 0:
            time.sleep(3)
        open(os.path.join(marks, f"done-{x}"), "w").close()
        return x

    @nf.job
    def long_job():
        emit().map(slow)

    sink = MemorySink()
    backend = DaskBackend(address=dask_cluster.scheduler_address, batch_size=1)
    executor = Executor(long_job, "run", resolve_run_config(long_job, None), sink, backend)
    runner = threading.Thread(target=lambda: setattr(executor, "outcome", executor.execute()))
    runner.start()
    deadline = time.monotonic() + 60
    while not any(r[0] == "slow[k0]" for r in sink.steps) and time.monotonic() < deadline:
        time.sleep(0.05)
    executor.request_cancel("canceled by the test")
    runner.join(60)
    assert executor.outcome.status == "CANCELED"
    status = {r[0]: r[4] for r in sink.steps}
    assert status["slow[k0]"] == "SUCCESS"
    canceled = {k for k, s in status.items() if s == "CANCELED"}
    assert len(canceled) >= 6, status
    assert all("canceled by the test" in r[8] for r in sink.steps if r[4] == "CANCELED")
    # Nothing of the run stays on the cluster: every future was cancelled and released.
    while any(str(k).startswith("nbflow-slow") for k in dask_cluster.scheduler.tasks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(str(k).startswith("nbflow-slow") for k in dask_cluster.scheduler.tasks)
    assert backend.client is None  # shut down


def test_a_client_passed_in_is_used_and_left_open(instance, dask_cluster):
    from distributed import Client

    with Client(dask_cluster, set_as_default=False) as client:
        from tests.execution.graphs import chained

        run = launch(chained.job, chained.run_config, instance, backend=DaskBackend(client=client))
        assert run.status == "SUCCESS"
        assert client.status == "running"
        assert client.submit(sum, [1, 2]).result() == 3


def test_the_executor_config_reaches_an_existing_cluster(instance, dask_cluster):
    from tests.execution.graphs import graph_map

    executor = dask_executor.configured({"cluster": {"existing": {"address": dask_cluster.scheduler_address}},
                                         "batch_size": 2})
    backend = make_backend(executor)
    assert isinstance(backend, DaskBackend) and backend.batch_size == 2
    run = launch(graph_map.job, graph_map.run_config, instance, backend=backend)
    expected_outputs, expected_statuses = graph_map.oracle()
    assert statuses(run) == expected_statuses
    for node, expected in expected_outputs.items():
        assert run.output(node) == expected, node


def test_a_local_cluster_started_for_the_run_is_closed_at_its_end(instance):
    from tests.execution.graphs import chained

    local = {"n_workers": 1, "threads_per_worker": 2, "processes": False, "dashboard_address": ":0"}
    backend = make_backend(dask_executor.configured({"cluster": {"local": local}}))
    started = []
    original = backend.start

    def start():
        original()
        started.append(backend._cluster)

    backend.start = start
    run = launch(chained.job, chained.run_config, instance, backend=backend)
    assert run.status == "SUCCESS"
    assert started[0].status.name == "closed"


def test_make_backend_maps_every_executor():
    assert isinstance(make_backend(in_process_executor), InProcessBackend)
    threads = make_backend(thread_executor.configured({"max_concurrent": 5}))
    assert isinstance(threads, ThreadBackend) and threads.max_concurrent == 5
    processes = make_backend(multiprocess_executor.configured({"max_concurrent": 3, "start_method": "spawn"}))
    assert isinstance(processes, ProcessBackend) and (processes.max_concurrent, processes.start_method) == (3, "spawn")
    assert isinstance(make_backend(dask_executor), DaskBackend)


def test_bad_settings_say_what_is_expected():
    with pytest.raises(ConfigError, match=r'cluster.existing needs an "address"'):
        DaskBackend({"cluster": {"existing": {}}})
    with pytest.raises(ConfigError, match=r"batch_size must be an int >= 1"):
        DaskBackend(batch_size=0)
    with pytest.raises(ConfigError, match=r"client must be a distributed.Client, got 'tcp://x'"):
        DaskBackend(client="tcp://x")


def test_no_scheduler_at_the_address_says_how_to_start_one(instance):
    import dask

    from tests.execution.graphs import chained

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(ConnectionError, match=r"no Dask scheduler answered at 'tcp://127.0.0.1:9'.*dask scheduler"):
        launch(chained.job, chained.run_config, instance, backend=DaskBackend(address="tcp://127.0.0.1:9"))


def test_without_distributed_the_error_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install "nbflow\[dask\]"'):
        DaskBackend().start()


def test_cancel_stops_a_fanout_op_that_is_still_yielding(dask_cluster, tmp_path):
    marks = str(tmp_path)

    @nf.op(out=nf.DynamicOut())
    def endless():
        try:
            for i in range(100_000):
                yield nf.DynamicOutput(i, mapping_key=str(i))
                time.sleep(0.05)
        finally:  # closed on the worker once Dask marks its task canceled
            open(os.path.join(marks, "closed"), "w").close()

    @nf.op
    def use(x):
        return x

    @nf.job
    def streaming():
        endless().map(use)

    sink = MemorySink()
    backend = DaskBackend(address=dask_cluster.scheduler_address)
    executor = Executor(streaming, "run", resolve_run_config(streaming, None), sink, backend)
    runner = threading.Thread(target=lambda: setattr(executor, "outcome", executor.execute()))
    runner.start()
    deadline = time.monotonic() + 60
    while sum(r[4] == "SUCCESS" for r in sink.steps) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    executor.request_cancel()
    runner.join(60)
    assert executor.outcome.status == "CANCELED"
    status = {r[0]: r[4] for r in sink.steps}
    assert status["endless"] == "CANCELED"
    assert sum(s == "SUCCESS" for s in status.values()) >= 3
    while not os.path.exists(os.path.join(marks, "closed")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(os.path.join(marks, "closed")), "the fan-out op went on yielding after the cancel"


def test_async_ops_and_an_async_fanout_run_on_the_cluster(instance, on_cluster):
    import asyncio

    @nf.op(out=nf.DynamicOut())
    async def emit():
        for i in range(6):
            await asyncio.sleep(0)
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    async def fetch(x):
        await asyncio.sleep(0.01)
        return x * 2

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def async_job():
        total(emit().map(fetch).collect())

    run = launch(async_job, None, instance, backend=on_cluster(batch_size=3))
    assert run.status == "SUCCESS"
    assert run.output("fetch") == {f"k{i}": 2 * i for i in range(6)}
    assert run.output("total") == 30


def _held_fanout_backend(sent: int):
    """A back end (no cluster needed) holding the done report of a fan-out step that sent ``sent`` items."""
    from types import SimpleNamespace

    from nbflow.execution.step import DoneReport, StepTask
    from nbflow.execution.worker import encode_report

    task = StepTask("emit", None, None, SimpleNamespace(name="emit"), {}, None, "run", None, {})
    backend = DaskBackend()
    backend._tasks[0] = task
    done = encode_report(0, DoneReport(task, "SUCCESS", {}, [], 0.0, 1.0))
    assert backend._done([(sent, done)]) == []  # its items are not here yet
    return backend


def test_a_done_report_waits_for_the_items_still_on_their_way():
    import cloudpickle

    backend = _held_fanout_backend(sent=2)
    for seq, key in ((0, "a"), (0, "a"), (1, "b")):  # the second "a" comes from a re-run of the task
        backend._arrived.put(("item", cloudpickle.dumps((0, seq, "result", key, seq))))
    reports = backend.poll(0)
    assert [(type(r).__name__, getattr(r, "key", None)) for r in reports] == [
        ("ItemReport", "a"), ("ItemReport", "b"), ("DoneReport", None)]
    assert backend.in_flight() == 0


def test_items_that_never_arrive_fail_the_step_instead_of_hanging(monkeypatch):
    import nbflow.execution.dask_backend as dask_backend

    backend = _held_fanout_backend(sent=3)
    monkeypatch.setattr(dask_backend, "_ITEM_WAIT", 0.0)
    (report,) = backend.poll(0)
    assert report.status == "FAILURE"
    assert report.error.startswith("op 'emit' yielded 3 items on Dask, but only 0 reached this process")
    assert backend.in_flight() == 0


def test_ops_of_a_module_the_workers_cannot_import_go_by_value(instance, on_cluster, tmp_path, monkeypatch):
    import importlib

    (tmp_path / "my_project_ops.py").write_text(
        "import nbflow as nf\n\n\n"
        "def factor():\n"
        "    return 7\n\n\n"
        "@nf.op\n"
        "def scale(x):\n"
        "    return x * factor()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # here only: the workers started without it
    module = importlib.import_module("my_project_ops")
    monkeypatch.setitem(__import__("sys").modules, "my_project_ops", module)

    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(3):
            yield nf.DynamicOutput(i, mapping_key=str(i))

    @nf.job
    def scaled():
        emit().map(module.scale)

    run = launch(scaled, None, instance, backend=on_cluster())
    assert run.status == "SUCCESS", run.steps().error.dropna().tolist()
    assert run.output("scale") == {"0": 0, "1": 7, "2": 14}


def test_a_local_cluster_argument_that_does_not_exist_is_named():
    local = {"processes": False, "n_workers": 1, "dashboard_address": ":0", "bogus_arg": 1}
    backend = DaskBackend({"cluster": {"local": local}})
    with pytest.raises(ConfigError, match=r"cluster.local has an argument LocalCluster does not take: .*'bogus_arg'"):
        backend.start()
    backend.shutdown()
