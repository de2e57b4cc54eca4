"""The magics through IPython's own shell: %%sensor and %nbflow."""

from __future__ import annotations

import re

import pytest
from IPython.core.error import UsageError
from IPython.testing.globalipapp import get_ipython

import nbflow as nf
from nbflow.runtime import sensor_loop as runner
from nbflow.sensors.definition import SENSORS


@pytest.fixture(scope="module")
def ip():
    shell = get_ipython()
    shell.run_line_magic("load_ext", "nbflow")
    return shell


@pytest.fixture(autouse=True)
def namespace(ip):
    ip.run_cell("""
import nbflow as nf
files = nf.DynamicPartitionsDefinition("magic_files")

@nf.op
def load(context) -> str:
    return context.partition_key

@nf.job(partitions_def=files)
def load_job():
    load()

FEED = ["a", "b"]
""")
    yield
    runner.stop_all()
    for name in ("watch", "broken", "bad_syntax"):
        SENSORS.pop(name, None)


BODY = """\
new = [f for f in FEED if f not in (context.cursor or "").split(",")]
print("new:", new)
return nf.SensorResult(
    run_requests=[nf.RunRequest(partition_key=f, run_key=f) for f in new],
    dynamic_partitions_requests=[files.build_add_request(new)],
    cursor=",".join(FEED),
)
"""


def test_sensor_magic_without_a_job_like_the_decorator(ip):
    ip.run_cell_magic("sensor", "watch", "return nf.SensorResult(dynamic_partitions_requests="
                                         "[files.build_add_request(['x'])], cursor='x')")
    sensor = ip.user_ns["watch"]
    assert sensor.jobs == [] and repr(sensor) == "<sensor watch -> no job, every 30s>"
    tick = sensor.tick()
    assert tick.status == "SUCCESS" and tick.partitions_added == {"magic_files": ["x"]}


def test_sensor_magic_defines_and_binds_a_sensor(ip):
    ip.run_cell_magic("sensor", "watch --job load_job --interval 5", BODY)
    watch = ip.user_ns["watch"]
    assert isinstance(watch, nf.SensorDefinition) and SENSORS["watch"] is watch
    assert (watch.name, watch.minimum_interval_seconds, [j.name for j in watch.jobs]) == ("watch", 5, ["load_job"])
    tick = watch.tick()
    assert tick.status == "SUCCESS" and tick.partitions_added == {"magic_files": ["a", "b"]}
    assert [line[3] for line in tick.logs] == ["new: ['a', 'b']"]  # context and notebook names in scope


def test_notebook_names_are_read_at_tick_time(ip):
    ip.run_cell_magic("sensor", "watch --job load_job", BODY)
    ip.user_ns["watch"].tick()
    ip.run_cell("FEED = ['a', 'b', 'c']")
    assert ip.user_ns["watch"].tick().partitions_added == {"magic_files": ["c"]}


def test_redefining_replaces_by_name_and_keeps_the_cursor(ip):
    ip.run_cell_magic("sensor", "watch --job load_job", BODY)
    ip.user_ns["watch"].tick()
    ip.run_cell_magic("sensor", "watch --job load_job", "return nf.SkipReason(f'cursor {context.cursor}')")
    assert SENSORS["watch"] is ip.user_ns["watch"]
    assert ip.user_ns["watch"].tick().skip_reason == "cursor a,b"


def test_a_body_without_return_is_a_skipped_tick(ip):
    ip.run_cell_magic("sensor", "watch --job load_job", "x = 1\n")
    assert ip.user_ns["watch"].tick().skip_reason == "Sensor function returned an empty result"


def test_preview_and_start(ip, capsys):
    ip.run_cell_magic("sensor", "watch --job load_job --interval 0.05 --preview --start", BODY)
    assert "2 new keys for magic_files" in capsys.readouterr().out
    watch = ip.user_ns["watch"]
    assert watch.status == "running"
    watch.stop()
    assert watch.status == "stopped"


def test_a_syntax_error_points_at_the_cell_line(ip):
    with pytest.raises(SyntaxError) as info:
        ip.run_cell_magic("sensor", "bad_syntax --job load_job", "x = 1\ny = (\nreturn x\n")
    assert info.value.lineno in (3, 4)  # the cell's own numbering: the magic line is line 1
    assert "%%sensor bad_syntax" in info.value.filename


def test_a_runtime_error_in_a_tick_names_the_cell_line(ip):
    ip.run_cell_magic("sensor", "broken --job load_job", "x = 1\ny = x / 0\nreturn None\n")
    tick = ip.user_ns["broken"].tick()
    assert tick.status == "FAILURE"
    assert re.search(r'File "<%%sensor broken>", line 3, in broken\n\s+y = x / 0', tick.error)


@pytest.mark.parametrize(("line", "message"), [
    ("", "the following arguments are required: name"),
    ("watch --job nope_job", "--job nope_job: no job of that name in this notebook"),
    ("watch --job load_jb", "Valid ones (closest first): 'load_job'"),
    ("watch --job load_job --interval 0", "--interval must be a positive number of seconds, got 0"),
    ("watch --job load_job --interval soon", "argument --interval: invalid float value: 'soon'"),
    ("watch --job load_job --max-failures 0", "--max-failures must be at least 1, got 0"),
    ("2watch --job load_job", "the name must be a Python identifier"),
])
def test_bad_sensor_arguments(ip, line, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        ip.run_cell_magic("sensor", line, BODY)


def test_nbflow_runs_ticks_partitions_sensors(ip, capsys):
    ip.run_cell_magic("sensor", "watch --job load_job", BODY)
    ip.user_ns["watch"].tick()
    runs = ip.run_line_magic("nbflow", "runs --job load_job --limit 5")
    assert sorted(runs.partition_key) == ["a", "b"]
    assert ip.run_line_magic("nbflow", "runs --status FAILURE").empty
    ticks = ip.run_line_magic("nbflow", "ticks watch")
    assert ticks.status.tolist() == ["SUCCESS"]
    assert ip.run_line_magic("nbflow", "partitions magic_files") == ["a", "b"]
    added = ip.run_line_magic("nbflow", "partitions magic_files add c d")
    assert added.added == ["c", "d"]
    assert ip.run_line_magic("nbflow", "partitions magic_files delete a").deleted == ["a"]
    assert nf.instance().dynamic_partitions_history("magic_files").source.tolist()[-3:] == ["magic"] * 3
    sensors = ip.run_line_magic("nbflow", "sensors").set_index("sensor")
    assert sensors.loc["watch", "status"] == "stopped" and sensors.loc["watch", "ticks"] == 1
    assert sensors.loc["watch", "cursor"] == "a,b"


def test_nbflow_partitions_parses_like_a_shell(ip, capsys):
    added = ip.run_line_magic("nbflow", """partitions magic_files add "c d" 'e "quoted"' f\\ g""")
    assert added.added == ["c d", 'e "quoted"', "f g"]
    assert ip.run_line_magic("nbflow", "partitions magic_files") == ["c d", 'e "quoted"', "f g"]
    assert capsys.readouterr().out.strip() == "magic_files: 3 keys"
    assert ip.run_line_magic("nbflow", "partitions magic_files delete 'c d'").deleted == ["c d"]


def test_nbflow_partitions_of_a_definition_with_no_keys_yet(ip, capsys):
    ip.run_cell('empty = nf.DynamicPartitionsDefinition("magic_empty")')
    assert ip.run_line_magic("nbflow", "partitions magic_empty") == []
    assert capsys.readouterr().out.strip() == "magic_empty: 0 keys"


def test_nbflow_stop_all(ip, capsys):
    ip.run_cell_magic("sensor", "watch --job load_job --interval 0.05 --start", BODY)
    capsys.readouterr()
    ip.run_line_magic("nbflow", "stop-all")
    assert capsys.readouterr().out.strip() == "Stopped 1 sensors: watch"
    assert ip.user_ns["watch"].status == "stopped"


def test_nbflow_help(ip, capsys):
    ip.run_line_magic("nbflow", "--help")
    text = capsys.readouterr().out
    for command in ("%nbflow runs", "%nbflow ticks SENSOR", "%nbflow partitions NAME", "%nbflow sensors",
                    "%nbflow stop-all"):
        assert command in text


@pytest.mark.parametrize(("line", "message"), [
    ("launch", "%nbflow has no command 'launch'; the commands are: runs, ticks, partitions, sensors, stop-all"),
    ("ticks", "Usage: %nbflow ticks SENSOR"),
    ("ticks nobody", "No sensor 'nobody' here or in the store."),
    ("partitions", "Usage: %nbflow partitions NAME"),
    ("partitions magic_files rename a", "Usage: %nbflow partitions magic_files add KEY"),
    ("partitions magic_files add 'a\tb'", "control character"),
    ("partitions magic_files add ''", "A partition key must not be empty."),
    ("partitions magic_files add ok ''", "A partition key must not be empty."),
    ("partitions magic_files add 'c d", "%nbflow partitions magic_files add 'c d: No closing quotation."),
    ("partitions nope", "%nbflow partitions: no definition named 'nope'. Valid ones (closest first): "),
    ("partitions magic_filez", "no definition named 'magic_filez'. Valid ones (closest first): 'magic_files'"),
    ("partitions magic_filez delete a", "no definition named 'magic_filez'."),
    ("runs extra", "%nbflow runs takes no positional arguments"),
    ("runs --limit many", "argument --limit: invalid int value: 'many'"),
])
def test_bad_nbflow_commands(ip, line, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        ip.run_line_magic("nbflow", line)
