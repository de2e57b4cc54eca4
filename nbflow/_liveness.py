"""Whether a process of this host that a run or a sensor loop recorded is still running.

A leaf module (imports nothing of nbflow), so the store and the sensors can both ask it.
psutil asks the operating system without signalling the process (``os.kill(pid, 0)`` is a
liveness probe on POSIX only: on Windows it terminates the process).
"""

from __future__ import annotations

# psutil's create_time is derived from the boot time and clock ticks: allow for its rounding.
_CREATE_TIME_SLACK = 2.0


def process_alive(pid: int, started_at: float | None = None) -> bool:
    """Whether process ``pid`` is running (a zombie, killed but not reaped, is not).

    ``started_at`` (epoch seconds) is when the process meant was known to be running, e.g.
    when it started a run: a process with the same pid created after that is another one that
    reuses the number (after a reboot, say), so the one meant is gone.
    """
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if started_at is not None and process.create_time() > started_at + _CREATE_TIME_SLACK:
            return False
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists
        return True
    return True
