"""Partitioned runs across definitions, applying requests, and newest op definitions."""

from __future__ import annotations

import pytest

import nbflow as nf


def test_asset_status_counts_only_runs_of_its_own_definition(instance):
    first = nf.DynamicPartitionsDefinition("episodes_v1")
    second = nf.DynamicPartitionsDefinition("episodes_v2")
    first.add(["x"], instance=instance)
    second.add(["x"], instance=instance)

    @nf.asset(partitions_def=first)
    def shared_name(context):
        return 1

    nf.materialize([shared_name], partition_key="x", instance=instance)

    @nf.asset(partitions_def=second)
    def shared_name(context):  # the same asset name under another definition
        return 2

    assert shared_name.status(instance=instance).status.tolist() == ["missing"]
    assert first.status("shared_name", instance=instance).status.tolist() == ["materialized"]


def test_requests_are_applied_by_the_instance(instance):
    episodes = nf.DynamicPartitionsDefinition("eps")
    added = instance.apply_partitions_request(episodes.build_add_request(["a", "b"]), source="sensor", source_id="t1")
    assert added.added == ["a", "b"]
    deleted = instance.apply_partitions_request(episodes.build_delete_request(["a", "zz"]))
    assert (deleted.deleted, deleted.missing) == (["a"], ["zz"])
    assert episodes.keys(instance=instance) == ["b"]
    assert episodes.history(instance=instance).source.tolist() == ["sensor", "sensor", "api"]
    with pytest.raises(nf.PartitionsError, match=r"apply_partitions_request takes a request from build_add_request"):
        instance.apply_partitions_request(["a"])


def test_unknown_partition_message_says_how_to_add_it(instance):
    episodes = nf.DynamicPartitionsDefinition("podcast_episodes")
    episodes.add(["ep-01"], instance=instance)

    @nf.op
    def noop():
        return None

    @nf.job(partitions_def=episodes)
    def per_episode():
        noop()

    with pytest.raises(
        nf.UnknownPartitionError,
        match=r"Could not find a partition with key 'ep-02' in DynamicPartitionsDefinition 'podcast_episodes'. "
        r"Add it first with .add\(\[...\]\) on the definition, or "
        r"instance.add_dynamic_partitions\('podcast_episodes', \[...\]\). Valid ones \(closest first\): 'ep-01'.",
    ):
        per_episode.run(partition_key="ep-02", instance=instance)
    assert instance.runs().empty


def test_a_job_runs_the_newest_definition_of_its_ops(instance):
    episodes = nf.DynamicPartitionsDefinition("fixable")
    episodes.add(["a", "b"], instance=instance)

    @nf.asset(partitions_def=episodes)
    def transcript(context):
        if context.partition_key == "b":
            raise ValueError("bad")
        return 1

    job = nf.define_asset_job("fixable_job", [transcript])
    assert job.backfill(instance=instance, progress=False).failed == ["b"]

    @nf.asset(partitions_def=episodes)
    def transcript(context):  # the fix, typed into the asset's cell
        return 1

    again = job.backfill(select="failed", instance=instance, progress=False)
    assert again.failed == [] and again.succeeded == ["b"]


def test_closest_matches_stay_quick_and_relevant_among_many_keys():
    from nbflow.errors import closest

    keys = [f"episode-{i}" for i in range(200_000)] + ["trailer"]
    assert closest("episode-1999999", keys)[0].startswith("episode-1999")
    assert closest("trailr", keys)[0] == "trailer"


def test_the_store_suggests_the_keys_one_typo_away_among_many(instance):
    keys = [f"episode {i:06d} / part|{i % 97}, ok" for i in range(200_000)] + ["trailer"]
    instance.add_dynamic_partitions("many_episodes", keys)
    target = "episode 123456 / part|72, ok"
    for typo in ("epsiode 123456 / part|72, ok",   # letters swapped near the start
                 "episode-123456 / part|72, ok",   # a separator replaced (Jaro-Winkler alone misses it)
                 "Episode 123456 / part|72, ok",   # case
                 "episode 123456 / part|72,ok"):   # a character dropped near the end
        assert instance.closest_dynamic_partitions("many_episodes", typo)[0] == target, typo
    assert instance.closest_dynamic_partitions("many_episodes", "trailr")[0] == "trailer"
    assert len(instance.closest_dynamic_partitions("many_episodes", "e", n=3)) == 3
    assert instance.closest_dynamic_partitions("no_such_definition", "x") == []


def test_an_unknown_key_in_a_large_definition_names_the_right_key(instance):
    episodes = nf.DynamicPartitionsDefinition("large_episodes")
    episodes.add([f"show-{i:05d}-take-{i % 7}" for i in range(50_000)], instance=instance)

    @nf.op
    def noop():
        return None

    @nf.job(partitions_def=episodes)
    def per_show():
        noop()

    with pytest.raises(nf.UnknownPartitionError,
                       match=r"Valid ones \(closest first\): 'show-01234-take-2'"):
        per_show.run(partition_key="shwo-01234-take-2", instance=instance)
