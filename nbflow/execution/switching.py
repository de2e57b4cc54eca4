"""How soon a thread waiting for the interpreter gets it, while a run goes on.

A run's thread is busy in Python most of the time, and threads beside it need the
interpreter now and then: the store's flusher between the steps of a DuckDB write, a pool's
threads handing back results. Python lets a waiting thread in only after the running one has
held the interpreter for the switch interval (5 ms by default), and DuckDB takes it back
between the tasks of every statement. At 100,000 items the flusher spent four fifths of each
write waiting, fell behind, and the rows it had not yet written were most of the run's
memory. For the length of a run the interval is lowered to :data:`RUN_SWITCH_INTERVAL`
(figures: ``bench/README.md``); it is put back when the last run of the process ends, unless
someone else changed it meanwhile.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: seconds: the longest a thread holds the interpreter while another waits, during a run
RUN_SWITCH_INTERVAL = 0.001

_lock = threading.Lock()
_runs = 0  # runs going on in this process
_before: float | None = None  # the interval before the first of them
_ours: float | None = None  # the interval they set


@contextmanager
def prompt_switching() -> Iterator[None]:
    """Lower the switch interval to :data:`RUN_SWITCH_INTERVAL` inside the block (never raise
    it); concurrent and nested blocks share one change, undone when the last one leaves."""
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _runs, _before, _ours
    with _lock:
        if _runs == 0:
            _before = sys.getswitchinterval()
            if _before > RUN_SWITCH_INTERVAL:
                sys.setswitchinterval(RUN_SWITCH_INTERVAL)
            _ours = sys.getswitchinterval()  # as Python keeps it: in whole microseconds
        _runs += 1


def _leave() -> None:
    global _runs, _before, _ours
    with _lock:
        _runs -= 1
        if _runs == 0 and _before is not None:
            if sys.getswitchinterval() == _ours and _ours != _before:
                sys.setswitchinterval(_before)
            _before = _ours = None
