"""Dagster's sensor docs snippets and core tests, with only the import changed.

Each test follows one of Dagster's (named in its comment): the docs snippets in
``examples/docs_snippets/docs_snippets/concepts/partitions_schedules_sensors/sensors/`` and
the core tests in ``python_modules/dagster/dagster_tests/definitions_tests/``
(``test_sensor_invocation.py``, ``test_run_request.py``). ``instance_for_test()`` is
written ``dg.DagsterInstance.ephemeral()``; nothing else changes.
"""

from __future__ import annotations

import os

import pytest

import nbflow as dg


@dg.op(config_schema={"filename": str})
def process_file(context):
    filename = context.op_config["filename"]
    context.log.info(filename)


@dg.job
def log_file_job():
    process_file()


@dg.op
def do_something():
    return 1


@dg.job
def do_something_job():
    do_something()


# sensors.py: my_directory_sensor and its test (test_sensor)
def test_docs_directory_sensor(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    my_directory = str(tmp_path)

    @dg.sensor(job=log_file_job)
    def my_directory_sensor():
        for filename in os.listdir(my_directory):
            filepath = os.path.join(my_directory, filename)
            if os.path.isfile(filepath):
                yield dg.RunRequest(
                    run_key=filename,
                    run_config={"ops": {"process_file": {"config": {"filename": filename}}}},
                )

    requests = list(my_directory_sensor())
    assert len(requests) == 2
    for run_request in requests:
        assert dg.validate_run_config(log_file_job, run_request.run_config)


# sensors.py: my_directory_sensor_with_skip_reasons
def test_docs_sensor_with_skip_reasons(tmp_path):
    my_directory = str(tmp_path)

    @dg.sensor(job=log_file_job)
    def my_directory_sensor_with_skip_reasons():
        has_files = False
        for filename in os.listdir(my_directory):
            filepath = os.path.join(my_directory, filename)
            if os.path.isfile(filepath):
                yield dg.RunRequest(
                    run_key=filename,
                    run_config={"ops": {"process_file": {"config": {"filename": filename}}}},
                )
                has_files = True
        if not has_files:
            yield dg.SkipReason(f"No files found in {my_directory}.")

    with dg.DagsterInstance.ephemeral() as instance:
        data = my_directory_sensor_with_skip_reasons.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert data.skip_message == f"No files found in {my_directory}."


# sensors.py: my_directory_sensor_cursor and test_my_directory_sensor_cursor
def test_docs_sensor_cursor(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    my_directory = str(tmp_path)

    @dg.sensor(job=log_file_job)
    def my_directory_sensor_cursor(context):
        last_mtime = float(context.cursor) if context.cursor else 0
        max_mtime = last_mtime
        for filename in os.listdir(my_directory):
            filepath = os.path.join(my_directory, filename)
            if os.path.isfile(filepath):
                fstats = os.stat(filepath)
                file_mtime = fstats.st_mtime
                if file_mtime <= last_mtime:
                    continue
                run_key = f"{filename}:{file_mtime}"
                run_config = {"ops": {"process_file": {"config": {"filename": filename}}}}
                yield dg.RunRequest(run_key=run_key, run_config=run_config)
                max_mtime = max(max_mtime, file_mtime)
        context.update_cursor(str(max_mtime))

    context = dg.build_sensor_context(cursor="0")
    requests = list(my_directory_sensor_cursor(context))
    assert len(requests) == 1
    for run_request in requests:
        assert dg.validate_run_config(log_file_job, run_request.run_config)
    assert float(context.cursor) > 0


# sensors.py: sensor_A / sensor_B with a RunRequest(run_key=None)
def test_docs_run_key_none():
    @dg.sensor(job=log_file_job)
    def sensor_a():
        yield dg.RunRequest(run_key=None, run_config={"ops": {"process_file": {"config": {"filename": "x"}}}})

    with dg.DagsterInstance.ephemeral() as instance:
        data = sensor_a.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert len(data.run_requests) == 1
        assert data.run_requests[0].run_key is None


# test_sensor_invocation.py::test_sensor_invocation_args (no arg, underscore, arbitrary name)
def test_sensor_invocation_args():
    @dg.sensor(job_name="foo_job")
    def basic_sensor_no_arg():
        return dg.RunRequest(run_key=None, run_config={}, tags={})

    assert basic_sensor_no_arg().run_config == {}

    @dg.sensor(job_name="foo_job")
    def basic_sensor(_):
        return dg.RunRequest(run_key=None, run_config={}, tags={})

    assert basic_sensor(dg.build_sensor_context()).run_config == {}
    assert basic_sensor(None).run_config == {}

    @dg.sensor(job_name="foo_job")
    def basic_sensor_with_context(_arbitrary_context):
        return dg.RunRequest(run_key=None, run_config={}, tags={})

    context = dg.build_sensor_context()
    assert basic_sensor_with_context(context).run_config == {}
    assert basic_sensor_with_context(_arbitrary_context=context).run_config == {}


# test_sensor_invocation.py::test_sensor_invocation_args (misuse)
def test_sensor_invocation_misuse():
    @dg.sensor(job_name="foo_job")
    def basic_sensor_with_context(_arbitrary_context):
        return dg.RunRequest(run_key=None, run_config={}, tags={})

    context = dg.build_sensor_context()
    with pytest.raises(
        dg.DagsterInvalidInvocationError, match="Sensor invocation expected argument '_arbitrary_context'."
    ):
        basic_sensor_with_context(bad_context=context)
    with pytest.raises(
        dg.DagsterInvalidInvocationError,
        match="Sensor evaluation function expected context argument, but no context argument was provided",
    ):
        basic_sensor_with_context()
    with pytest.raises(dg.DagsterInvalidInvocationError, match="Sensor invocation received multiple"):
        basic_sensor_with_context(context, _arbitrary_context=None)


# test_sensor_invocation.py::test_instance_access_built_sensor
def test_instance_access_built_sensor():
    with pytest.raises(
        dg.DagsterInvariantViolationError,
        match="Attempted to initialize dagster instance, but no instance reference was provided.",
    ):
        dg.build_sensor_context().instance  # noqa: B018

    with dg.DagsterInstance.ephemeral() as instance:
        assert isinstance(dg.build_sensor_context(instance).instance, dg.DagsterInstance)


# test_sensor_invocation.py::test_instance_access_with_mock (context manager form)
def test_build_sensor_context_as_context_manager():
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, cursor="c") as context:
            assert context.cursor == "c"
            assert context.instance is instance


# test_sensor_invocation.py::test_sensor_result_skip_reason
def test_sensor_result_skip_reason():
    skip_reason = dg.SkipReason("I'm skipping")

    @dg.sensor(job=do_something_job)
    def test_sensor(_):
        return [dg.SensorResult(skip_reason=skip_reason)]

    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_sensor_context(instance=instance)
        sensor_data = test_sensor.evaluate_tick(ctx)
        assert not sensor_data.run_requests
        assert sensor_data.skip_message == skip_reason.skip_message


# test_sensor_invocation.py::test_sensor_result_string_skip_reason
def test_sensor_result_string_skip_reason():
    skip_reason = "I'm skipping"

    @dg.sensor(job=do_something_job)
    def test_sensor(_):
        return [dg.SensorResult(skip_reason=skip_reason)]

    with dg.DagsterInstance.ephemeral() as instance:
        sensor_data = test_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert not sensor_data.run_requests
        assert sensor_data.skip_message == skip_reason


# test_sensor_invocation.py::test_invalid_skip_reason_invocations
def test_invalid_skip_reason_invocations():
    @dg.sensor(job=do_something_job)
    def multiple_sensor_results(_):
        return [
            dg.SensorResult(skip_reason=dg.SkipReason("I'm skipping")),
            dg.SensorResult(skip_reason=dg.SkipReason("I'm skipping")),
        ]

    @dg.sensor(job=do_something_job)
    def sensor_result_w_other_objects(_):
        return [dg.SensorResult(run_requests=[dg.RunRequest(run_key="1")]), dg.RunRequest(run_key="2")]

    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_sensor_context(instance=instance)
        with pytest.raises(Exception, match="When a SensorResult is returned from a sensor, it must be the only object returned."):
            multiple_sensor_results.evaluate_tick(ctx)
        with pytest.raises(Exception, match="When a SensorResult is returned from a sensor, it must be the only object returned."):
            sensor_result_w_other_objects.evaluate_tick(ctx)
        with pytest.raises(Exception, match="Expected a single skip reason or one or more run requests"):
            dg.SensorResult(run_requests=[dg.RunRequest(run_key="1")], skip_reason=dg.SkipReason("I'm skipping"))


# test_sensor_invocation.py::test_update_cursor
def test_update_cursor():
    @dg.sensor(job=do_something_job)
    def set_cursor_sensor(context):
        context.update_cursor("foo")
        return dg.RunRequest(run_key="foo")

    with dg.DagsterInstance.ephemeral() as instance:
        sensor_data = set_cursor_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert sensor_data.cursor == "foo"


# test_sensor_invocation.py::test_sensor_result_cursor_and_update_cursor
def test_cursor_set_twice():
    @dg.sensor(job=do_something_job)
    def set_cursor_sensor(context):
        context.update_cursor("foo")
        return dg.SensorResult(cursor="foo")

    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(
            dg.DagsterInvariantViolationError,
            match=r"SensorResult.cursor cannot be set if context.update_cursor\(\) was called",
        ):
            set_cursor_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))


# test_sensor_invocation.py: a generator sensor whose `return` gives the result
def test_generator_sensor_return_value():
    @dg.sensor(job=do_something_job)
    def gen_skip(_):
        if False:
            yield
        return dg.SkipReason("nothing to do")

    @dg.sensor(job=do_something_job)
    def gen_request(_):
        yield dg.RunRequest(run_key="a")
        return dg.RunRequest(run_key="b")

    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_sensor_context(instance=instance)
        assert gen_skip.evaluate_tick(ctx).skip_message == "nothing to do"
        assert [r.run_key for r in gen_request.evaluate_tick(ctx).run_requests] == ["a", "b"]


# test_sensor_invocation.py: build_sensor_context's positional order (instance, cursor, ...)
def test_build_sensor_context_positional():
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance, "the-cursor")
        assert context.instance is instance
        assert context.cursor == "the-cursor"


# test_sensor_invocation.py: unknown keywords are refused, never dropped
def test_build_sensor_context_unknown_keyword():
    with pytest.raises(TypeError, match="cursr"):
        dg.build_sensor_context(cursr="x")


# test_run_request.py: RunRequest keeps run_key, run_config, tags, partition_key
def test_run_request_fields():
    request = dg.RunRequest(run_key="k", run_config={"ops": {}}, tags={"a": "b"}, partition_key="p")
    assert request.run_key == "k"
    assert request.run_config == {"ops": {}}
    assert request.tags == {"a": "b"}
    assert request.partition_key == "p"


# test_run_request.py: an unknown RunRequest keyword is a TypeError naming it
def test_run_request_unknown_keyword():
    with pytest.raises(TypeError, match="partiton_key"):
        dg.RunRequest(run_key="k", partiton_key="p")


# test_sensor_invocation.py: a RunRequest for a sensor with no target
def test_sensor_no_target():
    @dg.sensor()
    def no_target(_):
        return dg.RunRequest(run_key="a")

    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(Exception, match="lacking a specified target"):
            no_target.evaluate_tick(dg.build_sensor_context(instance=instance))


# test_sensor_invocation.py: a RunRequest naming a job the sensor does not target
def test_sensor_wrong_job_name():
    @dg.sensor(job=do_something_job)
    def wrong(_):
        return dg.RunRequest(run_key="a", job_name="other")

    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(Exception, match="Sensor returned a RunRequest with job_name other"):
            wrong.evaluate_tick(dg.build_sensor_context(instance=instance))


# sensors.py: @sensor(job_name=...) naming a job defined after the sensor
def test_sensor_job_name_defined_later():
    @dg.sensor(job_name="later_job")
    def later(_):
        return dg.RunRequest(run_key="a")

    @dg.job
    def later_job():
        do_something()

    with dg.DagsterInstance.ephemeral() as instance:
        data = later.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert [r.run_key for r in data.run_requests] == ["a"]


# test_sensor_invocation.py: @sensor(target=...) and asset_selection=, never dropped
def test_sensor_target_keyword():
    @dg.sensor(target=do_something_job)
    def targeted(_):
        return dg.RunRequest(run_key="a")

    with dg.DagsterInstance.ephemeral() as instance:
        data = targeted.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert len(data.run_requests) == 1
        assert targeted.job_name == "do_something_job"


# test_sensor_invocation.py: a misspelt @sensor keyword fails
def test_sensor_unknown_keyword():
    with pytest.raises(TypeError, match="minimum_interval_second"):

        @dg.sensor(job=do_something_job, minimum_interval_second=30)
        def _s(_):
            return None


# sensors.py / Definitions(sensors=[...]): a sensor registered in Definitions
def test_definitions_with_sensor():
    @dg.sensor(job=do_something_job)
    def in_defs(_):
        return dg.SkipReason("no")

    defs = dg.Definitions(jobs=[do_something_job], sensors=[in_defs])
    assert defs.get_sensor_def("in_defs") is in_defs
    assert defs.get_job_def("do_something_job") is do_something_job


# test_sensor_invocation.py::test_sensor_result_asset_events (materializations reported by a sensor)
@pytest.mark.xfail(strict=True, reason="nbflow sensors do not report asset events; SensorResult(asset_events=) "
                   "raises a TypeError naming the argument (see docs/dagster-compatibility.md)")
def test_sensor_result_asset_events():
    @dg.sensor()
    def reports(_):
        return dg.SensorResult(asset_events=[dg.AssetMaterialization("a")])

    with dg.DagsterInstance.ephemeral() as instance:
        data = reports.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert len(data.asset_events) == 1


# sensors.py: a sensor whose SensorResult sets the cursor
def test_docs_sensor_result_cursor():
    @dg.sensor(job=log_file_job)
    def cursor_result(context):
        last = int(context.cursor) if context.cursor else 0
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=str(last + 1), run_config={"ops": {"process_file": {"config": {"filename": "f"}}}})],
            cursor=str(last + 1),
        )

    with dg.DagsterInstance.ephemeral() as instance:
        data = cursor_result.evaluate_tick(dg.build_sensor_context(instance=instance, cursor="4"))
        assert data.cursor == "5"
        assert [r.run_key for r in data.run_requests] == ["5"]


# sensors.py: one sensor targeting several jobs, each RunRequest naming its job
def test_docs_multi_job_sensor():
    @dg.op
    def other():
        return 2

    @dg.job
    def other_job():
        other()

    @dg.sensor(jobs=[do_something_job, other_job])
    def multi(_):
        yield dg.RunRequest(run_key="a", job_name="do_something_job")
        yield dg.RunRequest(run_key="b", job_name="other_job")

    with dg.DagsterInstance.ephemeral() as instance:
        data = multi.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert [(r.run_key, r.job_name) for r in data.run_requests] == [("a", "do_something_job"), ("b", "other_job")]


# test_sensor_invocation.py::test_sensor_w_no_job (the context-manager form)
def test_sensor_w_no_job():
    @dg.sensor()
    def no_job_sensor():
        return dg.RunRequest(
            run_key=None,
            run_config=None,
            tags=None,
        )

    with pytest.raises(
        Exception,
        match=r".* Sensor evaluation function returned a RunRequest for a sensor lacking a "
        r"specified target .*",
    ):
        with dg.build_sensor_context() as context:
            no_job_sensor.evaluate_tick(context)


# test_sensor_invocation.py::test_validated_partitions, with a dynamic partitions definition
def test_validated_partitions():
    fruits = dg.DynamicPartitionsDefinition(name="validated_fruits")

    @dg.op
    def noop():
        pass

    @dg.job(partitions_def=fruits)
    def my_job():
        noop()

    @dg.sensor(job=my_job)
    def invalid_req_sensor():
        return dg.RunRequest(partition_key="nonexistent")

    @dg.sensor(job=my_job)
    def valid_req_sensor():
        return dg.RunRequest(partition_key="foo", tags={"yay": "yay!"})

    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("validated_fruits", ["foo", "bar"])
        with pytest.raises(dg.DagsterUnknownPartitionError, match="Could not find a partition"):
            with dg.build_sensor_context(instance=instance) as context:
                invalid_req_sensor.evaluate_tick(context)

        with dg.build_sensor_context(instance=instance) as context:
            run_requests = valid_req_sensor.evaluate_tick(context).run_requests
            assert len(run_requests) == 1
            run_request = run_requests[0]
            assert run_request.partition_key == "foo"
            assert run_request.run_config == {}
            assert run_request.tags.get("yay") == "yay!"


# test_sensor_invocation.py::test_asset_selection_run_request_partition_key (dynamic partitions)
def test_asset_selection_run_request_partition_key():
    letters = dg.DynamicPartitionsDefinition(name="letters")

    @dg.asset(partitions_def=letters)
    def a_asset():
        return 1

    @dg.sensor(asset_selection=dg.AssetSelection.keys("a_asset"))
    def valid_req_sensor():
        return dg.RunRequest(partition_key="a", asset_selection=[a_asset.key])

    @dg.sensor(asset_selection=dg.AssetSelection.keys("a_asset"))
    def invalid_req_sensor():
        return dg.RunRequest(partition_key="b")

    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("letters", ["a"])
        with dg.build_sensor_context(instance=instance) as context:
            run_requests = valid_req_sensor.evaluate_tick(context).run_requests
            assert len(run_requests) == 1
            assert run_requests[0].partition_key == "a"
            assert run_requests[0].asset_selection == [a_asset.key]

            with pytest.raises(dg.DagsterUnknownPartitionError, match="Could not find a partition"):
                invalid_req_sensor.evaluate_tick(context)


# sensors.md: "Any sensor can emit log messages during its evaluation function" (logs_then_skips)
def test_docs_logs_then_skips():
    @dg.sensor(job=log_file_job)
    def logs_then_skips(context):
        context.log.info("Logging from a sensor!")
        return dg.SkipReason("Nothing to do")

    with dg.DagsterInstance.ephemeral() as instance:
        data = logs_then_skips.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert data.skip_message == "Nothing to do"
        assert not data.run_requests


# sensor_definition.py: sensor_A / sensor_B with minimum_interval_seconds, and default_status
def test_docs_sensor_interval_and_default_status():
    @dg.sensor(job=log_file_job, minimum_interval_seconds=30)
    def sensor_a(_context):
        yield dg.RunRequest(run_key=None, run_config={})

    @dg.sensor(job=log_file_job, minimum_interval_seconds=45, default_status=dg.DefaultSensorStatus.RUNNING)
    def sensor_b(_context):
        yield dg.RunRequest(run_key=None, run_config={})

    assert sensor_a.minimum_interval_seconds == 30
    assert sensor_b.minimum_interval_seconds == 45
    assert sensor_b.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor_a.job_name == "log_file_job"
    assert sensor_a.name == "sensor_a"
