"""Several processes share one store file, taking turns (real subprocesses)."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pandas.testing as pdt
import pytest

import nbflow as nf

TIMEOUT = 30  # seconds any one subprocess may take before the test gives up on it


class Child:
    """A Python subprocess running ``code``, with line-by-line stdout under a timeout."""

    def __init__(self, tmp_path, name: str, code: str, *args: str) -> None:
        script = tmp_path / f"{name}.py"
        script.write_text(textwrap.dedent(code))
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self._lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream, put) -> None:
        for line in stream:
            put(line)

    def message(self, timeout: float = TIMEOUT) -> dict:
        """The next line the child printed that starts with ``@``, decoded as JSON."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no message from the child in {timeout} s; stderr:\n{self.stderr}") from None
            if line.startswith("@"):
                return json.loads(line[1:])

    def send(self, text: str = "go") -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = TIMEOUT) -> int:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)


@pytest.fixture
def child(tmp_path):
    started: list[Child] = []

    def start(name: str, code: str, *args: str) -> Child:
        started.append(Child(tmp_path, name, code, *args))
        return started[-1]

    yield start
    for c in started:
        c.kill()


WRITER = """
import json, logging, sys
import pandas as pd
import nbflow as nf

@nf.op(out=nf.DynamicOut())
def letters(context):
    context.log.info("splitting the word")
    for i, ch in enumerate("abc"):
        yield nf.DynamicOutput(ch, mapping_key=f"k{i}")

@nf.op
def shout(ch):
    print(f"shouting {ch}")
    return ch.upper()

@nf.op
def frame(chars):
    return pd.DataFrame({"ch": chars}, index=pd.Index(["x", "y", "z"], name="pos"))

@nf.job
def restart_job():
    frame(letters().map(shout).collect())

run = restart_job.run(instance=nf.instance(sys.argv[1]))
print("@" + json.dumps({"run_id": run.run_id, "status": run.status}), flush=True)
"""


@pytest.mark.slow
def test_a_run_survives_a_kernel_restart(store_path, child):
    writer = child("writer", WRITER, store_path)
    written = writer.message()
    assert writer.finish() == 0, writer.stderr
    assert written["status"] == "SUCCESS"

    # This process never had the file open: it plays the restarted kernel.
    run = nf.instance(store_path).get_run(written["run_id"][:8])
    assert run.run_id == written["run_id"]
    assert (run.job_name, run.status) == ("restart_job", "SUCCESS")
    assert run.output("shout") == {"k0": "A", "k1": "B", "k2": "C"}
    assert run.output("shout", key="k2") == "C"
    pdt.assert_frame_equal(
        run.output("frame"), pd.DataFrame({"ch": ["A", "B", "C"]}, index=pd.Index(["x", "y", "z"], name="pos"))
    )
    steps = run.steps()
    assert sorted(steps.step_key) == ["frame", "letters", "shout[k0]", "shout[k1]", "shout[k2]"]
    assert set(steps.status) == {"SUCCESS"}
    logs = run.logs()
    assert sorted(logs[logs.kind == "stdout"].message.str.strip()) == ["shouting a", "shouting b", "shouting c"]
    assert "splitting the word" in logs[logs.step_key == "letters"].message.iloc[0]
    assert nf.instance(store_path).runs().run_id.tolist() == [written["run_id"]]


PROCESS_A = """
import json, sys
import nbflow as nf

@nf.op
def from_a():
    return "written by A"

@nf.job
def job_a():
    from_a()

inst = nf.instance(sys.argv[1])
holder = inst.store.holder
changes = []
holder.on_change(lambda: changes.append(holder.opens))
first = job_a.run(instance=inst)
print("@" + json.dumps({"run_id": first.run_id, "opens": holder.opens}), flush=True)

sys.stdin.readline()  # idle: the store is released after about a second
opens_before = holder.opens
runs = inst.runs()
run_b = runs[runs.job_name == "job_b"].run_id.tolist()
value_b = inst.get_run(run_b[0]).output("from_b") if run_b else None
second = job_a.run(instance=inst)
print("@" + json.dumps({
    "opens_before": opens_before, "opens_after": holder.opens, "changes": changes,
    "runs": inst.runs().job_name.tolist(), "run_b": run_b, "value_b": value_b,
    "second": second.run_id, "second_status": second.status,
}), flush=True)
"""

PROCESS_B = """
import json, sys, time
import nbflow as nf

@nf.op
def from_b():
    return "written by B"

@nf.job
def job_b():
    from_b()

inst = nf.instance(sys.argv[1], lock_timeout=20)
started = time.monotonic()
a_value = inst.get_run(sys.argv[2]).output("from_a")  # waits for A to let go of the file
waited = time.monotonic() - started
run = job_b.run(instance=inst)
print("@" + json.dumps({"a_value": a_value, "run_id": run.run_id, "status": run.status, "waited": waited}),
      flush=True)
"""


@pytest.mark.slow
def test_two_processes_take_turns(store_path, child):
    a = child("process_a", PROCESS_A, store_path)
    first = a.message()
    assert first["opens"] >= 1

    # B starts while A is alive (and may still hold the file); it gets in after A's idle release.
    b = child("process_b", PROCESS_B, store_path, first["run_id"])
    from_b = b.message()
    assert b.finish() == 0, b.stderr
    assert from_b["a_value"] == "written by A"
    assert from_b["status"] == "SUCCESS"

    # A wakes up: it reopens the file, learns that B wrote, and writes again.
    a.send()
    later = a.message()
    assert a.finish() == 0, a.stderr
    assert later["opens_before"] == first["opens"]
    assert later["opens_after"] > later["opens_before"]  # A had let go of the file and reopened it
    # the change counter told A, on that reopen, that someone else wrote
    assert later["changes"] == [later["opens_before"] + 1]
    assert later["run_b"] == [from_b["run_id"]]
    assert later["value_b"] == "written by B"
    assert later["second_status"] == "SUCCESS"
    assert sorted(later["runs"]) == ["job_a", "job_a", "job_b"]

    runs = nf.instance(store_path).runs()
    assert set(runs.run_id) == {first["run_id"], from_b["run_id"], later["second"]}


HOLDER = """
import sys, time
import duckdb

con = duckdb.connect(sys.argv[1])
print("@{}", flush=True)
if len(sys.argv) > 2:
    time.sleep(float(sys.argv[2]))
else:
    sys.stdin.readline()
con.close()
"""


@pytest.mark.slow
def test_a_store_held_by_another_process_is_reported_then_usable(store_path, child):
    os.makedirs(os.path.dirname(store_path))
    holder = child("holder", HOLDER, store_path)
    holder.message()
    inst = nf.instance(store_path, lock_timeout=1)

    started = time.monotonic()
    with pytest.raises(nf.StoreLockedError) as info:
        inst.runs()
    waited = time.monotonic() - started
    assert 0.9 <= waited < 5, f"gave up after {waited:.2f} s instead of about 1 s"
    assert re.fullmatch(
        rf"The nbflow store {re.escape(store_path)} is locked by process {holder.pid}, and it was not "
        r"released within 1 s\. Another kernel or script is using it: let it finish, or release it there "
        r"with nbflow\.instance\(\)\.close\(\) \(or stop that process\)\. To wait longer, set "
        r"NBFLOW_LOCK_TIMEOUT or pass lock_timeout= to nbflow\.instance\(\)\.",
        str(info.value),
    ), str(info.value)
    assert isinstance(info.value, nf.StoreError)
    assert not inst.store.holder.is_open

    assert holder.finish() == 0, holder.stderr
    assert inst.runs().empty  # the same instance works once the holder has gone

    @nf.op(name="after_lock")
    def after_lock():
        return 1

    @nf.job(name="after_lock_job")
    def after_lock_job():
        after_lock()

    assert after_lock_job.run(instance=inst).output("after_lock") == 1


@pytest.mark.slow
def test_opening_waits_for_a_short_holder(store_path, child):
    os.makedirs(os.path.dirname(store_path))
    holder = child("short_holder", HOLDER, store_path, "0.5")
    holder.message()
    started = time.monotonic()
    assert nf.instance(store_path, lock_timeout=20).runs().empty  # retried until the holder left
    assert time.monotonic() - started < 10
    assert holder.finish() == 0, holder.stderr


# -- which instance, which file (one process) ------------------------------------------------


def test_instance_of_the_same_path_is_the_same_object(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "shared.duckdb")
    first = nf.instance(path)
    assert nf.instance(path) is first
    assert nf.instance("shared.duckdb") is first  # relative paths resolve to the same file
    assert nf.instance(str(tmp_path / "other.duckdb")) is not first


def test_instance_lock_timeout_updates_the_existing_instance(store_path):
    first = nf.instance(store_path)
    assert nf.instance(store_path, lock_timeout=2.5) is first
    assert first.store.holder.lock_timeout == 2.5


def test_in_memory_instances_are_never_shared():
    assert nf.instance(":memory:") is not nf.instance(":memory:")
    assert nf.instance(":memory:").path == ":memory:"


def test_default_instance_honours_nbflow_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("NBFLOW_HOME", str(home))
    inst = nf.instance()
    assert inst.path == str(home / "nbflow.duckdb")
    assert nf.instance() is inst
    inst.runs()
    assert (home / "nbflow.duckdb").exists()


def test_default_instance_lives_in_dot_nbflow_beside_the_notebook(tmp_path, monkeypatch):
    monkeypatch.delenv("NBFLOW_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    inst = nf.instance()
    assert inst.path == str(tmp_path / ".nbflow" / "nbflow.duckdb")
    inst.runs()
    assert (tmp_path / ".nbflow" / "nbflow.duckdb").exists()


def test_an_empty_nbflow_home_means_the_default_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NBFLOW_HOME", "")
    monkeypatch.chdir(tmp_path)
    assert nf.instance().path == str(tmp_path / ".nbflow" / "nbflow.duckdb")
