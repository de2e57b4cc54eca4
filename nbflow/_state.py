"""nbflow's process-wide state in one object: what this kernel defined, what runs in it, and
the clock that waiting code reads.

A leaf module (it imports nothing of nbflow), so every layer can reach it without importing
upward. The modules that own a registry keep a module-level name for it (``JOBS``,
``SENSORS``, ``LIVE``, ...) that is the very container held here: :meth:`RuntimeState.reset`
empties or restores the containers in place, so those names stay valid. Tests take a
:meth:`~RuntimeState.snapshot` before each test and reset to it after (tests/conftest.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Clock:
    """Real time. Code that waits on time (sensor intervals, heartbeats) reads
    ``STATE.clock`` when it waits, so a test can put a clock it moves by hand in its place."""

    def now(self) -> float:
        """Seconds since the epoch, as ``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, as ``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait until ``event`` is set or ``seconds`` pass; whether it was set."""
        return event.wait(seconds)


@dataclass
class Snapshot:
    """Copies of the registries and the clock, for :meth:`RuntimeState.reset`."""

    containers: dict[str, dict[Any, Any] | set[Any]] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)

    def mapping(self, name: str) -> dict[Any, Any]:
        """The copy of registry ``name`` (a dict), empty if there is none."""
        found = self.containers.get(name)
        return found if isinstance(found, dict) else {}


class RuntimeState:
    """The registries of one process, and its clock."""

    def __init__(self) -> None:
        #: op definitions by (module, qualified name, name): a cell run again replaces its op
        self.ops: dict[tuple[str, str, str], Any] = {}
        #: jobs by name, the newest definition (a rerun looks its job up here)
        self.jobs: dict[str, Any] = {}
        #: assets by name, the newest definition
        self.assets: dict[str, Any] = {}
        #: sensors by name, the newest definition (a running loop ticks the newest)
        self.sensors: dict[str, Any] = {}
        #: the default Instance per store file, as ``nf.instance(path)`` returns it
        self.default_instances: dict[str, Any] = {}
        #: NBFLOW_HOME folders already found to be folders
        self.good_homes: set[str] = set()
        #: runs coordinated in this process that have not finished, by run id
        self.live_runs: dict[str, Any] = {}
        #: ids of runs executing in this process, whatever Instance started them
        self.running_here: set[str] = set()
        #: running sensor loops by (store path, sensor name)
        self.sensor_runners: dict[tuple[str, str], Any] = {}
        #: views to tell about a sensor's ticks, by sensor name (weak sets)
        self.tick_listeners: dict[str, Any] = {}
        #: partition writes this process made, per store file
        self.partition_writes: dict[str, int] = {}
        self.clock: Clock = Clock()
        self._before_reset: dict[str, Callable[[Snapshot | None], None]] = {}
        self._close_last: dict[str, bool] = {}

    def containers(self) -> dict[str, dict[Any, Any] | set[Any]]:
        """Every registry by its name here."""
        return {name: value for name, value in vars(self).items() if isinstance(value, dict | set)
                and not name.startswith("_")}

    def snapshot(self) -> Snapshot:
        return Snapshot({name: value.copy() for name, value in self.containers().items()}, self.clock)

    def before_reset(self, name: str, hook: Callable[[Snapshot | None], None], last: bool = False) -> None:
        """Have ``hook(to)`` called first by each reset: the owner of a registry stops what
        it started since ``to`` (sensor loops) or closes it (store files, ``last=True``: what
        is stopped first may still write). One hook per name."""
        self._before_reset[name] = hook
        self._close_last[name] = last

    def reset(self, to: Snapshot | None = None) -> None:
        """Put every registry back to ``to`` (empty without it) and the clock back to ``to``'s
        (real time without it). Meant for when nothing runs (between tests): sensor loops and
        default instances that are not in ``to`` are stopped and closed first."""
        for name in sorted(self._before_reset, key=lambda n: self._close_last[n]):
            self._before_reset[name](to)
        for name, container in self.containers().items():
            saved = to.containers.get(name) if to is not None else None
            container.clear()
            if (isinstance(container, dict) and isinstance(saved, dict)) or (isinstance(container, set) and isinstance(saved, set)):
                container.update(saved)
        self.clock = to.clock if to is not None else Clock()


#: The one state of this process.
STATE = RuntimeState()
