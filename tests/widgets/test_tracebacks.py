"""The views show tracebacks from the user's code; nbflow's own frames are kept aside."""

from __future__ import annotations

import nbflow as nf
from nbflow.widgets import tracebacks
from nbflow.widgets.run_view import RunView
from nbflow.widgets.sensor_view import SensorView


@nf.op
def fails(context) -> int:
    return ten_divided_by(0)


def ten_divided_by(n: int) -> int:
    return 10 // n


@nf.job
def failing_job():
    fails()


def test_a_steps_traceback_starts_at_the_op():
    run = failing_job.run(instance=nf.Instance.ephemeral())
    view = RunView(run)
    view._handle_custom_msg({"action": "select", "node": "fails"}, [])
    error, full = view.selected["error"], view.selected["error_full"]
    frames = [line for line in error.splitlines() if line.startswith('  File "')]
    assert frames[0].endswith("in fails") and frames[1].endswith("in ten_divided_by")
    assert error.startswith("Traceback (most recent call last):\n") and error.endswith("ZeroDivisionError: integer division or modulo by zero\n")
    assert "nbflow/execution/step.py" in full and "nbflow/execution" not in error
    assert full.replace("\n", "").endswith(error.splitlines()[-1])


def test_a_sensors_traceback_starts_at_the_sensor():
    @nf.sensor()
    def broken_sensor(context):
        return {}["missing"]

    inst = nf.Instance.ephemeral()
    tick = broken_sensor.tick(instance=inst)
    view = SensorView(broken_sensor, instance=inst)
    view.select_tick(tick.tick_id)
    error = view.selected["error"]
    assert error.startswith("Error occurred during the execution of evaluation_fn for sensor broken_sensor:")
    assert next(line for line in error.splitlines() if line.startswith('  File "')).endswith("in broken_sensor")
    assert "nbflow/sensors/evaluate.py" in view.selected["error_full"]
    view.show_preview()
    assert "nbflow/sensors" not in view.preview["error"] and view.preview["error_full"]


def test_nothing_is_dropped_when_every_frame_is_nbflows_or_there_are_none():
    own = f'Traceback (most recent call last):\n  File "{tracebacks.PACKAGE}run.py", line 3, in x\n    y()\nKeyError: 1\n'
    assert tracebacks.shown(own) == {"error": own, "error_full": ""}
    assert tracebacks.shown("ValueError: bad\n") == {"error": "ValueError: bad\n", "error_full": ""}


def test_chained_exceptions_keep_each_part():
    text = (
        "Traceback (most recent call last):\n"
        f'  File "{tracebacks.PACKAGE}execution/step.py", line 117, in execute_step\n'
        "    result = op.fn(ctx)\n"
        "             ^^^^^^^^^\n"
        '  File "/home/me/analysis.py", line 4, in load\n'
        "    open(path)\n"
        "FileNotFoundError: nope\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        f'  File "{tracebacks.PACKAGE}execution/step.py", line 117, in execute_step\n'
        "    result = op.fn(ctx)\n"
        '  File "/home/me/analysis.py", line 6, in load\n'
        "    raise RuntimeError('no data')\n"
        "RuntimeError: no data\n"
    )
    short = tracebacks.users_part(text)
    assert "step.py" not in short
    assert short.count('File "/home/me/analysis.py"') == 2 and "During handling" in short
    assert short.endswith("RuntimeError: no data\n")
