"""Ticks: evaluate and apply in one transaction; the seed example; run keys; cursors; failures."""

from __future__ import annotations

import re

import pytest

import nbflow as nf
from nbflow.runtime import ticks as tick_module


def test_seed_example_after_two_ticks(podcast, instance):
    sensor, feed, episodes, _job = podcast
    first = sensor.tick(instance=instance)
    feed.publish(1)
    second = sensor.tick(instance=instance)

    assert (first.status, second.status) == ("SUCCESS", "SUCCESS")
    assert episodes.keys(instance=instance) == ["ep-1", "ep-2", "ep-3"]
    runs = instance.runs()
    assert sorted(runs.partition_key) == ["ep-1", "ep-2", "ep-3"]
    assert set(runs.status) == {"SUCCESS"} and set(runs.job_name) == {"transcription_job"}
    assert instance.get_run(second.run_ids[0]).output("transcribe") == "transcript of ep-3"
    assert sensor.get_cursor(instance) == "etag-3"
    ticks = sensor.ticks(instance=instance)
    assert ticks.status.tolist() == ["SUCCESS", "SUCCESS"]
    assert ticks.cursor_before.tolist() == ["etag-2", None]
    assert ticks.cursor_after.tolist() == ["etag-3", "etag-2"]
    assert ticks.partitions_added.tolist() == [{"podcast_episodes": ["ep-3"]},
                                               {"podcast_episodes": ["ep-1", "ep-2"]}]
    assert [len(ids) for ids in ticks.run_ids] == [1, 2]
    assert sensor.cursor_history(instance).cursor.tolist() == ["etag-2", "etag-3"]
    history = episodes.history(instance=instance)
    assert set(history.source) == {"sensor"} and set(history.source_id) == set(ticks.tick_id)


def test_a_tick_with_nothing_new_is_skipped_and_keeps_the_cursor(podcast, instance):
    sensor, _, _, _ = podcast
    sensor.tick(instance=instance)
    again = sensor.tick(instance=instance)
    assert again.status == "SKIPPED"
    assert again.skip_reason == "Nothing new: no runs requested and no partitions changed"
    assert again.cursor_before == again.cursor_after == "etag-2"
    assert len(instance.runs()) == 2


def test_execute_false_leaves_runs_queued_and_start_executes_them(podcast, instance):
    sensor, *_ = podcast
    tick = sensor.tick(instance=instance, execute=False)
    assert set(instance.runs().status) == {"QUEUED"}
    assert sorted(instance.store.sensors.queued_runs(sensor.name)) == sorted(tick.run_ids)
    tick_module.execute_queued(sensor, instance, tick.run_ids)
    assert set(instance.runs().status) == {"SUCCESS"}
    assert len(instance.runs()) == 2  # the queued rows became the runs, not extra ones


def test_runs_carry_sensor_tags(podcast, instance):
    sensor, *_ = podcast
    tick = sensor.tick(instance=instance)
    tags = tick.runs[0].tags
    assert tags["nbflow/sensor_name"] == "new_episode_sensor"
    assert tags["nbflow/tick"] == tick.tick_id


def _keyed_sensor(keys, job):
    @nf.sensor(job=job)
    def keyed(context):
        return [nf.RunRequest(run_key=k) for k in keys]

    return keyed


@pytest.fixture
def plain_job():
    @nf.op
    def one():
        return 1

    @nf.job
    def plain():
        one()

    return plain


def test_run_keys_deduplicate_and_can_be_forgotten(plain_job, instance):
    keys = ["a", "b", "a"]
    sensor = _keyed_sensor(keys, plain_job)
    first = sensor.tick(instance=instance)
    assert len(first.run_ids) == 2 and first.run_keys_skipped == ["a"]
    second = sensor.tick(instance=instance)
    assert second.status == "SKIPPED" and second.run_ids == []
    assert second.run_keys_skipped == ["a", "b", "a"]
    assert "already launched with run keys" in second.skip_reason
    assert sensor.run_keys(instance).run_key.tolist() == ["a", "b"]
    assert sensor.forget_run_keys(["a"], instance=instance) == 1
    third = sensor.tick(instance=instance)
    assert len(third.run_ids) == 1 and third.run_keys_skipped == ["b", "a"]
    assert len(instance.runs()) == 3


def test_resetting_the_cursor_does_not_relaunch_keyed_runs(plain_job, instance):
    @nf.sensor(job=plain_job)
    def from_cursor(context):
        start = int(context.cursor or 0)
        return nf.SensorResult([nf.RunRequest(run_key=str(i)) for i in range(start, 3)], cursor="3")

    from_cursor.tick(instance=instance)
    from_cursor.reset_cursor(instance=instance)
    assert from_cursor.get_cursor(instance) is None
    again = from_cursor.tick(instance=instance)
    assert again.run_ids == [] and again.run_keys_skipped == ["0", "1", "2"]
    assert from_cursor.cursor_history(instance).source.tolist() == ["tick", "reset", "tick"]


def test_set_cursor_is_seen_by_the_next_tick(plain_job, instance):
    seen = []

    @nf.sensor(job=plain_job)
    def watcher(context):
        seen.append(context.cursor)

    watcher.set_cursor("42", instance=instance)
    watcher.tick(instance=instance)
    assert seen == ["42"]


def test_a_sensor_that_raises_records_failure_and_keeps_the_cursor(podcast, instance):
    sensor, _feed, _episodes, _ = podcast
    sensor.tick(instance=instance)

    @nf.sensor(job=podcast[3], name="new_episode_sensor")
    def broken(context):
        print("looking at", context.cursor)
        raise ConnectionError("feed unreachable")

    tick = broken.tick(instance=instance)
    assert tick.status == "FAILURE"
    assert "Error occurred during the execution of evaluation_fn for sensor new_episode_sensor" in tick.error
    assert "ConnectionError: feed unreachable" in tick.error
    assert [line[3] for line in tick.logs] == ["looking at etag-2"]
    assert broken.get_cursor(instance) == "etag-2"
    assert tick.failures == 1
    assert broken.tick(instance=instance).failures == 2
    stored = broken.ticks(instance=instance)
    assert stored.status.tolist()[:2] == ["FAILURE", "FAILURE"]
    assert "feed unreachable" in stored.error.iloc[0]


def test_print_and_logging_are_captured_per_tick(plain_job, instance):
    import logging

    @nf.sensor(job=plain_job)
    def chatty(context):
        print("hello from print")
        logging.getLogger("feed").warning("slow feed")
        context.log.info("via context.log")
        return nf.SkipReason("nothing")

    logging.getLogger().setLevel(logging.INFO)
    tick = chatty.tick(instance=instance)
    texts = [line[3] for line in tick.logs]
    assert "hello from print" in texts
    assert "feed: slow feed" in texts
    assert "nbflow.sensor.chatty: via context.log" in texts
    assert chatty.ticks(instance=instance).logs.iloc[0][0][3] == "hello from print"


def test_an_unknown_partition_fails_the_whole_tick_and_applies_nothing(podcast, instance):
    _, _, episodes, job = podcast

    @nf.sensor(job=job)
    def half_right(context):
        return nf.SensorResult(
            run_requests=[nf.RunRequest(partition_key="ep-1"), nf.RunRequest(partition_key="ep-9")],
            dynamic_partitions_requests=[episodes.build_add_request(["ep-1"])],
            cursor="moved",
        )

    tick = half_right.tick(instance=instance)
    assert tick.status == "FAILURE"
    assert "names partition 'ep-9', which is not in DynamicPartitionsDefinition 'podcast_episodes'" in tick.error
    assert episodes.keys(instance=instance) == []
    assert instance.runs().empty
    assert half_right.get_cursor(instance) is None
    assert half_right.run_keys(instance).empty


def test_a_delete_in_the_same_tick_is_applied_before_run_validation(podcast, instance):
    _, _, episodes, job = podcast
    episodes.add(["old"], instance=instance)

    @nf.sensor(job=job)
    def replace(context):
        return nf.SensorResult(
            run_requests=[nf.RunRequest(partition_key="old")],
            dynamic_partitions_requests=[episodes.build_delete_request(["old"])],
        )

    assert replace.tick(instance=instance).status == "FAILURE"
    assert episodes.keys(instance=instance) == ["old"]


def test_bad_run_config_fails_the_tick_before_anything_is_stored(plain_job, instance):
    @nf.sensor(job=plain_job)
    def misconfigured(context):
        return nf.RunRequest(run_config={"ops": {"nope": {}}})

    tick = misconfigured.tick(instance=instance)
    assert tick.status == "FAILURE" and "nope" in tick.error
    assert instance.runs().empty


def test_several_jobs_route_by_job_name(plain_job, instance):
    @nf.op
    def two():
        return 2

    @nf.job
    def other():
        two()

    @nf.sensor(jobs=[plain_job, other])
    def router(context):
        return [nf.RunRequest(job_name="other"), nf.RunRequest(job_name="plain")]

    tick = router.tick(instance=instance)
    assert sorted(instance.runs().job_name) == ["other", "plain"]
    assert tick.status == "SUCCESS"


def test_preview_applies_nothing_and_says_what_would_happen(podcast, instance):
    sensor, _feed, episodes, _ = podcast
    episodes.add(["ep-1"], instance=instance)
    preview = sensor.preview(instance=instance)
    assert preview.new_keys == {"podcast_episodes": ["ep-2"]}
    assert preview.existing_keys == {"podcast_episodes": ["ep-1"]}
    assert [r.partition_key for r in preview.run_requests] == ["ep-1", "ep-2"]
    assert (preview.cursor_before, preview.cursor_after) == (None, "etag-2")
    assert episodes.keys(instance=instance) == ["ep-1"] and instance.runs().empty
    assert sensor.ticks(instance=instance).empty
    from_cursor = sensor.preview(cursor="etag-1", instance=instance)
    assert [r.partition_key for r in from_cursor.run_requests] == ["ep-2"]
    assert "2 runs to launch" in repr(preview)


def test_preview_shows_deduplicated_runs_and_failures(plain_job, instance):
    sensor = _keyed_sensor(["a", "b"], plain_job)
    sensor.tick(instance=instance)
    assert sensor.preview(instance=instance).deduplicated == ["a", "b"]

    @nf.sensor(job=plain_job)
    def boom(context):
        raise RuntimeError("nope")

    failing = boom.preview(instance=instance)
    assert failing.would_fail and "RuntimeError: nope" in failing.error
    assert boom.ticks(instance=instance).empty


def test_build_sensor_context_with_an_instance_applies_partition_adds(podcast, instance):
    # Dagster's build_sensor_context(instance=...) fails for this sensor; here it ticks.
    sensor, _, episodes, _ = podcast
    ctx = nf.build_sensor_context(instance=instance, cursor="etag-1")
    assert [r.partition_key for r in sensor.evaluate(ctx).run_requests] == ["ep-2"]
    tick = sensor.tick(instance=instance, context=nf.build_sensor_context(instance=instance, cursor="etag-1"))
    assert tick.status == "SUCCESS" and episodes.keys(instance=instance) == ["ep-2"]


def test_a_queued_run_whose_partition_was_deleted_fails_with_the_reason(podcast, instance):
    sensor, _, episodes, _ = podcast
    tick = sensor.tick(instance=instance, execute=False)
    episodes.delete(["ep-1"], instance=instance)
    tick_module.execute_queued(sensor, instance, tick.run_ids)
    runs = instance.runs().set_index("partition_key")
    assert runs.loc["ep-1", "status"] == "FAILURE"
    assert "UnknownPartitionError" in runs.loc["ep-1", "error"]
    assert runs.loc["ep-2", "status"] == "SUCCESS"


def test_the_tick_record_survives_reopening(podcast, tmp_path):
    sensor, *_ = podcast
    path = str(tmp_path / "s.duckdb")
    sensor.tick(instance=nf.Instance(path))
    reopened = nf.Instance(path)
    assert sensor.ticks(instance=reopened).status.tolist() == ["SUCCESS"]
    assert sensor.get_cursor(reopened) == "etag-2"


def test_return_forms_as_in_dagster(plain_job, instance):
    @nf.sensor(job=plain_job)
    def yielding(context):
        yield nf.RunRequest(run_key="y1")
        yield nf.RunRequest(run_key="y2")

    assert [r.run_key for r in yielding.evaluate().run_requests] == ["y1", "y2"]

    @nf.sensor(job=plain_job)
    def single(context):
        return nf.RunRequest(run_key="one")

    assert [r.run_key for r in single.evaluate().run_requests] == ["one"]

    @nf.sensor(job=plain_job)
    def nothing(context):
        return None

    assert nothing.evaluate().skip_message == "Sensor function returned an empty result"
    assert nothing.tick(instance=instance).skip_reason == "Sensor function returned an empty result"

    @nf.sensor(job=plain_job)
    def no_context():
        return nf.SkipReason("takes no context")

    assert no_context.evaluate().skip_message == "takes no context"
    assert no_context() == nf.SkipReason("takes no context")  # direct call: the raw value


def test_context_knows_the_last_run_key_and_tick_time(plain_job, instance):
    seen = []

    @nf.sensor(job=plain_job)
    def remembers(context):
        seen.append((context.last_run_key, context.last_tick_completion_time, context.instance is instance))
        return nf.RunRequest(run_key=f"k{len(seen)}")

    remembers.tick(instance=instance)
    remembers.tick(instance=instance)
    assert seen[0] == (None, None, True)
    assert seen[1][0] == "k1" and seen[1][1] is not None and seen[1][2]


@pytest.mark.parametrize(("bad", "message"), [
    ("", "A partition key must not be empty"),
    ("a\x00b", r"contains the control character '\\x00'"),
    ("x" * 300, "is 300 characters long; the limit is 255"),
    (7, "must be a str, but got 7 of type int"),
])
def test_a_tick_adding_a_bad_key_applies_nothing_and_says_why(podcast, instance, bad, message):
    _, _, episodes, job = podcast

    @nf.sensor(job=job)
    def careless(context):
        request = nf.AddDynamicPartitionsRequest(episodes.name, ("ep-1", bad))
        return nf.SensorResult(dynamic_partitions_requests=[request], cursor="moved")

    tick = careless.tick(instance=instance)
    assert tick.status == "FAILURE"
    assert re.search(message, tick.error), tick.error
    assert episodes.keys(instance=instance) == []
    assert careless.get_cursor(instance) is None


def test_the_store_refuses_a_bad_key_however_the_request_was_made(podcast, instance):
    _, _, episodes, job = podcast
    request = episodes.build_add_request(["ep-1"])
    object.__setattr__(request, "partition_keys", ("ep-1", ""))  # past the request's own check

    @nf.sensor(job=job)
    def sneaky(context):
        return nf.SensorResult(dynamic_partitions_requests=[request])

    tick = sneaky.tick(instance=instance)
    assert tick.status == "FAILURE" and "A partition key must not be empty" in tick.error
    assert episodes.keys(instance=instance) == []
    with pytest.raises(nf.InvalidKeyError, match="must not be empty"):
        instance.store.partitions.add(episodes.name, ["ok", ""])
    assert episodes.keys(instance=instance) == []


def test_a_tick_whose_logs_and_error_hold_a_lone_surrogate_is_recorded(plain_job, instance):
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")

    @nf.sensor(job=plain_job)
    def odd_files(context):
        print("found", name)
        raise FileNotFoundError(name)

    tick = odd_files.tick(instance=instance)
    assert tick.status == "FAILURE"
    stored = odd_files.ticks(instance=instance)
    assert "FileNotFoundError: caf\\udce9.txt" in stored.error.iloc[0]
    assert stored.logs.iloc[0][0][3] == "found caf\\udce9.txt"
