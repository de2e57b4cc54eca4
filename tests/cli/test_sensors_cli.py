"""``nbflow sensors run | list | tick`` against a store shared with notebooks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import nbflow as nf
from nbflow.cli import main

DEFINITIONS = textwrap.dedent('''
    import nbflow as nf

    files = nf.DynamicPartitionsDefinition("cli_files")

    @nf.op
    def load(context) -> str:
        return context.partition_key

    @nf.job(partitions_def=files)
    def load_job():
        load()

    @nf.sensor(job=load_job, minimum_interval_seconds=0.3)
    def counter(context):
        n = int(context.cursor or 0) + 1
        return nf.SensorResult(
            run_requests=[nf.RunRequest(run_key=f"f{n}", partition_key=f"f{n}")],
            dynamic_partitions_requests=[files.build_add_request([f"f{n}"])],
            cursor=str(n),
        )

    @nf.sensor(minimum_interval_seconds=60)
    def idle(context):
        return nf.SkipReason("nothing")
''')


@pytest.fixture
def defs(tmp_path):
    path = tmp_path / "definitions.py"
    path.write_text(DEFINITIONS)
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize(("stop", "sigint_ignored"), [(signal.SIGINT, False), (signal.SIGTERM, False),
                                                     (signal.SIGINT, True)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-inherited-as-ignored"])
def test_run_ticks_until_interrupted(defs, tmp_path, stop, sigint_ignored):
    store = str(tmp_path / "cli.duckdb")

    def ignore_sigint() -> None:  # as nohup, a shell's background job or a CI runner would start it
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "nbflow", "sensors", "run", defs, "--sensor", "counter",
                             "--store", store], stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore_sigint if sigint_ignored else None)
    lines = []
    deadline = time.monotonic() + 60
    while sum("counter SUCCESS" in line for line in lines) < 2 and time.monotonic() < deadline:
        lines.append(proc.stderr.readline())
    proc.send_signal(stop)
    try:
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a signal it ignored: do not leave it running
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(lines) + rest
    assert "Stopping sensors..." in rest
    assert "counter: ticking every 0.3 s against" in lines[0]
    inst = nf.Instance(store)
    ticks = inst.store.sensors.ticks("counter", limit=None)
    assert len(ticks) >= 2 and set(ticks.origin) == {"loop"}
    keys = inst.get_dynamic_partitions("cli_files")
    assert keys[:2] == ["f1", "f2"]
    assert inst.store.sensors.state("counter").status == "STOPPED"
    assert inst.store.sensors.ticks("idle").empty  # not asked for


def test_tick_and_list(defs, tmp_path, capsys):
    store = str(tmp_path / "t.duckdb")
    assert main(["sensors", "tick", "counter", defs, "--store", store]) == 0
    assert capsys.readouterr().out.strip() == (
        "SUCCESS: 1 keys added to cli_files, 1 runs launched, cursor None -> '1'")
    assert main(["sensors", "list", defs, "--store", store]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "counter\tload_job\tevery 0.3 s\tstopped\tcursor '1'"
    assert out[1] == "idle\tno job\tevery 60 s\tstopped\tcursor None"
    inst = nf.Instance(store)
    assert inst.runs().status.tolist() == ["SUCCESS"]


def test_a_failing_tick_exits_1_with_the_error(tmp_path, capsys):
    path = tmp_path / "bad.py"
    path.write_text("import nbflow as nf\n\n@nf.sensor()\ndef broken(context):\n    raise KeyError('x')\n")
    assert main(["sensors", "tick", "broken", str(path), "--store", str(tmp_path / "b.duckdb")]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("FAILURE")
    assert "KeyError: 'x'" in captured.err


@pytest.mark.parametrize(("argv", "message"), [
    (["sensors", "run", "missing.py"], "missing.py: no such file"),
    (["sensors", "tick", "countr", "{defs}"], "defines no sensor 'countr'. Valid ones (closest first): 'counter'"),
    (["sensors", "run", "{defs}", "--sensor", "nope"], "defines no sensor 'nope'"),
    (["sensors", "list", "{raises}"], "raised ZeroDivisionError: division by zero"),
    (["sensors", "list", "{empty}"], "defines no sensors (with @sensor)"),
])
def test_bad_command_lines_exit_2(defs, tmp_path, capsys, argv, message):
    raises, empty = tmp_path / "raises.py", tmp_path / "empty.py"
    raises.write_text("1 / 0\n")
    empty.write_text("x = 1\n")
    argv = [a.format(defs=defs, raises=raises, empty=empty) for a in argv]
    assert main([*argv, "--store", str(tmp_path / "e.duckdb")]) == 2
    assert message in capsys.readouterr().err


def test_the_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "nbflow")
    proc = subprocess.run([script, "sensors", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "run,list,tick" in proc.stdout
