"""``nbflow sensors run | list | tick``."""

from __future__ import annotations

import os
import runpy
import signal
import sys
import time
from typing import Any

from nbflow.definitions.status import Status


class CliError(Exception):
    """A mistake on the command line: printed, exit status 2."""


def load_sensors(path: str) -> dict[str, Any]:
    """Execute a definitions file; return the sensors it defined, by name."""
    from nbflow.sensors.definition import SENSORS

    if not os.path.isfile(path):
        raise CliError(f"{path}: no such file. Give the Python file that defines your jobs and sensors.")
    before = dict(SENSORS)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))  # its own imports, as when run directly
    try:
        runpy.run_path(path, run_name="__nbflow_definitions__")
    except Exception as exc:
        raise CliError(f"{path} raised {type(exc).__name__}: {exc}") from exc
    defined = {name: s for name, s in SENSORS.items() if before.get(name) is not s}
    if not defined:
        raise CliError(f"{path} defines no sensors (with @sensor).")
    return defined


def _instance(args: Any) -> Any:
    from nbflow.runtime.instance import instance

    return instance(args.store)


class TickPrinter:
    """Prints one line per tick of the sensors it listens to."""

    def __init__(self) -> None:
        self.printed: set[str] = set()

    def refresh(self, tick: Any = None) -> None:
        from nbflow.runtime.ticks import summary

        # Views are told twice about a tick that launched runs (applied, then runs done).
        if tick is None or tick.tick_id in self.printed:
            return
        self.printed.add(tick.tick_id)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(tick.start))
        print(f"{stamp} {tick.sensor} {tick.status}: {summary(tick._record)}", file=sys.stderr, flush=True)


def run_sensors(args: Any) -> int:
    from nbflow.errors import did_you_mean
    from nbflow.runtime import sensor_loop as runner
    from nbflow.runtime import ticks as tick

    sensors = load_sensors(args.file)
    if args.sensor:
        unknown = [name for name in args.sensor if name not in sensors]
        if unknown:
            raise CliError(f"{args.file} defines no sensor {unknown[0]!r}. "
                           f"{did_you_mean(unknown[0], sorted(sensors))}")
        sensors = {name: sensors[name] for name in args.sensor}
    inst = _instance(args)
    printer = TickPrinter()
    # Both always: a process started with SIGINT ignored (nohup, a shell's background job,
    # some CI runners) has no KeyboardInterrupt on Ctrl-C unless a handler is installed.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    for name, sensor in sensors.items():
        tick.listen(name, printer)
        sensor.start(instance=inst)
        print(f"{name}: ticking every {sensor.minimum_interval_seconds:g} s against {inst.path}",
              file=sys.stderr, flush=True)
    try:
        while any(runner.running_here(name, inst) for name in sensors):
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("Stopping sensors...", file=sys.stderr, flush=True)
        runner.stop_all(timeout=30)
        return 0
    for name in sensors:  # every loop ended by itself: each paused after failing
        print(f"{name}: {inst.store.sensors.state(name).reason}", file=sys.stderr)
    return 1


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM (and an inherited-ignored SIGINT) stop as cleanly as Ctrl-C


def list_sensors(args: Any) -> int:
    from nbflow.runtime.sensor_loop import status

    inst = _instance(args)
    for name, sensor in load_sensors(args.file).items():
        state, detail = status(name, inst)
        jobs = ", ".join(job.name for job in sensor.jobs) or "no job"
        cursor = inst.store.sensors.state(name).cursor
        print(f"{name}\t{jobs}\tevery {sensor.minimum_interval_seconds:g} s\t{state}"
              f"{' (' + detail + ')' if detail else ''}\tcursor {cursor!r}")
    return 0


def tick_sensor(args: Any) -> int:
    from nbflow.errors import did_you_mean
    from nbflow.runtime.ticks import summary

    sensors = load_sensors(args.file)
    if args.name not in sensors:
        raise CliError(f"{args.file} defines no sensor {args.name!r}. {did_you_mean(args.name, sorted(sensors))}")
    result = sensors[args.name].tick(instance=_instance(args))
    print(f"{result.status}: {summary(result._record)}")
    if result.status == Status.FAILURE:
        print(result.error, file=sys.stderr)
        return 1
    return 0
