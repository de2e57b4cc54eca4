"""Executor definitions: where a job's steps run, with Dagster's names and config.

An executor definition is pure data -- a name plus a checked config -- chosen per job
(``@job(executor_def=...)``), per run (``job.run(executor=...)``) or in run config
(``{"execution": {"config": {...}}}``). The execution layer turns it into a back end
when a run starts; nothing here imports a pool, a process or Dask.

Examples
--------
>>> threads = thread_executor.configured({"max_concurrent": 8})
>>> threads.config["max_concurrent"]
8
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nbflow.errors import ConfigError

START_METHODS = ("forkserver", "spawn", "fork")
_TAG_LIMIT_KEYS = {"key", "value", "limit"}


def _cpu_count() -> int:
    return os.cpu_count() or 1


class ExecutorDefinition:
    """A named way to run steps, with its config (see the module doc).

    Parameters
    ----------
    name:
        ``in_process``, ``thread``, ``multiprocess`` or ``dask``.
    config:
        The executor's settings; unknown keys and wrong types are refused.
    """

    name: str

    def __init__(self, name: str, config: Mapping[str, Any] | None = None) -> None:
        if name not in _DEFAULTS:
            raise ConfigError(f"Unknown executor {name!r}; the executors are {sorted(_DEFAULTS)}.")
        self.name = name
        self.config = _check_config(name, {**_DEFAULTS[name](), **dict(config or {})})

    def configured(self, config: Mapping[str, Any], name: str | None = None) -> ExecutorDefinition:
        """A copy of this executor with ``config`` merged over its settings (Dagster's ``configured``)."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"{self.name}_executor.configured() takes a dict of settings, got {config!r}.")
        return ExecutorDefinition(self.name, {**self.config, **config})

    @property
    def tag_concurrency_limits(self) -> list[dict[str, Any]]:
        return list(self.config.get("tag_concurrency_limits") or [])

    @property
    def retries_enabled(self) -> bool:
        return "disabled" not in (self.config.get("retries") or {"enabled": {}})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutorDefinition) and (self.name, self.config) == (other.name, other.config)

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.config.items() if k != "client"}
        return f"{self.name}_executor.configured({shown!r})"


def _common() -> dict[str, Any]:
    return {"tag_concurrency_limits": [], "retries": {"enabled": {}}}


_DEFAULTS = {
    "in_process": lambda: {**_common(), "max_concurrent": 32},
    "thread": lambda: {**_common(), "max_concurrent": 32},
    "multiprocess": lambda: {**_common(), "max_concurrent": _cpu_count(), "start_method": "forkserver"},
    "dask": lambda: {**_common(), "cluster": {"local": {}}, "batch_size": None, "client": None},
}

_DOC = {
    "max_concurrent": "how many steps run at once (an int >= 1)",
    "start_method": f"how worker processes start: one of {list(START_METHODS)}",
    "tag_concurrency_limits": 'limits per op tag: [{"key": "dagster/concurrency_key", "value": "api", "limit": 4}]',
    "retries": 'retry policies on or off: {"enabled": {}} or {"disabled": {}}',
    "cluster": 'where Dask runs: {"existing": {"address": "tcp://..."}} or {"local": {LocalCluster arguments}}',
    "batch_size": "how many mapped steps go to Dask in one task (None: chosen per run)",
    "client": "a distributed.Client to run on",
}


def _check_config(name: str, config: dict[str, Any]) -> dict[str, Any]:
    allowed = set(_DEFAULTS[name]())
    unknown = sorted(set(config) - allowed)
    if unknown:
        known = "; ".join(f"{k}: {_DOC[k]}" for k in sorted(allowed))
        raise ConfigError(f"{name}_executor has no setting {unknown[0]!r}. Its settings are -- {known}.")
    if "max_concurrent" in config:
        value = config["max_concurrent"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}_executor: max_concurrent must be an int >= 1, got {value!r}.")
    if "start_method" in config:
        config["start_method"] = _start_method(config["start_method"])
    if "batch_size" in config and config["batch_size"] is not None:
        size = config["batch_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"dask_executor: batch_size must be an int >= 1 or None, got {size!r}.")
    config["tag_concurrency_limits"] = _tag_limits(name, config["tag_concurrency_limits"])
    retries = config["retries"]
    if not isinstance(retries, Mapping) or set(retries) - {"enabled", "disabled"} or len(retries) != 1:
        raise ConfigError(f'{name}_executor: retries must be {{"enabled": {{}}}} or {{"disabled": {{}}}}, got {retries!r}.')
    if name == "dask":
        _check_cluster(config["cluster"])
    return config


def _start_method(value: Any) -> str:
    # Dagster writes {"spawn": {}} / {"forkserver": {...}}; a plain name is accepted too.
    if isinstance(value, Mapping) and len(value) == 1:
        value = next(iter(value))
    if value not in START_METHODS:
        raise ConfigError(f"multiprocess_executor: start_method must be one of {list(START_METHODS)}, got {value!r}.")
    return str(value)


def _tag_limits(name: str, limits: Any) -> list[dict[str, Any]]:
    if limits is None:
        return []
    if not isinstance(limits, list | tuple):
        raise ConfigError(f"{name}_executor: tag_concurrency_limits must be a list, got {limits!r}. {_DOC['tag_concurrency_limits']}.")
    checked = []
    for entry in limits:
        if not isinstance(entry, Mapping) or "key" not in entry or "limit" not in entry or set(entry) - _TAG_LIMIT_KEYS:
            raise ConfigError(
                f"{name}_executor: each tag_concurrency_limits entry needs 'key' and 'limit' (and may have "
                f"'value'), got {entry!r}."
            )
        limit = entry["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"{name}_executor: a tag concurrency limit must be an int >= 1, got {limit!r}.")
        checked.append(dict(entry))
    return checked


def _check_cluster(cluster: Any) -> None:
    if not isinstance(cluster, Mapping) or len(cluster) != 1 or next(iter(cluster)) not in ("existing", "local"):
        raise ConfigError(f"dask_executor: cluster must be {_DOC['cluster']}; got {cluster!r}.")
    kind, settings = next(iter(cluster.items()))
    if not isinstance(settings, Mapping):
        raise ConfigError(f"dask_executor: cluster.{kind} must be a dict, got {settings!r}.")
    if kind == "existing" and not isinstance(settings.get("address"), str):
        raise ConfigError('dask_executor: cluster.existing needs an "address", e.g. "tcp://127.0.0.1:8786".')


in_process_executor = ExecutorDefinition("in_process")
"""Steps run one at a time in the process that runs the job (``async def`` ops run concurrently)."""

thread_executor = ExecutorDefinition("thread")
"""Steps run in a pool of threads of this process: for I/O-bound ops. ``max_concurrent`` (32)."""

multiprocess_executor = ExecutorDefinition("multiprocess")
"""Steps run in a pool of worker processes: for CPU-bound ops. ``max_concurrent`` (CPU count), ``start_method``."""

dask_executor = ExecutorDefinition("dask")
"""Steps run on a Dask cluster (``pip install "nbflow[dask]"``)."""

EXECUTORS: dict[str, ExecutorDefinition] = {
    "in_process": in_process_executor, "thread": thread_executor,
    "multiprocess": multiprocess_executor, "dask": dask_executor,
}


def resolve_executor(job_executor: Any, run_executor: Any, execution_config: Any) -> ExecutorDefinition:
    """The executor of one run: ``run(executor=)``, else the job's, else in-process; then run config.

    ``execution_config`` is ``run_config["execution"]["config"]``: either settings of the chosen
    executor, or one executor name with its settings (``{"multiprocess": {"max_concurrent": 4}}``).
    """
    chosen = _as_definition(run_executor) if run_executor is not None else _as_definition(job_executor)
    if execution_config is None:
        return chosen
    if not isinstance(execution_config, Mapping):
        raise ConfigError(f'run_config["execution"]["config"] must be a dict, got {execution_config!r}.')
    if len(execution_config) == 1 and next(iter(execution_config)) in EXECUTORS:
        chosen_name, settings = next(iter(execution_config.items()))
        return EXECUTORS[chosen_name].configured(settings or {})
    return chosen.configured(execution_config)


def _as_definition(value: Any) -> ExecutorDefinition:
    if value is None:
        return in_process_executor
    if isinstance(value, ExecutorDefinition):
        return value
    if isinstance(value, str):
        if value not in EXECUTORS:
            raise ConfigError(f"Unknown executor {value!r}; use one of {sorted(EXECUTORS)} or an executor definition.")
        return EXECUTORS[value]
    if type(value).__name__ == "Client" and type(value).__module__.startswith("distributed"):
        return dask_executor.configured({"client": value})
    raise ConfigError(
        f"executor= takes an executor definition (nf.thread_executor, nf.multiprocess_executor, "
        f"nf.dask_executor, nf.in_process_executor, or one of them .configured({{...}})), its name, "
        f"or a distributed.Client; got {value!r}."
    )


def execution_config_of(run_config: Mapping[str, Any] | None) -> Any:
    """``run_config["execution"]["config"]`` (or None), checking the shape on the way."""
    if not run_config or "execution" not in run_config:
        return None
    execution = run_config["execution"]
    if not isinstance(execution, Mapping) or set(execution) - {"config"}:
        raise ConfigError(f'run_config["execution"] must be {{"config": {{...}}}}, got {execution!r}.')
    return execution.get("config")
