"""``@sensor`` and the sensor definition: a function that looks at the world and asks for runs.

Defining a sensor runs nothing and touches no store. Redefining a sensor (a cell run
again) replaces the old definition by name; a sensor already running in the
background picks up the new function at its next tick.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from nbflow.sensors.results import SensorDefinitionError

DEFAULT_INTERVAL = 30
DEFAULT_MAX_FAILURES = 5

SENSORS: dict[str, SensorDefinition] = {}


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
        self.jobs = list(jobs)
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

    # -- evaluation (no store writes) -------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly and get its raw return value (as in Dagster)."""
        if not args and not kwargs:
            from nbflow.sensors.context import build_sensor_context

            args = (build_sensor_context(sensor_name=self.name),)
        from nbflow.sensors.evaluate import call_sensor_fn

        return call_sensor_fn(self.fn, args[0]) if args else self.fn(**kwargs)

    def evaluate(self, context: Any = None) -> Any:
        """Evaluate once and resolve the result, applying nothing (Dagster's ``evaluate_tick``)."""
        from nbflow.sensors.context import build_sensor_context
        from nbflow.sensors.evaluate import evaluate

        context = context if context is not None else build_sensor_context(sensor_name=self.name)
        if context.sensor_name is None:
            context.sensor_name = self.name
        return evaluate(self, context)

    evaluate_tick = evaluate

    def job_named(self, name: str | None) -> Any:
        if name is None:
            return self.jobs[0]
        return next(job for job in self.jobs if job.name == name)

    # -- ticks (apply to a store) ----------------------------------------------------------------
    def tick(self, instance: Any = None, execute: bool = True, context: Any = None) -> Any:
        """Evaluate once and apply the result in one transaction; then execute the runs it launched.

        Returns a :class:`~nbflow.sensors.tick.Tick`. A sensor that raises gives a FAILURE tick
        (with the traceback) instead of an exception; the cursor stays where it was.
        ``execute=False`` leaves the launched runs QUEUED.
        """
        from nbflow.sensors.tick import run_tick

        return run_tick(self, _instance(instance), context=context, execute=execute)

    def preview(self, cursor: Any = ..., instance: Any = None) -> Any:
        """What a tick would do now (or from ``cursor``), applying nothing."""
        from nbflow.sensors.tick import preview

        return preview(self, _instance(instance), cursor)

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
        return _instance(instance).store.sensors.state(self.name).cursor

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
        return _instance(instance).store.sensors.forget_run_keys(self.name, None if keys is None else list(keys))

    # -- background --------------------------------------------------------------------------------
    def start(self, instance: Any = None) -> SensorDefinition:
        """Tick every ``minimum_interval_seconds`` in a background thread of this process."""
        from nbflow.sensors.runner import start

        start(self, _instance(instance))
        return self

    def stop(self, instance: Any = None, timeout: float = 10.0) -> SensorDefinition:
        """Stop the background ticks (waits for a tick in progress, up to ``timeout``)."""
        from nbflow.sensors.runner import stop

        stop(self.name, _instance(instance), timeout)
        return self

    def get_status(self, instance: Any = None) -> str:
        """``running``, ``stopped`` or ``paused`` (see ``paused_reason``)."""
        from nbflow.sensors.runner import status

        return status(self.name, _instance(instance))[0]

    status = property(get_status)

    @property
    def paused_reason(self) -> str | None:
        return _instance(None).store.sensors.state(self.name).reason

    def __repr__(self) -> str:
        jobs = ", ".join(job.name for job in self.jobs) or "no job"
        return f"<sensor {self.name} -> {jobs}, every {self.minimum_interval_seconds:g}s>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from nbflow.sensors.display import sensor_bundle

        return sensor_bundle(self)


def _instance(instance: Any) -> Any:
    if instance is not None:
        return instance
    from nbflow.instance import instance as default_instance

    return default_instance()


def sensor(
    job_name: str | None = None,
    *,
    name: str | None = None,
    minimum_interval_seconds: float | None = None,
    description: str | None = None,
    job: Any = None,
    jobs: Sequence[Any] | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    max_consecutive_failures: int = DEFAULT_MAX_FAILURES,
    **_dagster_only: Any,
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
    if job is not None and jobs is not None:
        raise SensorDefinitionError("Give @sensor either job= or jobs=, not both.")
    targets = list(jobs) if jobs is not None else ([job] if job is not None else [])
    for target in targets:
        if not hasattr(target, "nodes") or not hasattr(target, "name"):
            raise SensorDefinitionError(
                f"@sensor(job=...) takes a job defined with @job or define_asset_job, got {target!r}."
            )
    if job_name is not None and not targets:
        from nbflow.definitions.graph import JOBS

        if job_name not in JOBS:
            raise SensorDefinitionError(
                f"@sensor(job_name={job_name!r}): no job of that name is defined in this kernel. "
                "Run the cell that defines it first, or pass job=the_job."
            )
        targets = [JOBS[job_name]]

    def decorate(fn: Callable[..., Any]) -> SensorDefinition:
        definition = SensorDefinition(fn, name, targets, minimum_interval_seconds, default_status,
                                      description, max_consecutive_failures)
        SENSORS[definition.name] = definition
        return definition

    return decorate
