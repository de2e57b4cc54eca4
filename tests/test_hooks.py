"""The wiring points: definitions reach the instance layer and the views only through nbflow.hooks."""

from __future__ import annotations

from typing import Any

import pytest

import nbflow as nf
from nbflow import hooks
from nbflow.runtime.wiring import LocalRuntime
from nbflow.widgets.display import WidgetDisplay


@pytest.fixture
def restore_hooks():
    runtime, display = hooks._runtime, hooks._display
    yield
    hooks.install_runtime(runtime)  # type: ignore[arg-type]
    hooks.register_display(display)


def test_import_nbflow_installs_the_runtime_and_the_display():
    assert isinstance(hooks.runtime(), LocalRuntime)
    assert isinstance(hooks.display(), WidgetDisplay)


class RecordingRuntime(LocalRuntime):
    """The real runtime, noting what definitions asked of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def run_job(self, job: Any, **kwargs: Any) -> Any:
        self.calls.append(f"run_job {job.name}")
        return super().run_job(job, **kwargs)

    def tick_sensor(self, sensor: Any, instance: Any, context: Any, execute: bool) -> Any:
        self.calls.append(f"tick_sensor {sensor.name}")
        return super().tick_sensor(sensor, instance, context, execute)

    def instance(self, given: Any = None) -> Any:
        self.calls.append("instance")
        return super().instance(given)


def test_definitions_reach_the_machinery_through_the_installed_runtime(restore_hooks, instance):
    recording = RecordingRuntime()
    hooks.install_runtime(recording)

    @nf.op
    def one() -> int:
        return 1

    @nf.job
    def hooked_job():
        one()

    keys = nf.DynamicPartitionsDefinition(name="hooked_keys")

    @nf.sensor(job=hooked_job)
    def hooked_sensor(context):
        return nf.SkipReason("nothing new")

    run = hooked_job.run(instance=instance)
    keys.add(["a"], instance=instance)
    tick = hooked_sensor.tick(instance=instance)
    assert run.output("one") == 1
    assert keys.keys(instance=instance) == ["a"]
    assert tick.status == "SKIPPED"
    assert recording.calls[0] == "run_job hooked_job"
    assert "tick_sensor hooked_sensor" in recording.calls
    assert recording.calls.count("instance") >= 2  # add and keys ask for the instance they were given


def test_without_a_runtime_a_definition_says_how_to_fix_it(restore_hooks):
    hooks._runtime = None
    keys = nf.DynamicPartitionsDefinition(name="unwired")
    with pytest.raises(hooks.RuntimeNotInstalledError, match=r"runtime is not installed: import nbflow"):
        keys.keys()


def test_without_a_display_objects_show_as_plain_text(restore_hooks, instance):
    hooks.register_display(None)

    @nf.op
    def two() -> int:
        return 2

    @nf.job
    def plain_job():
        two()

    keys = nf.DynamicPartitionsDefinition(name="plain_keys")
    assert plain_job._repr_mimebundle_() == {"text/plain": repr(plain_job)}
    assert keys._repr_mimebundle_() == {"text/plain": repr(keys)}
    run = plain_job.run(instance=instance)
    assert set(run._repr_mimebundle_()) == {"text/plain", "text/html"}
    with pytest.raises(hooks.RuntimeNotInstalledError, match=r"No display is registered"):
        keys._display_()


def test_the_display_refuses_objects_it_has_no_view_of():
    with pytest.raises(TypeError, match=r"nbflow has no view of int objects"):
        WidgetDisplay().widget(3)
