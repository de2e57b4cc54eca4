"""Sensors ticking in the background: one thread per running sensor, in this process.

A thread ticks, executes the runs the tick launched, then waits out the rest of the
interval (so ticks never overlap). A failing sensor backs off (the wait doubles with
each consecutive failure, up to an hour) and pauses itself after its
``max_consecutive_failures``. Threads are daemons and are stopped at interpreter exit,
so a kernel shutting down stops its sensors.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
from typing import Any, cast

from nbflow._liveness import process_alive
from nbflow._state import STATE, Snapshot
from nbflow.definitions.status import Status
from nbflow.errors import NbflowError

MAX_BACKOFF = 3600.0
STOP_GRACE = 1.0  # how long start() waits for a stopping loop's tick to return

_runners: dict[tuple[str, str], SensorRunner] = STATE.sensor_runners
_lock = threading.Lock()


def backoff(interval: float, failures: int) -> float:
    """The wait after ``failures`` consecutive failed ticks."""
    if failures <= 0:
        return interval
    return min(interval * cast(int, 2 ** failures), max(interval, MAX_BACKOFF))  # int ** int is typed Any: a negative power is a float


class SensorRunner:
    """The background loop of one sensor against one instance."""

    def __init__(self, name: str, instance: Any, quiet: bool = True) -> None:
        self.name, self.instance, self.quiet = name, instance, quiet
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"nbflow-sensor-{name}", daemon=True)
        self.ticks = 0
        self.last_tick: Any = None

    def start(self) -> None:
        from nbflow.runtime.ticks import notify

        self.instance.store.sensors.set_status(self.name, "RUNNING", reset_failures=True)
        self.thread.start()
        notify(self.name)

    def _loop(self) -> None:
        from nbflow import capture
        from nbflow.runtime.ticks import execute_queued, run_tick
        from nbflow.sensors.definition import SENSORS

        if self.quiet:
            capture.set_quiet(True)  # a background thread's output goes to the tick record, not a cell
        paused = False
        try:
            sensor = SENSORS[self.name]
            leftovers = self.instance.store.sensors.queued_runs(self.name)
            execute_queued(sensor, self.instance, leftovers, self.stopping.is_set)
            while not self.stopping.is_set():
                sensor = SENSORS[self.name]  # the newest definition, if the cell was run again
                began = STATE.clock.monotonic()
                tick = run_tick(sensor, self.instance, origin="loop", should_stop=self.stopping.is_set)
                self.ticks, self.last_tick = self.ticks + 1, tick
                wait = sensor.minimum_interval_seconds
                if tick.status == Status.FAILURE:
                    if tick.failures >= sensor.max_consecutive_failures:
                        self._pause(tick)
                        paused = True
                        return
                    wait = backoff(wait, tick.failures)
                STATE.clock.wait(self.stopping, max(0.0, wait - (STATE.clock.monotonic() - began)))
        finally:
            with _lock:
                if _runners.get(self._key) is self:
                    del _runners[self._key]
            if not paused:
                self.instance.store.sensors.set_status(self.name, "STOPPED")
            from nbflow.runtime.ticks import notify

            notify(self.name)

    def _pause(self, tick: Any) -> None:
        last = (tick.error or "").strip().splitlines()
        reason = (f"Paused after {tick.failures} consecutive failed ticks. Last error: "
                  f"{last[-1] if last else 'unknown'}. Fix the sensor, then call .start() again.")
        self.instance.store.sensors.set_status(self.name, "PAUSED", reason)

    @property
    def _key(self) -> tuple[str, str]:
        return (self.instance.path, self.name)

    def stop(self, timeout: float) -> bool:
        self.stopping.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)
        return not self.thread.is_alive()


class SensorStillStoppingError(NbflowError, RuntimeError):
    """A sensor was started while its previous loop is still in a tick that has not returned."""


def start(sensor: Any, instance: Any) -> SensorRunner:
    """Start ``sensor``'s background loop (a no-op if it already runs in this process).

    A loop that was told to stop but is still inside a tick (an evaluation that hangs) is
    given :data:`STOP_GRACE` to end; if it does not, starting again is refused: two loops
    would tick on one cursor.
    """
    from nbflow.sensors.definition import SENSORS

    SENSORS.setdefault(sensor.name, sensor)
    key = (instance.path, sensor.name)
    runner: SensorRunner | None = None
    for attempt in (0, 1):
        with _lock:
            current = _runners.get(key)
            if current is None or not current.thread.is_alive():
                runner = _runners[key] = SensorRunner(sensor.name, instance)
            elif not current.stopping.is_set():
                return current
        if runner is not None:
            runner.start()
            return runner
        if attempt == 0 and current is not None:
            current.thread.join(STOP_GRACE)
    raise SensorStillStoppingError(
        f"Sensor '{sensor.name}' is still stopping: its current tick has not returned (a tick in "
        f"progress cannot be interrupted), and starting it again now would run two loops on one "
        f"cursor. Call .start() again once the tick returns (.get_status() then says 'stopped'); "
        f"if the evaluation hangs, fix what it waits for."
    )


def stop(name: str, instance: Any, timeout: float = 10.0) -> bool:
    """Stop ``name``'s loop in this process; True once its thread has ended."""
    with _lock:
        runner = _runners.get((instance.path, name))
    if runner is None:
        state = instance.store.sensors.state(name)
        if state.status == "PAUSED":  # stopping a paused sensor clears the pause
            instance.store.sensors.set_status(name, "STOPPED")
        return True
    return runner.stop(timeout)


def stop_all(timeout: float = 5.0) -> list[str]:
    """Stop every sensor running in this process; return their names."""
    with _lock:
        runners = list(_runners.values())
    for runner in runners:
        runner.stopping.set()
    deadline = time.monotonic() + timeout
    for runner in runners:
        runner.thread.join(max(0.0, deadline - time.monotonic()))
    return [runner.name for runner in runners]


def running_here(name: str, instance: Any) -> SensorRunner | None:
    with _lock:
        runner = _runners.get((instance.path, name))
    return runner if runner is not None and runner.thread.is_alive() else None


def status(name: str, instance: Any) -> tuple[str, str | None]:
    """``(status, detail)``: running here or in another process, stopped, or paused with why."""
    runner = running_here(name, instance)
    if runner is not None:
        return ("stopping" if runner.stopping.is_set() else "running"), None
    state = instance.store.sensors.state(name)
    if state.status == "PAUSED":
        return "paused", state.reason
    if state.status == "RUNNING" and state.pid and state.pid != os.getpid() \
            and state.hostname == socket.gethostname() and process_alive(state.pid, state.started_at):
        return "running", f"in process {state.pid}"
    return "stopped", None


def _stop_loops_started_since(to: Snapshot | None) -> None:
    """Before the state is reset: stop the loops that are not in ``to``."""
    kept = to.mapping("sensor_runners") if to is not None else {}
    with _lock:
        started = [runner for key, runner in _runners.items() if kept.get(key) is not runner]
    for runner in started:
        runner.stopping.set()
    for runner in started:
        runner.thread.join(STOP_GRACE * 5)


atexit.register(stop_all)
STATE.before_reset("sensor_runners", _stop_loops_started_since)
