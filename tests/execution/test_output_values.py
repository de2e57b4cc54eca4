"""Live resources are refused as outputs, with what to return instead; data is not."""

from __future__ import annotations

import io
import re
import socket
import threading

import pytest

import nbflow as nf
from nbflow.execution.values import UnstorableOutputError, check_storable
from nbflow.store.serialize import UNSTORED, encode


def _file():
    return open("/dev/zero", "rb")


def _generator():
    yield 1


LIVE = [
    (_file, r"returned an open file \(<_io.BufferedReader name='/dev/zero'>\) as output 'result'\. "
            r"Outputs are stored and passed to the steps that follow, so they must be data: return its "
            r"contents \(f\.read\(\)\) or its path instead\."),
    (lambda: socket.socket(), r"returned a socket .*return the data received from it instead"),
    (_generator, r"returned a generator .*return a list of its items \(list\(\.\.\.\)\), or yield DynamicOutputs"),
    (threading.Lock, r"returned a lock .*return the data it guards instead"),
    (lambda: [1, {"f": _file()}], r"returned a list holding a dict holding an open file"),
]


@pytest.mark.parametrize(("make", "message"), LIVE)
def test_an_op_returning_a_live_resource_fails_saying_what_to_return(instance, make, message):
    @nf.op
    def leaky():
        return make()

    @nf.job
    def leaky_job():
        leaky()

    run = leaky_job.run(instance=instance)
    assert run.status == "FAILURE"
    error = run.steps().set_index("step_key").error["leaky"]
    assert "UnstorableOutputError" in error
    assert re.search(message, error), error


def test_a_mapped_item_that_is_a_file_is_refused(instance):
    @nf.op(out=nf.DynamicOut())
    def handles():
        yield nf.DynamicOutput(_file(), mapping_key="zero")

    @nf.job
    def fan_files():
        handles()

    run = fan_files.run(instance=instance)
    assert "returned an open file" in run.steps().set_index("step_key").error["handles"]


def test_data_is_not_refused_and_live_values_are_never_read_when_stored():
    check_storable("op", "result", [io.BytesIO(b"x"), {"a": (1, 2)}, "text"])
    with pytest.raises(UnstorableOutputError, match="op 'op' returned an open file"):
        check_storable("op", "result", _file())
    kind, text, blob, _ = encode(_file())
    assert kind == UNSTORED and "an open file" in text and blob is None
