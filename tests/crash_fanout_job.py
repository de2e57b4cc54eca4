"""A fan-out with two chained maps and DataFrame outputs, for the randomized crash suite.

Run as a child process (``python -m tests.crash_fanout_job``) that the suite SIGKILLs at a
random moment; the suite imports it too, for the job's definition and its oracle.
"""

import os
import time

import nbflow as nf

N_KEYS = 16


def _pause(name: str) -> None:
    time.sleep(float(os.environ.get(name, "0")))


@nf.op(out=nf.DynamicOut())
def emit():
    for i in range(N_KEYS):
        yield nf.DynamicOutput(i, mapping_key=f"k{i:02d}")
        _pause("CRASH_EMIT_DELAY")


@nf.op
def to_frame(x):
    import pandas as pd

    _pause("CRASH_STEP_DELAY")
    return pd.DataFrame({"v": [x, x + 1], "name": [f"a{x}", f"b{x}"]})


@nf.op
def summed(frame):
    _pause("CRASH_STEP_DELAY")
    return int(frame.v.sum())


@nf.op
def total(values):
    return sum(values)


@nf.job
def crash_fanout_job():
    total(emit().map(to_frame).map(summed).collect())


def expected_summed(i: int) -> int:
    return 2 * i + 1


def expected_total() -> int:
    return sum(expected_summed(i) for i in range(N_KEYS))


if __name__ == "__main__":
    crash_fanout_job.run(instance=nf.instance(os.environ["CRASH_JOB_STORE"]))
