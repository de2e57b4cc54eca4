"""The two wiring points between definitions and the layers above them.

Definitions (jobs, partition sets, sensors) offer notebook conveniences -- ``job.run()``,
``episodes.add([...])``, ``sensor.tick()``, rich display in a cell -- yet sit at the bottom
of the layer picture and must not import the instance, the store or the widgets. They call
this module instead, and the upper layers fill it in when ``nbflow`` is imported:

* the instance layer (:mod:`nbflow.runtime`) installs the :class:`Runtime`: default instance,
  runs, backfills, sensor ticks and background loops;
* the widget layer (:mod:`nbflow.widgets.display`) registers the :class:`Display`: how a
  definition or a run shows in a notebook, and the live view that follows a run.

Without a display (a script that never imports the widgets), objects show as plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from nbflow.errors import NbflowError


class Runtime(Protocol):
    """What definitions ask of the machinery; :mod:`nbflow.runtime` implements it."""

    def instance(self, given: Any = None) -> Any:
        """``given`` if not None, else the default instance of this process (``nbflow.instance()``).

        Partition edits and reads (``add_dynamic_partitions``, ``delete_dynamic_partitions``,
        ``get_dynamic_partitions`` ...) are methods of the instance this returns.
        """
        ...

    def invoke_op(self, op_def: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run an op's function now, outside a job (``my_op(build_op_context(), x)`` in a test)."""
        ...

    def run_job(self, job: Any, *, run_config: Mapping[str, Any] | None, instance: Any,
                tags: Mapping[str, Any] | None, raise_on_error: bool, partition_key: str | None,
                executor: Any, wait: bool) -> Any:
        """Launch a run of ``job`` (shown live in a notebook) and return its ``Run``."""
        ...

    def execute_in_process(self, job: Any, *, run_config: Mapping[str, Any], instance: Any,
                           tags: Mapping[str, Any] | None, raise_on_error: bool,
                           partition_key: str | None) -> Any:
        """Run ``job`` in this thread with the in-process executor; return Dagster's result object."""
        ...

    def backfill(self, job: Any, partition_keys: list[str] | None, select: Any, instance: Any,
                 run_config: Mapping[str, Any] | None, tags: Mapping[str, Any] | None,
                 progress: bool) -> Any:
        """One run of ``job`` per partition key, one after the other."""
        ...

    def rerun(self, run: Any, op: str | None, keys: Any, downstream: bool, failed: bool,
              raise_on_error: bool, executor: Any, wait: bool) -> Any:
        """A child run of ``run`` redoing part of it (``Run.rerun``), shown live in a notebook."""
        ...

    def tick_sensor(self, sensor: Any, instance: Any, context: Any, execute: bool) -> Any:
        """Evaluate ``sensor`` once and apply its result to the store in one transaction."""
        ...

    def preview_sensor(self, sensor: Any, instance: Any, cursor: Any) -> Any:
        """What a tick of ``sensor`` would do, applying nothing."""
        ...

    def start_sensor(self, sensor: Any, instance: Any) -> None:
        """Tick ``sensor`` in a background thread of this process."""
        ...

    def stop_sensor(self, name: str, instance: Any, timeout: float) -> bool:
        """Stop the background ticks of sensor ``name``; True once they have ended."""
        ...

    def sensor_status(self, name: str, instance: Any) -> tuple[str, str | None]:
        """``(status, detail)`` of sensor ``name``: running, stopping, stopped or paused."""
        ...


class Display(Protocol):
    """How nbflow's objects show in a notebook; :mod:`nbflow.widgets.display` implements it."""

    def mimebundle(self, obj: Any) -> dict[str, Any] | None:
        """``obj``'s rich display in this kernel, or None where it should show as plain text."""
        ...

    def widget(self, obj: Any, **options: Any) -> Any:
        """The view of ``obj`` (marimo's ``_display_``, ``partitions.view()``)."""
        ...

    def live_view(self, instance: Any, job: Any = None) -> Any:
        """A view shown now that will follow the run about to start, or None where none is shown."""
        ...

    def execution_count(self) -> int | None:
        """The number of the notebook cell running now (None outside IPython)."""
        ...


class RuntimeNotInstalledError(NbflowError, RuntimeError):
    """A definition was asked to run or touch a store before the instance layer was installed."""


_runtime: Runtime | None = None
_display: Display | None = None


def install_runtime(runtime: Runtime) -> None:
    """Make ``runtime`` the machinery definitions call (done by ``import nbflow``)."""
    global _runtime
    _runtime = runtime


def runtime() -> Runtime:
    """The installed runtime."""
    if _runtime is None:
        raise RuntimeNotInstalledError(
            "nbflow's runtime is not installed: import nbflow (import nbflow as nf) before running "
            "jobs, editing partitions or ticking sensors."
        )
    return _runtime


def register_display(display: Display | None) -> None:
    """Make ``display`` the way objects show in a notebook (None: plain text everywhere)."""
    global _display
    _display = display


def display() -> Display | None:
    """The registered display, or None."""
    return _display


def mimebundle(obj: Any, fallback: dict[str, Any]) -> dict[str, Any]:
    """``obj``'s rich display if a display is registered and shows one here, else ``fallback``."""
    shown = _display.mimebundle(obj) if _display is not None else None
    return fallback if shown is None else shown


def widget(obj: Any, **options: Any) -> Any:
    """The view of ``obj``; needs the widgets (``pip install nbflow`` brings them)."""
    if _display is None:
        raise RuntimeNotInstalledError(
            f"No display is registered, so {obj!r} has no view: import nbflow (which registers "
            "nbflow.widgets) before asking for one."
        )
    return _display.widget(obj, **options)
