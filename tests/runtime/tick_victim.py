"""A process that ticks the podcast sensor and is killed at a chosen point of the tick.

Usage: python tick_victim.py STORE STAGE, STAGE one of partitions / runs / cursor
(killed inside the tick's transaction) or committed (killed right after it).
"""

from __future__ import annotations

import os
import signal
import sys

import nbflow as nf
from nbflow.runtime import ticks as tick_module


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(store: str, stage: str) -> None:
    episodes = nf.DynamicPartitionsDefinition(name="podcast_episodes")

    @nf.op
    def transcribe(context) -> str:
        return context.partition_key

    @nf.job(partitions_def=episodes)
    def transcription_job():
        transcribe()

    @nf.sensor(job=transcription_job)
    def new_episode_sensor(context):
        ids = ["ep-1", "ep-2", "ep-3"]
        return nf.SensorResult(
            run_requests=[nf.RunRequest(run_key=i, partition_key=i) for i in ids],
            dynamic_partitions_requests=[episodes.build_add_request(ids)],
            cursor="etag-3",
        )

    inst = nf.Instance(store)
    if stage == "committed":
        new_episode_sensor.tick(instance=inst, execute=False)
        die()
    tick_module._checkpoint = lambda at: die() if at == stage else None
    new_episode_sensor.tick(instance=inst, execute=False)
    raise SystemExit("the tick should have been killed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
