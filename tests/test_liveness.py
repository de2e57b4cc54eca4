"""Process liveness asks the operating system through psutil, never by signalling."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from nbflow._liveness import process_alive


def test_a_running_process_is_alive_and_an_ended_one_is_not():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(child.pid)
        assert process_alive(os.getpid(), started_at=time.time())
    finally:
        child.kill()
    # killed but not reaped yet: a zombie counts as ended
    deadline = time.monotonic() + 10
    while process_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not process_alive(child.pid)
    child.wait()
    assert not process_alive(child.pid)


def test_a_process_created_after_the_given_start_is_another_one():
    assert not process_alive(os.getpid(), started_at=time.time() - 3600 * 24 * 365)
    assert process_alive(os.getpid(), started_at=time.time() + 60)

