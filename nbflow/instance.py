"""The instance: one store plus the machinery that runs jobs against it.

``nbflow.instance()`` returns the default instance for this process (one per store
file: calling it twice with the same path returns the same object). The store file
is ``$NBFLOW_HOME/nbflow.duckdb`` if ``NBFLOW_HOME`` is set, else
``./.nbflow/nbflow.duckdb`` beside the notebook.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from nbflow.errors import StepExecutionError

_instances: dict[str, Instance] = {}
_instances_lock = threading.Lock()


def default_store_path() -> str:
    home = os.environ.get("NBFLOW_HOME")
    folder = home if home else os.path.join(os.getcwd(), ".nbflow")
    return os.path.join(folder, "nbflow.duckdb")


class Instance:
    """Where runs are stored and from where they are launched.

    Examples
    --------
    >>> inst = Instance.ephemeral()
    >>> inst.runs().empty
    True
    """

    def __init__(self, path: str, lock_timeout: float | None = None, idle_release: float | None = None):
        from nbflow.store.connection import DEFAULT_IDLE_RELEASE, DEFAULT_LOCK_TIMEOUT
        from nbflow.store.store import Store

        self.path = path
        self.store = Store(
            path,
            DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout,
            DEFAULT_IDLE_RELEASE if idle_release is None else idle_release,
        )

    @classmethod
    def ephemeral(cls) -> Instance:
        """An instance whose store lives in memory (for tests and throwaway work)."""
        return cls(":memory:")

    # -- runs ------------------------------------------------------------------------------------
    def runs(self, job: str | None = None, status: str | None = None, limit: int | None = 100) -> Any:
        """Stored runs, newest first, as a DataFrame (filter by job name and status)."""
        return self.store.runs(job, status, limit)

    def get_run(self, run_id: str) -> Any:
        """The :class:`~nbflow.Run` with this id (a unique prefix of at least 4 characters works)."""
        from nbflow.run import Run

        row = self.store.run_row(run_id)
        return Run(self, row["run_id"])

    def sql(self, query: str, params: list | None = None) -> Any:
        """Run SQL against the store: ``instance.sql("select * from steps where status='FAILURE'")``."""
        return self.store.sql(query, params)

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its steps, events and outputs (and the tables only it used)."""
        self.store.delete_run(self.store.run_row(run_id)["run_id"])

    def close(self) -> None:
        """Release the store file now (it is reopened on the next use)."""
        self.store.close()

    def __repr__(self) -> str:
        return f"<nbflow Instance {self.path}>"


def instance(path: str | None = None, lock_timeout: float | None = None) -> Instance:
    """The instance for ``path`` (default: ``$NBFLOW_HOME`` or ``./.nbflow``), one per process."""
    resolved = path if path == ":memory:" else os.path.abspath(path or default_store_path())
    if resolved == ":memory:":
        return Instance.ephemeral()
    with _instances_lock:
        found = _instances.get(resolved)
        if found is None:
            found = _instances[resolved] = Instance(resolved, lock_timeout)
        elif lock_timeout is not None:
            found.store.holder.lock_timeout = lock_timeout
        return found


def code_version(op_def: Any) -> str:
    """A short hash of an op's source, so stored steps show which code produced them."""
    try:
        source = inspect.getsource(op_def.fn)
    except (OSError, TypeError):
        code = op_def.fn.__code__
        source = repr((code.co_code, code.co_consts, code.co_names))
    return hashlib.sha1(source.encode()).hexdigest()[:12]


def launch(
    job: Any,
    run_config: Mapping[str, Any] | None = None,
    instance_: Instance | None = None,
    tags: Mapping[str, Any] | None = None,
    raise_on_error: bool = False,
    partition_key: str | None = None,
    backend: Any = None,
    parent: Any = None,
    resume: Any = None,
) -> Any:
    """Validate, run and store one run of ``job``; return its :class:`~nbflow.Run`.

    For a rerun, ``parent`` is the parent's run record and ``resume`` says which steps
    execute; the rest is copied from the parent when the run starts.
    """
    from nbflow.definitions.config import resolve_run_config
    from nbflow.execution.backend import InProcessBackend
    from nbflow.execution.executor import Executor
    from nbflow.run import Run

    inst = instance_ if instance_ is not None else instance()
    merged = {**job.default_run_config, **dict(run_config or {})}
    configs = resolve_run_config(job, merged)  # raises before anything is stored or run
    backend = backend or InProcessBackend()
    run_id = str(uuid.uuid4())
    all_tags = {**job.tags, **{str(k): str(v) for k, v in (tags or {}).items()}}
    writer = inst.store.writer(run_id)
    writer.run_started({
        "run_id": run_id, "job_name": job.name, "status": "STARTED", "tags": all_tags,
        "run_config": merged, "partition_key": partition_key, "start": time.time(),
        "backend": backend.name, "pid": os.getpid(), "hostname": socket.gethostname(),
        "parent_run_id": parent["run_id"] if parent else None,
        "root_run_id": parent["root_run_id"] if parent else None,
        "reuse": (resume.executed, job.nodes) if resume is not None else None,
    })
    versions = {name: code_version(node.op) for name, node in job.nodes.items()}
    executor = Executor(job, run_id, configs, writer, backend, partition_key, merged, versions, resume)
    try:
        outcome = executor.execute()
    except KeyboardInterrupt:
        inst.store.finish_run(run_id)  # recorded as CANCELED by the executor
        raise
    except BaseException as exc:  # nbflow's own failure, not a step's: never leave it STARTED
        inst.store.mark_failed(run_id, f"The run stopped on an internal error: {type(exc).__name__}: {exc}")
        raise
    run = Run(inst, run_id, job=job, outcome=outcome)
    if outcome.status != "SUCCESS" and raise_on_error:
        first = next(iter(outcome.exceptions.values()), None)
        raise StepExecutionError(
            f'Execution of run for "{job.name}" failed. Steps failed: {outcome.failed}. '
            f"The run is stored: nbflow.instance().get_run({run_id!r}).logs() shows the tracebacks."
        ) from first
    return run
