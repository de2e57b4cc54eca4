"""Sensor fixtures: the podcast example of the docs, with a fake feed, and cleanup of loops."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import nbflow as nf
from nbflow.runtime import sensor_loop as runner


@pytest.fixture(autouse=True)
def _stop_sensor_loops():
    yield
    runner.stop_all(timeout=10)


@dataclass
class Episode:
    id: str
    etag: str


class Feed:
    """A fake RSS feed: episodes in order; the cursor is the etag of the newest seen."""

    def __init__(self, n: int = 0) -> None:
        self.episodes: list[Episode] = []
        self.publish(n)

    def publish(self, n: int = 1) -> None:
        for _ in range(n):
            i = len(self.episodes) + 1
            self.episodes.append(Episode(f"ep-{i}", f"etag-{i}"))

    def since(self, cursor: str | None) -> list[Episode]:
        etags = [e.etag for e in self.episodes]
        start = etags.index(cursor) + 1 if cursor in etags else 0
        return self.episodes[start:]


@pytest.fixture
def podcast():
    """The seed example verbatim (with ``import nbflow as dg``) over a fake feed."""
    dg = nf
    feed = Feed(2)
    check_rss_feed = feed.since

    rss_entry_partition = dg.DynamicPartitionsDefinition(name="podcast_episodes")

    @dg.op
    def transcribe(context) -> str:
        return f"transcript of {context.partition_key}"

    @dg.job(partitions_def=rss_entry_partition)
    def transcription_job():
        transcribe()

    @dg.sensor(job=transcription_job, minimum_interval_seconds=600)
    def new_episode_sensor(context: dg.SensorEvaluationContext):
        new_episodes = check_rss_feed(context.cursor)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=ep.id) for ep in new_episodes],
            dynamic_partitions_requests=[rss_entry_partition.build_add_request(partition_keys=[ep.id for ep in new_episodes])],
            cursor=new_episodes[-1].etag if new_episodes else context.cursor,
        )

    return new_episode_sensor, feed, rss_entry_partition, transcription_job
