"""``@sensor`` and the sensor definition: a function that looks at the world and asks for runs.

Defining a sensor runs nothing and touches no store. Redefining a sensor (a cell run
again) replaces the old definition by name; a sensor already running in the
background picks up the new function at its next tick.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from nbflow import hooks
from nbflow._state import STATE
from nbflow.sensors.results import SensorDefinitionError

if TYPE_CHECKING:
    from nbflow.definitions.assets import UnresolvedAssetJob
    from nbflow.definitions.graph import JobDefinition
    from nbflow.sensors.context import SensorEvaluationContext
    from nbflow.sensors.evaluate import SensorEvaluation

DEFAULT_INTERVAL = 30
DEFAULT_MAX_FAILURES = 5

SENSORS: dict[str, SensorDefinition] = STATE.sensors


class DefaultSensorStatus(enum.Enum):
    """Whether ``python -m nbflow sensors run`` starts a sensor without being told to."""

    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class SensorDefinition:
    """A sensor: evaluate it, tick it (apply its result), preview it, run it in the background.

    Every method that touches a store takes ``instance=``; without it the default
    instance (``nbflow.instance()``) is used.

    Examples
    --------
    >>> import nbflow as nf
    >>> @nf.sensor(minimum_interval_seconds=60)
    ... def quiet(context):
    ...     return nf.SkipReason("nothing new")
    >>> quiet.name, quiet.minimum_interval_seconds
    ('quiet', 60)
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        jobs: Sequence[Any] = (),
        minimum_interval_seconds: float | None = None,
        default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
        description: str | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_FAILURES,
    ) -> None:
        from nbflow.partitions.keys import validate_key

        self.fn = fn
        self.name = validate_key(name or fn.__name__, "sensor name")
        self._jobs = list(jobs)
        self._job_name: str | None = None  # a job named before it is defined: looked up at use
        self.tags: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}
        self.owners: list[str] = []
        interval = DEFAULT_INTERVAL if minimum_interval_seconds is None else minimum_interval_seconds
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
            raise SensorDefinitionError(
                f"minimum_interval_seconds must be a positive number of seconds, got {interval!r}."
            )
        if not isinstance(max_consecutive_failures, int) or max_consecutive_failures < 1:
            raise SensorDefinitionError(
                f"max_consecutive_failures must be an int of at least 1, got {max_consecutive_failures!r}."
            )
        self.minimum_interval_seconds = interval
        self.default_status = DefaultSensorStatus(default_status)
        self.description = description or (fn.__doc__ or "").strip() or None
        self.max_consecutive_failures = max_consecutive_failures

    @property
    def jobs(self) -> list[Any]:
        """The jobs the sensor's run requests launch (a ``job_name=`` is looked up now)."""
        if self._job_name is not None and not self._jobs:
            from nbflow.definitions.graph import JOBS

            return [JOBS[self._job_name]] if self._job_name in JOBS else []
        return self._jobs

    @property
    def job_name(self) -> str | None:
        """The name of the one job the sensor targets (Dagster's ``job_name``)."""
        if self._job_name is not None:
            return self._job_name
        return self._jobs[0].name if len(self._jobs) == 1 else None

    @property
    def job(self) -> Any:
        jobs = self.jobs
        if len(jobs) != 1:
            raise SensorDefinitionError(f"Sensor {self.name} targets {len(jobs)} jobs; use .jobs.")
        return jobs[0]

    # -- evaluation (no store writes) -------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly and get its raw return value (as in Dagster)."""
        from nbflow.sensors.evaluate import context_param

        param = context_param(self.fn)
        if param is None:
            if args or kwargs:
                raise _invocation_error(
                    "Sensor decorated function has no arguments, but arguments were provided to invocation."
                )
            return self.fn()
        if args and kwargs:
            raise _invocation_error(
                "Sensor invocation received multiple non-resource arguments. Only a first positional "
                "context parameter should be provided when invoking."
            )
        if kwargs:
            if set(kwargs) != {param}:
                raise _invocation_error(f"Sensor invocation expected argument '{param}'.")
            context = kwargs[param]
        elif len(args) == 1:
            context = args[0]
        elif not args:
            raise _invocation_error(
                "Sensor evaluation function expected context argument, but no context argument was "
                "provided when invoking."
            )
        else:
            raise _invocation_error(
                "Sensor invocation received multiple non-resource arguments. Only a first positional "
                "context parameter should be provided when invoking."
            )
        if context is None:
            from nbflow.sensors.context import build_sensor_context

            context = build_sensor_context(sensor_name=self.name)
        return self.fn(context)

    def evaluate(self, context: SensorEvaluationContext | None = None) -> SensorEvaluation:
        """Evaluate once and resolve the result, applying nothing (Dagster's ``evaluate_tick``).

        Without ``context``, the sensor sees the default instance (``nbflow.instance()``) and its
        stored cursor is not used; pass ``build_sensor_context(instance=..., cursor=...)`` to choose.
        """
        from nbflow.sensors.context import build_sensor_context
        from nbflow.sensors.evaluate import evaluate

        if context is None:  # nbflow's shortcut: evaluate against the default instance, as a tick would
            context = build_sensor_context(instance=_instance(None), sensor_name=self.name)
        if context.sensor_name is None:
            context.sensor_name = self.name
        evaluation = evaluate(self, context)
        if context._instance is not None:  # a tick checks this itself, against the store it applies to
            _check_partition_keys(self, evaluation, context._instance)
        return evaluation

    evaluate_tick = evaluate

    def job_named(self, name: str | None) -> Any:
        if name is None:
            return self.jobs[0]
        return next(job for job in self.jobs if job.name == name)

    def job_for(self, job_name: str | None, asset_selection: list[str] | None = None) -> Any:
        """The job a run request launches: ``job_name``'s, narrowed to ``asset_selection``."""
        job = self.job_named(job_name)
        if asset_selection is not None:
            job = job.select_assets(asset_selection)
        return job

    # -- ticks (apply to a store) ----------------------------------------------------------------
    def tick(self, instance: Any = None, execute: bool = True, context: Any = None) -> Any:
        """Evaluate once and apply the result in one transaction; then execute the runs it launched.

        Returns a :class:`~nbflow.runtime.ticks.Tick`. A sensor that raises gives a FAILURE tick
        (with the traceback) instead of an exception; the cursor stays where it was.
        ``execute=False`` leaves the launched runs QUEUED.
        """
        return hooks.runtime().tick_sensor(self, instance, context, execute)

    def preview(self, cursor: Any = ..., instance: Any = None) -> Any:
        """What a tick would do now (or from ``cursor``), applying nothing."""
        return hooks.runtime().preview_sensor(self, instance, cursor)

    def ticks(self, limit: int | None = 100, status: str | None = None, instance: Any = None) -> Any:
        """Tick history, newest first, as a DataFrame."""
        return _instance(instance).store.sensors.ticks(self.name, limit, status)

    def runs(self, instance: Any = None, limit: int | None = 100) -> Any:
        """Runs this sensor launched, newest first."""
        import json

        runs = _instance(instance).runs(limit=None)
        tags = [json.loads(t) if isinstance(t, str) else (t or {}) for t in runs.tags]
        mine = runs[[t.get("nbflow/sensor_name") == self.name for t in tags]]
        return mine.head(limit) if limit else mine

    # -- cursor and run keys ---------------------------------------------------------------------
    def get_cursor(self, instance: Any = None) -> str | None:
        """The stored cursor (None before the first tick that set one)."""
        return cast("str | None", _instance(instance).store.sensors.state(self.name).cursor)

    cursor = property(get_cursor)

    def set_cursor(self, value: str | None, instance: Any = None) -> None:
        """Store a new cursor now (kept in the cursor history)."""
        from nbflow.sensors.results import check_str

        check_str(value, "cursor")
        _instance(instance).store.sensors.set_cursor(self.name, value, "set")

    def reset_cursor(self, instance: Any = None) -> None:
        """Forget the cursor: the next tick sees ``context.cursor is None``. Run keys are kept."""
        _instance(instance).store.sensors.set_cursor(self.name, None, "reset")

    def cursor_history(self, instance: Any = None) -> Any:
        return _instance(instance).store.sensors.cursor_history(self.name)

    def run_keys(self, instance: Any = None) -> Any:
        """Run keys that launched runs (a request with one of them is skipped), oldest first."""
        return _instance(instance).store.sensors.run_keys(self.name)

    def forget_run_keys(self, keys: Sequence[str] | None = None, instance: Any = None) -> int:
        """Allow requests with these run keys (all when None) to launch again; returns how many."""
        if isinstance(keys, str):
            raise SensorDefinitionError(f"forget_run_keys takes a list of run keys: pass [{keys!r}].")
        return cast(int, _instance(instance).store.sensors.forget_run_keys(self.name, None if keys is None else list(keys)))

    # -- background --------------------------------------------------------------------------------
    def start(self, instance: Any = None) -> SensorDefinition:
        """Tick every ``minimum_interval_seconds`` in a background thread of this process."""
        hooks.runtime().start_sensor(self, instance)
        return self

    def stop(self, instance: Any = None, timeout: float = 10.0) -> SensorDefinition:
        """Stop the background ticks (waits for a tick in progress, up to ``timeout``)."""
        hooks.runtime().stop_sensor(self.name, instance, timeout)
        return self

    def get_status(self, instance: Any = None) -> str:
        """``running``, ``stopped`` or ``paused`` (see ``paused_reason``)."""
        return hooks.runtime().sensor_status(self.name, instance)[0]

    status = property(get_status)

    @property
    def paused_reason(self) -> str | None:
        return cast("str | None", _instance(None).store.sensors.state(self.name).reason)

    def __repr__(self) -> str:
        jobs = ", ".join(job.name for job in self.jobs) or "no job"
        return f"<sensor {self.name} -> {jobs}, every {self.minimum_interval_seconds:g}s>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """A SensorView in a notebook kernel, a static table elsewhere (plain text without widgets)."""
        return hooks.mimebundle(self, {"text/plain": repr(self)})

    def _display_(self) -> Any:
        """marimo's display protocol: the sensor as a SensorView."""
        return hooks.widget(self)


def _instance(instance: Any) -> Any:
    """``instance``, or the default one when None."""
    return hooks.runtime().instance(instance)


def _check_partition_keys(sensor: SensorDefinition, evaluation: Any, instance: Any) -> None:
    """Dagster's ``evaluate_tick`` refuses a request for a partition that does not exist;
    keys this evaluation adds count as existing (they will when a tick applies it)."""
    from nbflow.errors import UnknownPartitionError, closest_first
    from nbflow.partitions.dynamic import AddDynamicPartitionsRequest, DeleteDynamicPartitionsRequest

    added: dict[str, set[str]] = {}
    deleted: dict[str, set[str]] = {}
    for request in evaluation.dynamic_partitions_requests:
        into = added if isinstance(request, AddDynamicPartitionsRequest) else deleted
        if isinstance(request, AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest):
            into.setdefault(request.partitions_def_name, set()).update(request.partition_keys)
    for request in evaluation.run_requests:
        pdef = getattr(sensor.job_named(request.job_name), "partitions_def", None)
        key = request.partition_key
        if pdef is None or key is None or key in added.get(pdef.name, ()):
            continue
        if key in deleted.get(pdef.name, ()) or not instance.has_dynamic_partition(pdef.name, key):
            raise UnknownPartitionError(
                f"Could not find a partition with key {key!r} in DynamicPartitionsDefinition "
                f"'{pdef.name}' for a RunRequest of sensor {sensor.name}. Add it beforehand, or in the "
                "same SensorResult: dynamic_partitions_requests=[partitions_def.build_add_request([...])]. "
                f"{closest_first(instance.closest_dynamic_partitions(pdef.name, key))}"
            )


def _is_job(target: Any) -> bool:
    from nbflow.definitions.assets import UnresolvedAssetJob

    return isinstance(target, UnresolvedAssetJob) or (hasattr(target, "nodes") and hasattr(target, "name"))


def _invocation_error(message: str) -> Exception:
    from nbflow.errors import DagsterInvalidInvocationError

    return DagsterInvalidInvocationError(message)


def _asset_job(sensor_name: str, selection: Any) -> Any:
    """The job an ``asset_selection=`` sensor launches: its assets, as one asset job."""
    from nbflow.definitions.assets import define_asset_job

    return define_asset_job(f"__asset_job_{sensor_name}", selection)


def sensor(
    job_name: str | None = None,
    *,
    name: str | None = None,
    minimum_interval_seconds: float | None = None,
    description: str | None = None,
    job: JobDefinition | UnresolvedAssetJob | None = None,
    jobs: Sequence[JobDefinition | UnresolvedAssetJob] | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    asset_selection: Any = None,
    required_resource_keys: Any = None,
    tags: Any = None,
    metadata: Any = None,
    target: Any = None,
    owners: Any = None,
    max_consecutive_failures: int = DEFAULT_MAX_FAILURES,
) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """Define a sensor; ``job`` / ``jobs`` are what its run requests launch.

    Examples
    --------
    >>> import nbflow as nf
    >>> @nf.op
    ... def hello():
    ...     return 1
    >>> @nf.job
    ... def hello_job():
    ...     hello()
    >>> @nf.sensor(job=hello_job, minimum_interval_seconds=5)
    ... def every_time(context):
    ...     return nf.RunRequest(run_key=None)
    >>> every_time
    <sensor every_time -> hello_job, every 5s>
    """
    if callable(job_name) and not isinstance(job_name, str):
        raise SensorDefinitionError("Use @sensor(...) with parentheses, e.g. @sensor(job=my_job).")
    from nbflow.errors import unsupported

    given = [k for k, v in (("job_name", job_name), ("job", job), ("jobs", jobs),
                            ("asset_selection", asset_selection), ("target", target)) if v is not None]
    if len(given) > 1:
        raise SensorDefinitionError(f"Give @sensor either {given[0]}= or {given[1]}=, not both.")
    if required_resource_keys:
        raise unsupported("@sensor", "required_resource_keys", "nbflow sensors have no resources: "
                          "use module-level objects in the sensor body instead.")
    if target is not None:  # Dagster's newer spelling: a job, or assets to materialize
        if _is_job(target):
            job = target
        else:
            asset_selection = target
    targets = list(jobs) if jobs is not None else ([job] if job is not None else [])
    for one in targets:
        if not _is_job(one):
            raise SensorDefinitionError(
                f"@sensor(job=...) takes a job defined with @job or define_asset_job, got {one!r}."
            )
    if job_name is not None and not isinstance(job_name, str):
        raise SensorDefinitionError(f"@sensor(job_name=...) takes a job's name (a str), got {job_name!r}.")

    def decorate(fn: Callable[..., Any]) -> SensorDefinition:
        sensor_name = name or fn.__name__
        found = targets or ([_asset_job(sensor_name, asset_selection)] if asset_selection is not None else [])
        definition = SensorDefinition(fn, name, found, minimum_interval_seconds, default_status,
                                      description, max_consecutive_failures)
        definition._job_name = job_name
        definition.tags = dict(tags or {})
        definition.metadata = dict(metadata or {})
        definition.owners = list(owners or [])
        SENSORS[definition.name] = definition
        return definition

    return decorate
