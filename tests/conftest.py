"""Shared fixtures: an in-memory instance and every executor back end."""

from __future__ import annotations

import functools

import pytest

import nbflow as nf
from nbflow._state import STATE
from nbflow.execution.backend import InProcessBackend
from nbflow.execution.dask_backend import DaskBackend
from nbflow.execution.processes import ProcessBackend
from nbflow.execution.threads import ThreadBackend

# Every executor's back end; the in-process one is the oracle the others must agree with.
BACKENDS = {
    "in_process": InProcessBackend,
    "thread": lambda: ThreadBackend(4),
    "multiprocess": lambda: ProcessBackend(2),
    "dask": DaskBackend,
}


@pytest.fixture
def instance():
    inst = nf.Instance.ephemeral()
    yield inst
    inst.close()


@pytest.fixture(params=sorted(BACKENDS))
def backend_factory(request):
    """Every executor back end; executor tests run once per back end."""
    if request.param == "dask":
        if request.node.get_closest_marker("same_process"):
            pytest.skip("the test's ops record into the test's own objects; on Dask they run on copies")
        address = request.getfixturevalue("dask_cluster").scheduler_address
        return functools.partial(DaskBackend, address=address)
    return BACKENDS[request.param]


@pytest.fixture(scope="session")
def dask_cluster():
    """One real LocalCluster for the session: 2 worker processes, 2 threads each.

    The scheduler gives up on a step at the first worker death (Dask's default retries it
    on three more workers), so the worker-death tests are quick.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0")
    yield cluster
    cluster.close()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    # A test that forgets instance= must never write into the repository.
    monkeypatch.setenv("NBFLOW_HOME", str(tmp_path / "nbflow-home"))


@pytest.fixture(autouse=True)
def _isolated_state():
    """Each test starts from the state the test modules defined at import, and leaves none of
    its own: definitions, sensor loops (stopped), default instances (closed), the clock."""
    before = STATE.snapshot()
    yield
    STATE.reset(to=before)


@pytest.fixture
def fake_clock():
    """A clock the test moves by hand, read by the code that waits on time (sensor intervals,
    heartbeats); the real clock is back after the test (the state reset)."""
    from tests.clock import FakeClock

    clock = FakeClock()
    STATE.clock = clock
    return clock


@pytest.fixture
def skipping_clock():
    """A clock on which every wait ends at once, moving on by the time waited: a lock timeout
    of minutes passes in no real time. For tests where nothing runs in the background (a
    heartbeat or sensor loop would spin on it)."""
    from tests.clock import SkippingClock

    clock = SkippingClock()
    STATE.clock = clock
    return clock
