"""The context a sensor function receives, and ``build_sensor_context`` for tests."""

from __future__ import annotations

import logging
from typing import Any

from nbflow.sensors.results import SensorDefinitionError, check_str


class SensorEvaluationContext:
    """What a sensor sees when it is evaluated: its cursor, its instance, its last run key.

    ``context.instance`` is the store the tick applies to; partition lookups on it see
    the store as it is before this tick's own partition requests are applied.

    Examples
    --------
    >>> ctx = build_sensor_context(cursor="3")
    >>> ctx.update_cursor("4"); ctx.cursor
    '4'
    """

    def __init__(
        self,
        cursor: str | None = None,
        instance: Any = None,
        sensor_name: str | None = None,
        last_run_key: str | None = None,
        last_tick_completion_time: float | None = None,
        last_sensor_start_time: float | None = None,
        is_first_tick_since_sensor_start: bool = False,
    ) -> None:
        check_str(cursor, "cursor")
        self._cursor = cursor
        self._cursor_updated = False
        self._instance = instance
        self.sensor_name = sensor_name
        self.last_run_key = last_run_key
        self.last_tick_completion_time = last_tick_completion_time
        self.last_sensor_start_time = last_sensor_start_time
        self.is_first_tick_since_sensor_start = is_first_tick_since_sensor_start
        self.log = logging.getLogger(f"nbflow.sensor.{sensor_name or 'sensor'}")
        self.definitions: Any = None
        self.repository_name: str | None = None

    @property
    def cursor(self) -> str | None:
        return self._cursor

    @property
    def cursor_updated(self) -> bool:
        return self._cursor_updated

    def update_cursor(self, cursor: str | None) -> None:
        """Set the cursor this tick stores (a str, as in Dagster, or None)."""
        check_str(cursor, "cursor")
        self._cursor = cursor
        self._cursor_updated = True

    @property
    def instance(self) -> Any:
        """The instance the tick applies to.

        A context from ``build_sensor_context()`` without an instance has none, as in Dagster;
        ``sensor.tick(instance=...)`` gives it the instance the tick applies to.
        """
        if self._instance is None:
            from nbflow.errors import DagsterInvariantViolationError

            raise DagsterInvariantViolationError(
                "Attempted to initialize dagster instance, but no instance reference was provided. "
                "Pass one: build_sensor_context(instance=nbflow.Instance.ephemeral()) for a test, "
                "or nbflow.instance() for the project's store."
            )
        return self._instance

    def __enter__(self) -> SensorEvaluationContext:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @property
    def resources(self) -> Any:
        raise SensorDefinitionError("nbflow sensors have no resources: use module-level objects instead.")

    def __repr__(self) -> str:
        return f"<SensorEvaluationContext {self.sensor_name or ''} cursor={self._cursor!r}>"


def build_sensor_context(
    instance: Any = None,
    cursor: str | None = None,
    repository_name: str | None = None,
    repository_def: Any = None,
    sensor_name: str | None = None,
    resources: Any = None,
    definitions: Any = None,
    instance_ref: Any = None,
    last_sensor_start_time: float | None = None,
    *,
    last_run_key: str | None = None,
    last_tick_completion_time: float | None = None,
) -> SensorEvaluationContext:
    """A context for calling or testing a sensor outside its loop.

    Unlike Dagster's, it works for sensors that add partitions and request runs of
    them: pass it to ``sensor.evaluate(ctx)`` to see the resolved result, or to
    ``sensor.tick(context=ctx)`` to apply it to ``instance``.

    Examples
    --------
    >>> import nbflow as nf
    >>> @nf.sensor()
    ... def nothing(context):
    ...     return nf.SkipReason(f"cursor is {context.cursor}")
    >>> nothing.evaluate(build_sensor_context(cursor="7")).skip_message
    'cursor is 7'
    """
    from nbflow.errors import unsupported

    if resources:
        raise unsupported("build_sensor_context", "resources", "nbflow sensors have no resources: "
                          "use module-level objects in the sensor body instead.")
    if instance is None and instance_ref is not None:
        if not hasattr(instance_ref, "store"):
            raise unsupported("build_sensor_context", "instance_ref", "Pass the nbflow Instance "
                              "itself as instance=.")
        instance = instance_ref
    context = SensorEvaluationContext(cursor, instance, sensor_name, last_run_key,
                                      last_tick_completion_time, last_sensor_start_time)
    # Jobs named by job_name= are looked up here first (Dagster resolves them from these).
    context.definitions = definitions if definitions is not None else repository_def
    context.repository_name = repository_name
    return context
