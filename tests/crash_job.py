"""A job for the crash-recovery test, importable by a child process and by the test."""

import os
import time
from pathlib import Path

import nbflow as nf

KEYS = [f"k{i:02d}" for i in range(30)]


@nf.op(out=nf.DynamicOut())
def emit():
    for i, key in enumerate(KEYS):
        yield nf.DynamicOutput(i, mapping_key=key)


@nf.op
def slow_square(context, x):
    delay = float(os.environ.get("CRASH_JOB_DELAY", "0"))
    time.sleep(delay)
    marker = os.environ.get("CRASH_JOB_MARKERS")
    if marker:
        Path(marker, context.get_mapping_key()).touch()
    return x * x


@nf.op
def total(values):
    return sum(values)


@nf.job
def crash_job():
    total(emit().map(slow_square).collect())


if __name__ == "__main__":
    crash_job.run(instance=nf.instance(os.environ["CRASH_JOB_STORE"]))
