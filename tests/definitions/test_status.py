"""The status vocabulary: stored values, and how a node's state follows from its steps'."""

from __future__ import annotations

import pytest

from nbflow.definitions.status import (
    DISPLAY_ORDER,
    NODE_STATE_PRECEDENCE,
    TERMINAL_RUN_STATES,
    Status,
    in_display_order,
    node_status,
)
from nbflow.viz.states import NodeState


def test_members_are_the_stored_strings():
    assert {s.value for s in Status} == {"QUEUED", "STARTED", "SUCCESS", "FAILURE", "SKIPPED", "CANCELED",
                                         "INTERRUPTED", "PENDING"}
    for status in Status:
        assert status == status.value and status.name == status.value
        assert {status.value: 1}[status] == 1  # a member finds the stored string's key


@pytest.mark.parametrize(("counts", "expected"), [
    ({}, "PENDING"),
    ({"SUCCESS": 0}, "PENDING"),
    ({"SUCCESS": 3}, "SUCCESS"),
    ({"SUCCESS": 4990, "SKIPPED": 7}, "SUCCESS"),  # skipped keys do not hide what succeeded
    ({"SKIPPED": 2}, "SKIPPED"),
    ({"SUCCESS": 4990, "FAILURE": 1, "STARTED": 3}, "FAILURE"),  # one failed key marks the node
    ({"SUCCESS": 10, "STARTED": 1}, "STARTED"),
    ({"STARTED": 1, "CANCELED": 4}, "STARTED"),
    ({"SUCCESS": 5, "CANCELED": 4}, "CANCELED"),
    ({"SUCCESS": 5, "INTERRUPTED": 1}, "INTERRUPTED"),
    ({"CANCELED": 1, "INTERRUPTED": 1}, "CANCELED"),
    ({"QUEUED": 1, "SUCCESS": 1}, "QUEUED"),
    ({"NEWER_STATE": 2}, "NEWER_STATE"),  # a state from a newer store shows as stored
    ({"NEWER_STATE": 2, "SUCCESS": 1}, "SUCCESS"),
])
def test_node_state_follows_the_precedence_table(counts, expected):
    found = node_status(counts)
    assert found == expected and type(found) is str
    assert NodeState(dict(counts)).status == expected


def test_precedence_is_a_strict_order_of_every_stored_state():
    assert len(set(NODE_STATE_PRECEDENCE)) == len(NODE_STATE_PRECEDENCE)
    assert set(NODE_STATE_PRECEDENCE) == set(Status) - {Status.PENDING}
    for i, higher in enumerate(NODE_STATE_PRECEDENCE):
        for lower in NODE_STATE_PRECEDENCE[i + 1:]:
            assert node_status({lower: 5, higher: 1}) == higher


def test_terminal_states_and_display_order():
    assert {"SUCCESS", "FAILURE", "CANCELED", "INTERRUPTED"} == TERMINAL_RUN_STATES
    assert set(DISPLAY_ORDER) == set(NODE_STATE_PRECEDENCE)
    shown = in_display_order({"SKIPPED": 2, "ZED": 1, "FAILURE": 1, "SUCCESS": 9, "CANCELED": 0, "ABC": 3})
    assert list(shown) == ["SUCCESS", "FAILURE", "SKIPPED", "ABC", "ZED"]
    assert shown["SUCCESS"] == 9 and all(type(k) is str for k in shown)
