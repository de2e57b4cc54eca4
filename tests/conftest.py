"""Shared fixtures: an in-memory instance and every executor back end."""

from __future__ import annotations

import sys

import pytest

import nbflow as nf
from nbflow.execution.backend import InProcessBackend
from nbflow.execution.processes import ProcessBackend
from nbflow.execution.threads import ThreadBackend

# Every executor's back end; the in-process one is the oracle the others must agree with.
BACKENDS = {
    "in_process": InProcessBackend,
    "thread": lambda: ThreadBackend(4),
    "multiprocess": lambda: ProcessBackend(2),
}


@pytest.fixture
def instance():
    inst = nf.Instance.ephemeral()
    yield inst
    inst.close()


@pytest.fixture(params=sorted(BACKENDS))
def backend_factory(request):
    """Every executor back end; executor tests run once per back end."""
    return BACKENDS[request.param]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    # A test that forgets instance= must never write into the repository.
    monkeypatch.setenv("NBFLOW_HOME", str(tmp_path / "nbflow-home"))


@pytest.fixture(autouse=True)
def _forget_instances():
    """Close and forget the per-process instances ``nf.instance(path)`` made during a test."""
    module = sys.modules["nbflow.instance"]  # nbflow.instance the attribute is the function
    before = dict(module._instances)
    yield
    for key, inst in list(module._instances.items()):
        if before.get(key) is not inst:
            inst.close()
            del module._instances[key]
