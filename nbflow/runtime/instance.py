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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nbflow._state import STATE, Snapshot
from nbflow.definitions.status import Status
from nbflow.errors import run_failure
from nbflow.runtime.observers import _tell

if TYPE_CHECKING:
    from nbflow.execution.events import EventSink, RunStarted
    from nbflow.execution.executor import Executor
    from nbflow.execution.limits import Limits
    from nbflow.partitions.dynamic import (
        AddDynamicPartitionsRequest,
        DeleteDynamicPartitionsRequest,
        DynamicPartitionsDefinition,
    )
    from nbflow.runtime.run import Run
    from nbflow.store.partitions import AddResult, DeleteResult

_instances: dict[str, Instance] = STATE.default_instances
_instances_lock = threading.Lock()
_good_homes: set[str] = STATE.good_homes  # NBFLOW_HOME folders already found to be folders


def _close_instances_opened_since(to: Snapshot | None) -> None:
    """Before the state is reset: close the default instances that are not in ``to``."""
    kept = to.mapping("default_instances") if to is not None else {}
    with _instances_lock:
        opened = [inst for path, inst in _instances.items() if kept.get(path) is not inst]
    for inst in opened:
        inst.close()


STATE.before_reset("default_instances", _close_instances_opened_since, last=True)


def default_store_path() -> str:
    """``$NBFLOW_HOME/nbflow.duckdb`` (``~`` expanded), else ``./.nbflow/nbflow.duckdb``."""
    home = os.environ.get("NBFLOW_HOME", "").strip()
    if not home:
        return os.path.join(os.getcwd(), ".nbflow", "nbflow.duckdb")
    folder = os.path.expanduser(home)
    if folder not in _good_homes:  # checked until found a folder: `key in definition` asks often
        if os.path.isdir(folder):
            _good_homes.add(folder)
        elif os.path.exists(folder):
            from nbflow.errors import StoreError

            raise StoreError(
                f"NBFLOW_HOME={home!r} is a file, not a folder. Set NBFLOW_HOME to the folder that "
                f"holds (or will hold) the store, e.g. NBFLOW_HOME=~/nbflow, or unset it to use "
                f"./.nbflow beside the notebook."
            )
    return os.path.join(folder, "nbflow.duckdb")


class Instance:
    """Where runs are stored and from where they are launched.

    Examples
    --------
    >>> inst = Instance.ephemeral()
    >>> inst.runs().empty
    True
    """

    def __init__(self, path: str, lock_timeout: float | None = None, idle_release: float | None = None,
                 trust: bool = False):
        from nbflow.execution.limits import PoolSlots
        from nbflow.store.connection import DEFAULT_IDLE_RELEASE, check_lock_timeout, lock_timeout_from_env
        from nbflow.store.store import Store

        self.path = path
        self.store = Store(
            path,
            lock_timeout_from_env() if lock_timeout is None else check_lock_timeout(lock_timeout),
            DEFAULT_IDLE_RELEASE if idle_release is None else idle_release,
        )
        self.store.holder.trust = bool(trust)
        self.pool_slots = PoolSlots()  # shared by every run of this process on this instance

    @classmethod
    def ephemeral(cls) -> Instance:
        """An instance whose store lives in memory (for tests and throwaway work)."""
        return cls(":memory:")

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ------------------------------------------------------------------------------------
    def runs(self, job: str | None = None, status: str | None = None, limit: int | None = 100) -> Any:
        """Stored runs, newest first, as a DataFrame (filter by job name and status)."""
        return self.store.runs(job, status, limit)

    def get_run(self, run_id: str) -> Run:
        """The :class:`~nbflow.Run` with this id (a unique prefix of at least 4 characters works)."""
        from nbflow.runtime.run import Run

        row = self.store.run_row(run_id)
        return Run(self, row["run_id"], record=row)

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        """Run SQL against the store: ``instance.sql("select * from steps where status='FAILURE'")``."""
        return self.store.sql(query, params)

    # -- dynamic partitions (Dagster's names) -----------------------------------------------------
    def add_dynamic_partitions(self, partitions_def_name: str, partition_keys: Iterable[str],
                               restore_outputs: bool = False, source: str = "api",
                               source_id: str | None = None) -> AddResult:
        """Add keys (idempotent; duplicates in the call collapse); returns which were new."""
        from nbflow.partitions.dynamic import _key_list

        keys = _key_list(partition_keys, "add_dynamic_partitions", validate=False)  # the store checks them
        return self.store.partitions.add(partitions_def_name, keys, source, source_id, restore_outputs)

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> DeleteResult:
        """Delete one key; a missing key is a no-op, reported in the result."""
        return self.delete_dynamic_partitions(partitions_def_name, [partition_key])

    def delete_dynamic_partitions(self, partitions_def_name: str, partition_keys: Iterable[str],
                                  outputs: str = "keep", source: str = "api",
                                  source_id: str | None = None) -> DeleteResult:
        """Delete keys in one statement. ``outputs="drop"`` also deletes what runs of those
        partitions stored; with ``"keep"`` (default) they stay, but a deleted key never shows
        as materialized, and a re-added one starts as missing unless restored."""
        from nbflow.partitions.dynamic import PartitionsError, _key_list
        from nbflow.store.assets import drop_partition_outputs

        if outputs not in ("keep", "drop"):
            raise PartitionsError(f'outputs= must be "keep" or "drop", got {outputs!r}.')
        keys = _key_list(partition_keys, "delete_dynamic_partitions")
        with self.store.partitions.writing() as con:
            result = self.store.partitions.delete(partitions_def_name, keys, source, source_id, con=con)
            if outputs == "drop" and result.deleted:
                drop_partition_outputs(con, partitions_def_name, result.deleted)
        if outputs == "drop" and result.deleted:
            self.store.sweep_value_files()  # only once the delete committed
        return result

    def apply_partitions_request(self, request: AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest,
                                 source: str = "api", source_id: str | None = None) -> AddResult | DeleteResult:
        """Apply an add or delete request (from ``build_add_request`` / ``build_delete_request``)."""
        from nbflow.partitions.dynamic import (
            AddDynamicPartitionsRequest,
            DeleteDynamicPartitionsRequest,
            PartitionsError,
        )

        if isinstance(request, AddDynamicPartitionsRequest):
            return self.add_dynamic_partitions(request.partitions_def_name, request.partition_keys,
                                               source=source, source_id=source_id)
        if isinstance(request, DeleteDynamicPartitionsRequest):
            return self.delete_dynamic_partitions(request.partitions_def_name, request.partition_keys,
                                                  source=source, source_id=source_id)
        raise PartitionsError(
            f"apply_partitions_request takes a request from build_add_request or build_delete_request, "
            f"got {request!r}."
        )

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: object) -> bool:
        if not isinstance(partition_key, str):
            return False
        return self.store.partitions.has(partitions_def_name, partition_key)

    def get_dynamic_partitions(self, partitions_def_name: str) -> list[str]:
        """Every key, in insertion order (an unknown name has none)."""
        return self.store.partitions.keys(partitions_def_name)

    def closest_dynamic_partitions(self, partitions_def_name: str, partition_key: str, n: int = 5) -> list[str]:
        """Up to ``n`` stored keys closest to ``partition_key``, closest first (for error messages)."""
        return self.store.partitions.closest(partitions_def_name, partition_key, n)

    def count_dynamic_partitions(self, partitions_def_name: str) -> int:
        return self.store.partitions.count(partitions_def_name)

    def select_dynamic_partitions(self, partitions_def_name: str, regex: str | None = None,
                                  like: str | None = None) -> list[str]:
        return self.store.partitions.select(partitions_def_name, regex, like)

    def dynamic_partitions_history(self, partitions_def_name: str) -> Any:
        return self.store.partitions.history(partitions_def_name)

    def partition_status(self, partitions_def: DynamicPartitionsDefinition, target: Any = None) -> Any:
        """Status per key of a partitions definition for an asset, a job, or every asset."""
        from nbflow.store import assets
        from nbflow.store.queries import assets_of_partitions

        name = partitions_def.name
        if getattr(target, "is_asset_job", False):
            return assets.asset_status(self.store, name, [a.name for a in target.assets])
        if target is not None and hasattr(target, "nodes"):
            return assets.job_status(self.store, name, target.name)
        if target is None:
            names = assets_of_partitions(self.store, name)
        elif isinstance(target, str):
            names = [target]
        else:
            names = [getattr(target, "name", str(target))]
        return assets.asset_status(self.store, name, names)

    def get_latest_materialization_event(self, asset_key: Any) -> Any:
        """The newest successful materialization of an asset (Dagster's name), or None.

        ``asset_key`` is an :class:`~nbflow.AssetKey`, an asset definition or a name; the
        result has ``run_id``, ``timestamp`` and ``asset_materialization.partition``.
        """
        from nbflow.definitions.assets import AssetKey, AssetMaterialization, EventLogEntry
        from nbflow.store.queries import latest_materialization

        key = asset_key if isinstance(asset_key, AssetKey) else getattr(asset_key, "key", None)
        key = key if key is not None else AssetKey.from_user_string(str(asset_key))
        found = latest_materialization(self.store, key.path[-1])
        if found is None:
            return None
        run_id, partition, ts = found
        return EventLogEntry(run_id, ts, AssetMaterialization(key, partition=partition))

    # -- concurrency pools (Dagster's pools) ------------------------------------------------------
    def set_pool_limit(self, pool: str, limit: int | None) -> None:
        """At most ``limit`` steps of ops in ``pool`` (``@op(pool=...)``) run at once; None removes it.

        The limit is stored, so it holds for every later run on this store, and every run of
        this process shares its slots.

        Examples
        --------
        >>> inst = Instance.ephemeral()
        >>> inst.set_pool_limit("api", 4)
        >>> inst.pool_limits()
        {'api': 4}
        """
        from nbflow.errors import ConfigError

        if not isinstance(pool, str) or not pool:
            raise ConfigError(f"set_pool_limit: the pool must be a non-empty str, got {pool!r}.")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError(f"set_pool_limit: the limit of pool {pool!r} must be an int >= 1 (or None to "
                              f"remove it), got {limit!r}.")
        self.store.set_pool_limit(pool, limit)
        self.pool_slots.limits = self.store.pool_limits()

    def pool_limits(self) -> dict[str, int]:
        """Every pool limit set on this store, ``{pool: limit}``."""
        return self.store.pool_limits()

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its steps, events and outputs (and the tables only it used)."""
        self.store.delete_run(self.store.run_row(run_id)["run_id"])

    def close(self) -> None:
        """Release the store file now (it is reopened on the next use)."""
        self.store.close()

    def __repr__(self) -> str:
        return f"<nbflow Instance {self.path}>"


def instance(path: str | None = None, lock_timeout: float | None = None, trust: bool | None = None) -> Instance:
    """The instance for ``path`` (default: ``$NBFLOW_HOME`` or ``./.nbflow``), one per process.

    ``trust=True`` loads pickled outputs even from a store file that another user owns or
    may write (unpickling runs code from the file); see docs/concepts/runs-and-storage.md.
    """
    resolved = path if path == ":memory:" else os.path.abspath(os.path.expanduser(path or default_store_path()))
    if resolved == ":memory:":
        return Instance.ephemeral()
    with _instances_lock:
        found = _instances.get(resolved)
        if found is None:
            found = _instances[resolved] = Instance(resolved, lock_timeout, trust=bool(trust))
        else:
            if lock_timeout is not None:
                from nbflow.store.connection import check_lock_timeout

                found.store.holder.lock_timeout = check_lock_timeout(lock_timeout)
            if trust is not None:
                found.store.holder.trust = bool(trust)
        return found


def code_version(op_def: Any) -> str:
    """A short hash of an op's code, so stored steps show which code produced them and a
    rerun keeps a finished step only while its op's code is unchanged.

    The hash is of the op's syntax tree without docstrings: editing a comment, a docstring,
    blank lines or the layout keeps it; a change to what the code does changes it. Without a
    parsable source (an op made by ``exec``), the hash is of the compiled code.
    """
    try:
        source = inspect.getsource(op_def.fn)
    except Exception:  # no source file, or a file that is not this code
        source = ""
    text = _syntax_without_docstrings(source) if source else None
    if text is None:
        text = _compiled_text(inspect.unwrap(op_def.fn).__code__)  # the user's body, not a wrapper
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _syntax_without_docstrings(source: str) -> str | None:
    """The syntax tree of ``source`` as text, docstrings removed (comments and layout are not
    in it); None if it does not parse (a source file that is not the code)."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(source))  # a method's or nested function's source is indented
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)  # without line and column numbers


def _compiled_text(code: Any) -> str:
    """The instructions, constants and names of ``code`` and of the code nested in it (whose
    repr would name a memory address, different in every process)."""
    consts = tuple(_compiled_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts)
    return repr((code.co_code, consts, code.co_names))


def check_partition(inst: Instance, job: Any, partition_key: str | None) -> None:
    """A partitioned job needs a known key; an unpartitioned one takes none."""
    from nbflow.errors import UnknownPartitionError, closest_first
    from nbflow.partitions.dynamic import PartitionsError
    from nbflow.partitions.keys import validate_key

    pdef = job.partitions_def
    if pdef is None:
        if partition_key is not None:
            raise PartitionsError(
                f"Job '{job.name}' is not partitioned, so it takes no partition_key "
                f"(got {partition_key!r}). Give the job partitions_def=... to partition it."
            )
        return
    if partition_key is None:
        raise PartitionsError(
            f"Job '{job.name}' is partitioned by '{pdef.name}': pass partition_key=... "
            f"(one of its {inst.count_dynamic_partitions(pdef.name)} keys)."
        )
    validate_key(partition_key, "partition key")
    if not inst.has_dynamic_partition(pdef.name, partition_key):
        raise UnknownPartitionError(
            f"Could not find a partition with key {partition_key!r} in DynamicPartitionsDefinition "
            f"'{pdef.name}'. Add it first with .add([...]) on the definition, or "
            f"instance.add_dynamic_partitions({pdef.name!r}, [...]). "
            f"{closest_first(inst.closest_dynamic_partitions(pdef.name, partition_key))}"
        )


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
    queued_run_id: str | None = None,
    observer: Any = None,
    executor: Any = None,
    background: bool = False,
    wait: bool = True,
) -> Run:
    """Validate, run and store one run of ``job``; return its :class:`~nbflow.Run`.

    For a rerun, ``parent`` is the parent's run record and ``resume`` says which steps
    execute; the rest is copied from the parent when the run starts. ``queued_run_id``
    starts a run that a sensor tick recorded as QUEUED. ``observer`` (a live view) is
    told about the run as it progresses: ``on_start(run_id, instance, started)`` with the
    :class:`~nbflow.execution.events.RunStarted` record, then ``on_step``, ``on_item`` and
    ``on_reused`` (see :class:`~nbflow.execution.events.ObservedSink`), then ``on_finish(status)``.

    ``executor`` picks where steps run (see :mod:`nbflow.definitions.executors`). With
    ``background=True`` the run is coordinated by a thread of its own, so the caller can
    follow, wait for or cancel it (``wait=False`` returns at once).
    """
    inst = instance_ if instance_ is not None else instance()
    request = LaunchRequest(job, dict(run_config or {}), dict(tags or {}), partition_key, backend, parent,
                            resume, queued_run_id, observer, executor)
    prepared = _prepare(inst, request)
    if background:
        return _run_in_background(prepared, wait, raise_on_error)
    return _run_here(prepared, raise_on_error)


@dataclass(frozen=True)
class LaunchRequest:
    """What a launch was asked to run, before anything is checked."""

    job: Any
    run_config: dict[str, Any]
    tags: dict[str, Any]
    partition_key: str | None = None
    backend: Any = None
    parent: dict[str, Any] | None = None  # a rerun's parent run record
    resume: Any = None  # a rerun's Resume: which steps execute
    queued_run_id: str | None = None
    observer: Any = None
    executor: Any = None


@dataclass(frozen=True)
class RunSetup:
    """A launch checked and resolved: the job to run with its config, where, and its lineage."""

    job: Any
    configs: dict[str, Any]  # resolved config per op
    run_config: dict[str, Any]  # as stored: the job's defaults merged with what was passed
    executor_def: Any
    backend: Any
    request: LaunchRequest


def _run_here(prepared: PreparedRun, raise_on_error: bool) -> Run:
    from nbflow.runtime.run import Run

    outcome = prepared.run_here()
    run = Run(prepared.instance, prepared.run_id, job=prepared.job, outcome=outcome)
    _raise_if_failed(run, outcome, raise_on_error)
    return run


def _run_in_background(prepared: PreparedRun, wait: bool, raise_on_error: bool) -> Run:
    from nbflow.runtime.background import Execution
    from nbflow.runtime.run import Run

    run = Run(prepared.instance, prepared.run_id, job=prepared.job)
    run._execution = Execution(prepared, run)
    run._execution.start()
    if wait:
        run.wait()
        _raise_if_failed(run, run._outcome, raise_on_error)
    return run


def _raise_if_failed(run: Any, outcome: Any, raise_on_error: bool) -> None:
    if outcome is None or outcome.status in (Status.SUCCESS, Status.CANCELED) or not raise_on_error:
        return
    raise run_failure(run._job.name, outcome.failed, outcome.exceptions,
                      f"The run is stored in {run.instance.path}: instance.get_run({run.run_id!r}).steps() "
                      "shows the tracebacks.")


class PreparedRun:
    """A run validated, recorded as started, with its executor built: ready to execute."""

    def __init__(self, instance: Instance, job: Any, run_id: str, executor: Any, observer: Any) -> None:
        self.instance, self.job, self.run_id = instance, job, run_id
        self.executor, self.observer = executor, observer

    def run_here(self) -> Any:
        """Execute in the calling thread; return the executor's outcome."""
        inst, run_id, observer = self.instance, self.run_id, self.observer
        try:
            outcome = self.executor.execute()
        except KeyboardInterrupt:
            inst.store.finish_run(run_id)  # recorded as CANCELED by the executor
            if observer is not None:
                _tell(observer.on_finish, Status.CANCELED.value)
            raise
        except BaseException as exc:  # nbflow's own failure, not a step's: never leave it STARTED
            inst.store.mark_failed(run_id, f"The run stopped on an internal error: {type(exc).__name__}: {exc}")
            if observer is not None:
                _tell(observer.on_finish, Status.FAILURE.value)
            raise
        if outcome.status == Status.CANCELED:
            inst.store.finish_run(run_id)
        if observer is not None:
            _tell(observer.on_finish, outcome.status)
        return outcome


def _prepare(inst: Instance, request: LaunchRequest) -> PreparedRun:
    from nbflow.definitions.config import resolve_run_config, with_config_inputs
    from nbflow.definitions.executors import execution_config_of, resolve_executor
    from nbflow.execution.backends import make_backend

    job = request.job.with_latest_ops()  # an op redefined in a cell since the job was built: run the new code
    merged = {**job.default_run_config, **request.run_config}
    job = with_config_inputs(job, merged)  # run_config {"ops": {op: {"inputs": ...}}}
    configs = resolve_run_config(job, merged)  # raises before anything is stored or run
    executor_def = resolve_executor(getattr(job, "executor_def", None), request.executor,
                                    execution_config_of(merged))
    check_partition(inst, job, request.partition_key)
    backend = request.backend or make_backend(executor_def)
    backend.start()  # a cluster that cannot be reached says so before a run is recorded
    try:
        return _record_start(inst, RunSetup(job, configs, merged, executor_def, backend, request))
    except BaseException:
        backend.shutdown()
        raise


def _record_start(inst: Instance, setup: RunSetup) -> PreparedRun:
    """Record the run as started (for a rerun, with what it copies from its parent), tell the
    observer, and build the executor that will run it."""
    from nbflow.execution.events import ObservedSink, RunStarted
    from nbflow.execution.limits import Limits
    from nbflow.viz.shape import shape_of, shape_to_json, topology_of

    inst.pool_slots.limits = inst.store.pool_limits()
    limits = Limits(setup.executor_def.tag_concurrency_limits, inst.pool_slots)
    request, job = setup.request, setup.job
    run_id = request.queued_run_id or str(uuid.uuid4())
    shape = shape_of(job)  # built once: stored as JSON, and handed to the observer as it is
    started = RunStarted(run_id, job.name, time.time(), request.parent["run_id"] if request.parent else None,
                         shape, topology_of(job), copies_from_parent=request.resume is not None)
    writer: EventSink = inst.store.writer(run_id)
    if request.observer is not None:
        writer = ObservedSink(writer, request.observer)
    writer.run_started(_run_info(setup, started, shape_to_json(shape)))
    if request.observer is not None:
        _tell(request.observer.on_start, run_id, inst, started)
    return PreparedRun(inst, job, run_id, _executor(setup, run_id, writer, limits), request.observer)


def _run_info(setup: RunSetup, started: RunStarted, graph: str) -> dict[str, Any]:
    """The run's row as the store's writer takes it."""
    request, job = setup.request, setup.job
    parent = request.parent
    return {
        "run_id": started.run_id, "job_name": job.name, "status": Status.STARTED.value,
        "tags": {**job.tags, **{str(k): str(v) for k, v in request.tags.items()}},
        "run_config": setup.run_config, "partition_key": request.partition_key, "start": started.start,
        "backend": setup.backend.name, "pid": os.getpid(), "hostname": socket.gethostname(),
        "parent_run_id": started.parent_run_id, "root_run_id": parent["root_run_id"] if parent else None,
        "reuse": (request.resume.executed, job.nodes) if request.resume is not None else None,
        "partitions_def": job.partitions_def.name if job.partitions_def is not None else None,
        "assets": [n for n, node in job.nodes.items() if getattr(node.op, "is_asset", False)],
        "queued": request.queued_run_id is not None,
        "graph": graph,
    }


def _executor(setup: RunSetup, run_id: str, writer: EventSink, limits: Limits) -> Executor:
    from nbflow.execution.executor import Executor

    versions = {name: code_version(node.op) for name, node in setup.job.nodes.items()}
    return Executor(setup.job, run_id, setup.configs, writer, setup.backend, setup.request.partition_key,
                    setup.run_config, versions, setup.request.resume, limits=limits,
                    retries_enabled=setup.executor_def.retries_enabled)
