"""From an executor definition to the back end that runs a run's steps."""

from __future__ import annotations

from typing import Any

from nbflow.execution.backend import Backend, InProcessBackend


def make_backend(executor_def: Any) -> Backend:
    """A fresh back end for one run of ``executor_def`` (see :mod:`nbflow.definitions.executors`)."""
    config = executor_def.config
    if executor_def.name == "thread":
        from nbflow.execution.threads import ThreadBackend

        return ThreadBackend(config["max_concurrent"])
    if executor_def.name == "multiprocess":
        from nbflow.execution.processes import ProcessBackend

        return ProcessBackend(config["max_concurrent"], config["start_method"])
    if executor_def.name == "dask":
        from nbflow.execution.dask_backend import DaskBackend

        return DaskBackend(config)
    return InProcessBackend(config["max_concurrent"])
