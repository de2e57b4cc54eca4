"""A partitioned asset that waits, for the cross-process status test.

Run by a child process: ``python -m tests.partitions.slow_asset STORE KEY MARKER``. The asset
touches MARKER once it runs, then sleeps until the test kills the process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbflow as nf

episodes = nf.DynamicPartitionsDefinition("slow_episodes")


@nf.asset(partitions_def=episodes)
def slow_transcript(context):
    Path(sys.argv[3]).touch()
    time.sleep(120)
    return context.partition_key


if __name__ == "__main__":
    nf.materialize([slow_transcript], partition_key=sys.argv[2], instance=nf.Instance(sys.argv[1]))
