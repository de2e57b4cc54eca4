"""The one vocabulary of run, step and node states, and how a node's state is derived.

The values are the strings stored in ``runs.status`` and ``steps.status``, so that
``instance.sql("... where status = 'FAILURE'")`` reads the same words that code compares
with. :class:`Status` is a ``StrEnum``: a member *is* its string (``Status.SUCCESS ==
"SUCCESS"``), so code can compare stored strings with members directly.

Examples
--------
>>> node_status({"SUCCESS": 40, "FAILURE": 1})
'FAILURE'
>>> node_status({"SUCCESS": 40, "SKIPPED": 2})
'SUCCESS'
>>> node_status({})
'PENDING'
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Status(StrEnum):
    """The state of a run or a step as stored, plus ``PENDING`` for a node with no step yet."""

    QUEUED = "QUEUED"  # a run a sensor tick requested, not started yet
    STARTED = "STARTED"  # a run or step going on
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    SKIPPED = "SKIPPED"  # a step not run because something upstream failed or was skipped
    CANCELED = "CANCELED"
    INTERRUPTED = "INTERRUPTED"  # a run whose process went away while it ran
    PENDING = "PENDING"  # a node no step of which is recorded yet (drawn, never stored)


#: A run in one of these states is over: its record no longer changes.
TERMINAL_RUN_STATES: frozenset[str] = frozenset(
    {Status.SUCCESS, Status.FAILURE, Status.CANCELED, Status.INTERRUPTED})

#: How a node's state follows from its steps' states, most telling first: one failed key
#: makes a mapped node "failed", one step still going on makes it "running", and a node
#: whose steps all succeeded except skipped ones succeeded.
NODE_STATE_PRECEDENCE: tuple[Status, ...] = (
    Status.FAILURE,
    Status.STARTED,
    Status.CANCELED,
    Status.INTERRUPTED,
    Status.QUEUED,
    Status.SUCCESS,
    Status.SKIPPED,
)

#: The order in which counts per state are listed (graph labels, the details panel).
DISPLAY_ORDER: tuple[Status, ...] = (
    Status.SUCCESS,
    Status.FAILURE,
    Status.STARTED,
    Status.SKIPPED,
    Status.CANCELED,
    Status.INTERRUPTED,
    Status.QUEUED,
)


def node_status(counts: Mapping[str, int]) -> str:
    """A node's state from how many of its steps are in each state (``{status: count}``).

    ``PENDING`` when no step is counted; the most telling state present by
    :data:`NODE_STATE_PRECEDENCE`; a state this table does not know (from a newer store)
    is shown as it is stored.
    """
    for status in NODE_STATE_PRECEDENCE:
        if counts.get(status):
            return status.value  # a plain str: it travels to views and prints as stored
    for found, n in counts.items():
        if n:
            return str(found)
    return Status.PENDING.value


def in_display_order(counts: Mapping[str, int]) -> dict[str, int]:
    """``counts`` without zeros, known states in :data:`DISPLAY_ORDER`, then unknown ones by name."""
    known = [s for s in DISPLAY_ORDER if counts.get(s)]
    unknown = sorted(s for s, n in counts.items() if n and s not in DISPLAY_ORDER)
    return {str(s): counts[s] for s in (*known, *unknown)}
