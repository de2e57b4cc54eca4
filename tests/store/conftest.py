"""Store fixtures: an instance on ``:memory:`` and on a file, and a clean instance cache."""

from __future__ import annotations

import pytest

from nbflow.runtime.instance import Instance

STORES = [":memory:", "file"]


@pytest.fixture(params=STORES)
def store_instance(request, tmp_path):
    """An instance on an in-memory store and, in a second run, on a file store."""
    path = ":memory:" if request.param == ":memory:" else str(tmp_path / "store" / "nbflow.duckdb")
    inst = Instance(path)
    yield inst
    inst.close()


@pytest.fixture
def store_path(tmp_path):
    """A path for a store file that does not exist yet."""
    return str(tmp_path / "store" / "nbflow.duckdb")




@pytest.fixture
def child(tmp_path):
    """Start Python subprocesses (``child(name, code, *args)``) that are killed after the test."""
    from tests.store.test_sharing import Child

    started: list = []

    def start(name: str, code: str, *args: str):
        started.append(Child(tmp_path, name, code, *args))
        return started[-1]

    yield start
    for c in started:
        c.kill()
