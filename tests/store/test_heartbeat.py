"""A run's liveness comes from its owner: pid on this host, heartbeat from anywhere."""

from __future__ import annotations

import time
import uuid

import nbflow as nf
from nbflow.store import history


def test_a_second_instance_on_the_same_file_leaves_a_live_run_alone(store_path):
    first, second = nf.Instance(store_path), nf.Instance(store_path)
    seen = []

    @nf.op
    def look(context):
        seen.append(second.get_run(context.run_id).status)  # the second instance opens the file now
        return 1

    @nf.job
    def watched():
        look()

    run = watched.run(instance=first)
    assert seen == ["STARTED"]
    assert run.status == "SUCCESS"
    assert second.get_run(run.run_id).status == "SUCCESS"
    first.close()
    second.close()


def _foreign_run(inst, heartbeat_age: float) -> str:
    run_id = str(uuid.uuid4())
    inst.sql(
        "INSERT INTO runs (run_id, job_name, status, tags, run_config, root_run_id, start_time, pid, "
        "hostname, heartbeat) VALUES (?, 'remote_job', 'STARTED', '{}', '{}', ?, now(), 4242, "
        "'some-other-host', ?)", [run_id, run_id, time.time() - heartbeat_age])
    return run_id


def test_runs_of_another_host_are_interrupted_once_their_heartbeat_is_stale(store_path):
    inst = nf.Instance(store_path)
    inst.runs()
    quiet = _foreign_run(inst, heartbeat_age=history.HEARTBEAT_STALE + 60)
    beating = _foreign_run(inst, heartbeat_age=1)
    inst.close()

    again = nf.Instance(store_path)
    stale = again.get_run(quiet)
    assert stale.status == "INTERRUPTED"
    assert "pid 4242 on host some-other-host) has not been heard from" in stale.error
    assert again.get_run(beating).status == "STARTED"
    again.close()


def test_the_owner_keeps_its_heartbeat_fresh(store_path, fake_clock):
    inst = nf.Instance(store_path)
    beats = []

    def heartbeat(run_id):
        return inst.sql("SELECT heartbeat FROM runs WHERE run_id = ?", [run_id]).heartbeat[0]

    @nf.op
    def slow(context):
        for _ in range(3):
            beats.append(heartbeat(context.run_id))
            fake_clock.step("nbflow-heartbeat")  # HEARTBEAT_SECONDS pass
            deadline = time.monotonic() + 10
            while heartbeat(context.run_id) == beats[-1] and time.monotonic() < deadline:
                time.sleep(0.01)  # the heartbeat thread writes its beat
        return 1

    @nf.job
    def long_one():
        slow()

    assert long_one.run(instance=inst).status == "SUCCESS"
    assert beats[0] < beats[1] < beats[2]
    assert fake_clock.waits_of("nbflow-heartbeat")[:3] == [history.HEARTBEAT_SECONDS] * 3
    inst.close()


def _local_run(inst, pid: int, started_seconds_ago: float) -> str:
    import socket

    run_id = str(uuid.uuid4())
    inst.sql(
        "INSERT INTO runs (run_id, job_name, status, tags, run_config, root_run_id, start_time, pid, "
        "hostname, heartbeat) VALUES (?, 'local_job', 'STARTED', '{}', '{}', ?, to_timestamp(?), ?, ?, ?)",
        [run_id, run_id, time.time() - started_seconds_ago, pid, socket.gethostname(), time.time()])
    return run_id


def test_a_run_whose_pid_now_belongs_to_a_newer_process_is_interrupted(store_path):
    import subprocess
    import sys

    # The same pid, but a process created after the run started (pids are reused, e.g. after a
    # reboot), is not the run's process; a process that was there before the run started is.
    newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        inst = nf.Instance(store_path)
        inst.runs()
        reused = _local_run(inst, newer.pid, started_seconds_ago=3600)
        owned = _local_run(inst, newer.pid, started_seconds_ago=-60)  # started after the process
        inst.close()

        again = nf.Instance(store_path)
        assert again.get_run(reused).status == "INTERRUPTED"
        assert f"(pid {newer.pid}) ended before the run finished" in again.get_run(reused).error
        assert again.get_run(owned).status == "STARTED"
        again.close()
    finally:
        newer.kill()
        newer.wait()


def test_a_membership_check_that_reopens_the_store_still_marks_dead_runs(store_path):
    inst = nf.Instance(store_path)
    inst.add_dynamic_partitions("eps", ["a"])
    first = _foreign_run(inst, heartbeat_age=history.HEARTBEAT_STALE + 60)
    inst.close()

    # The check answers before the runs are looked at; the background thread looks at them
    # right after, with no other use of the store.
    assert inst.has_dynamic_partition("eps", "a")
    deadline = time.monotonic() + 10
    while inst.store.holder.opening_deferred:
        assert time.monotonic() < deadline, "the runs of dead processes were never looked at"
        time.sleep(0.01)
    assert inst.store.holder.is_open
    assert inst.get_run(first).status == "INTERRUPTED"

    # And a read right after the check looks at them first, whether or not the thread did.
    second = _foreign_run(inst, heartbeat_age=history.HEARTBEAT_STALE + 60)
    inst.close()
    assert inst.has_dynamic_partition("eps", "a")
    assert inst.get_run(second).status == "INTERRUPTED"
    inst.close()
