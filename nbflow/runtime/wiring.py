"""The instance layer's side of :mod:`nbflow.hooks`: what ``job.run()``, ``partitions.add()``
and ``sensor.tick()`` reach, installed when ``nbflow`` is imported.

Each method imports the module that does the work when first called, so installing costs
nothing at ``import nbflow``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nbflow import hooks


class LocalRuntime:
    """The runtime of this process: the default instance, runs, backfills and sensor loops."""

    def instance(self, given: Any = None) -> Any:
        if given is not None:
            return given
        from nbflow.runtime.instance import instance as default_instance

        return default_instance()

    def invoke_op(self, op_def: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from nbflow.execution.context import invoke_directly

        return invoke_directly(op_def, args, kwargs)

    def run_job(self, job: Any, *, run_config: Mapping[str, Any] | None, instance: Any,
                tags: Mapping[str, Any] | None, raise_on_error: bool, partition_key: str | None,
                executor: Any, wait: bool) -> Any:
        from nbflow.runtime.instance import launch

        display = hooks.display()
        view = display.live_view(instance, job) if display is not None else None
        run = launch(job, run_config, instance, tags, raise_on_error=raise_on_error,
                     partition_key=partition_key, observer=view, executor=executor,
                     background=True, wait=wait)
        if view is not None and display is not None:
            run._live_view, run._live_count = view, display.execution_count()
        return run

    def execute_in_process(self, job: Any, *, run_config: Mapping[str, Any], instance: Any,
                           tags: Mapping[str, Any] | None, raise_on_error: bool,
                           partition_key: str | None) -> Any:
        from nbflow.definitions.executors import in_process_executor
        from nbflow.runtime.instance import launch

        run = launch(job, run_config, instance, tags, raise_on_error=raise_on_error,
                     partition_key=partition_key, executor=in_process_executor)
        return run.as_execution_result()

    def backfill(self, job: Any, partition_keys: list[str] | None, select: Any, instance: Any,
                 run_config: Mapping[str, Any] | None, tags: Mapping[str, Any] | None,
                 progress: bool) -> Any:
        from nbflow.runtime.backfill import backfill

        return backfill(job, partition_keys, select, instance, run_config, tags, progress)

    def rerun(self, run: Any, op: str | None, keys: Any, downstream: bool, failed: bool,
              raise_on_error: bool, executor: Any, wait: bool) -> Any:
        """A child run of ``run`` (``Run.rerun``), shown live in a notebook."""
        from nbflow.runtime.rerun import rerun

        display = hooks.display()
        view = display.live_view(run.instance) if display is not None else None
        child = rerun(run, op, keys, downstream, failed, raise_on_error, observer=view,
                      executor=executor, background=True, wait=wait)
        if view is not None and display is not None:
            child._live_view, child._live_count = view, display.execution_count()
        return child

    def tick_sensor(self, sensor: Any, instance: Any, context: Any, execute: bool) -> Any:
        from nbflow.runtime.ticks import run_tick

        return run_tick(sensor, self.instance(instance), context=context, execute=execute)

    def preview_sensor(self, sensor: Any, instance: Any, cursor: Any) -> Any:
        from nbflow.runtime.ticks import preview

        return preview(sensor, self.instance(instance), cursor)

    def start_sensor(self, sensor: Any, instance: Any) -> None:
        from nbflow.runtime.sensor_loop import start

        start(sensor, self.instance(instance))

    def stop_sensor(self, name: str, instance: Any, timeout: float) -> bool:
        from nbflow.runtime.sensor_loop import stop

        return stop(name, self.instance(instance), timeout)

    def sensor_status(self, name: str, instance: Any) -> tuple[str, str | None]:
        from nbflow.runtime.sensor_loop import status

        return status(name, self.instance(instance))


def install() -> None:
    """Make this process's definitions reach :class:`LocalRuntime`."""
    hooks.install_runtime(LocalRuntime())
