"""Back ends from executor definitions: the one place an executor's name becomes a back end."""

from __future__ import annotations

from typing import Any

from nbflow.execution.backend import Backend


def make_backend(executor_def: Any) -> Backend:
    """The back end that runs steps as ``executor_def`` (an ``ExecutorDefinition``) says."""
    name, config = executor_def.name, executor_def.config
    if name == "in_process":
        from nbflow.execution.backend import InProcessBackend

        return InProcessBackend(config["max_concurrent"])
    if name == "thread":
        from nbflow.execution.threads import ThreadBackend

        return ThreadBackend(config["max_concurrent"])
    if name == "multiprocess":
        from nbflow.execution.processes import ProcessBackend

        return ProcessBackend(config["max_concurrent"], config["start_method"])
    if name == "dask":
        from nbflow.execution.dask_backend import DaskBackend

        return DaskBackend(config)
    raise ValueError(f"No back end for executor {name!r}.")
