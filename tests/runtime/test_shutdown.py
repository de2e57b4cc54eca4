"""A process (a kernel) that exits while a sensor runs in the background stops it cleanly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

import nbflow as nf


@pytest.mark.slow
def test_exiting_the_process_stops_running_sensors(tmp_path):
    store = str(tmp_path / "exit.duckdb")
    script = textwrap.dedent(f"""
        import time
        import nbflow as nf

        @nf.sensor(minimum_interval_seconds=60)
        def sleepy(context):
            return nf.SkipReason("waiting")

        inst = nf.Instance({store!r})
        sleepy.start(instance=inst)
        deadline = time.monotonic() + 20  # the first tick, however busy the machine
        while inst.store.sensors.ticks("sleepy").empty and time.monotonic() < deadline:
            time.sleep(0.05)
        print(sleepy.get_status(nf.instance({store!r})), flush=True)
    """)
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "running"
    assert time.monotonic() - began < 30  # not held up by the 60 s interval
    inst = nf.Instance(store)
    assert inst.store.sensors.state("sleepy").status == "STOPPED"
    assert inst.store.sensors.ticks("sleepy").status.tolist() == ["SKIPPED"]
