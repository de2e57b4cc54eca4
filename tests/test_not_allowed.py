"""Everything nbflow refuses, with the message a user sees. One place, as in Dagster.

Wiring mistakes are refused when the job is defined, config mistakes before
anything runs or is stored, key mistakes in the step that makes them.
"""

from __future__ import annotations

import re

import pytest

import nbflow as nf


@nf.op(out=nf.DynamicOut())
def emit():
    for i in range(3):
        yield nf.DynamicOutput(i, mapping_key=f"k{i}")


@nf.op(out=nf.DynamicOut())
def emit2():
    yield nf.DynamicOutput(1, mapping_key="a")


@nf.op
def echo(x):
    return x


@nf.op
def add(a, b):
    return a + b


@nf.op(out=nf.DynamicOut())
def inner_emit(x):
    yield nf.DynamicOutput(x, mapping_key="i")


@nf.op(config_schema={"rate": float, "name": nf.Field(str, description="who")})
def configured(context):
    return context.op_config


# -- wiring: refused at definition time ------------------------------------------------------


def test_dynamic_output_passed_straight_into_an_op():
    with pytest.raises(
        nf.DynamicWiringError,
        match=r"In @job direct, op 'echo' received the dynamic output 'result' from op 'emit' directly "
        r"\(input 'x'\). Dynamic output must be unpacked by invoking map or collect: .map\(fn\) or .collect\(\).",
    ):

        @nf.job
        def direct():
            echo(emit())


def test_map_inside_map_is_refused():
    with pytest.raises(
        nf.DynamicWiringError,
        match=r"op 'inner_emit' declares a DynamicOut but is mapped over the dynamic output "
        r'"emit:result": a fan-out inside a map \(nested fan-out\) is not supported yet',
    ):

        @nf.job
        def nested():
            emit().map(inner_emit)


def test_node_downstream_of_two_dynamic_outputs_is_refused():
    with pytest.raises(
        nf.DynamicWiringError,
        match=r"op 'add' cannot be downstream of more than one dynamic output. "
        r'It is downstream of both "emit:result" and "emit2:result"',
    ):

        @nf.job
        def zipped():
            two = emit2()
            emit().map(lambda x: two.map(lambda y: add(x, y)))


def test_zip_by_passing_a_second_fanout_into_a_map_is_refused():
    with pytest.raises(nf.DynamicWiringError, match=r"received the dynamic output 'result' from op 'emit2' directly"):

        @nf.job
        def zip_job():
            other = emit2()
            emit().map(lambda x: add(x, other))


def test_map_function_returning_an_unmapped_output_is_refused():
    @nf.op
    def const():
        return 1

    with pytest.raises(nf.DynamicWiringError, match=r"returned the output of op 'const', which is not mapped over it"):

        @nf.job
        def wrong_return():
            emit().map(lambda x: const())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            lambda: echo(emit().collect(), emit2().collect()),
            r"op 'echo' takes 1 input\(s\) \(x\) but was called with 2 positional argument\(s\)",
        ),
        (lambda: echo(y=emit().collect()), r"op 'echo' has no input 'y'; its inputs are \['x'\]"),
        (lambda: echo(3), r"input 'x' of op 'echo' got the plain value 3. Inside a job, inputs come from other ops"),
    ],
    ids=["too-many", "unknown-keyword", "plain-value"],
)
def test_wrong_arity_and_inputs(body, message):
    with pytest.raises(nf.DefinitionError, match=message):
        nf.job(name="arity")(body)


def test_a_job_that_wires_nothing_runs_and_succeeds(instance):
    @nf.job  # as in Dagster: an empty job is allowed
    def empty():
        pass

    assert empty.execute_in_process(instance=instance).success


def test_map_outside_a_job_body():
    with pytest.raises(nf.DefinitionError, match=r"You can only call a graph|can only be called inside a @job"):

        @nf.graph
        def g():
            return echo(emit().collect())

        g()


def test_dynamic_out_needs_dynamic_outputs(instance):
    @nf.op(out=nf.DynamicOut())
    def returns():
        return [1, 2]

    @nf.job
    def plain_list():
        returns()

    with pytest.raises(nf.DagsterInvariantViolationError,
                       match=r'Compute for op "returns" for output "result" defined as dynamic must yield '
                       r"DynamicOutput, got int. Yield \(or return a list of\) DynamicOutput"):
        plain_list.execute_in_process(instance=instance)


def test_star_args_are_not_inputs():
    with pytest.raises(nf.DefinitionError, match=r"op 'star': \*args/\*\*kwargs are not supported"):

        @nf.op
        def star(*xs):
            return xs


def test_ins_naming_a_missing_parameter():
    with pytest.raises(nf.DefinitionError, match=r"op 'f': ins= names \['nope'\] that are not parameters"):

        @nf.op(ins={"nope": nf.In()})
        def f(x):
            return x


def test_retry_policy_rejects_negative_retries():
    with pytest.raises(nf.DefinitionError, match=r"RetryPolicy.max_retries must be an int >= 0, got -1"):
        nf.RetryPolicy(max_retries=-1)


# -- config: refused before anything runs or is stored ------------------------------------


@nf.job
def config_job():
    configured()


@pytest.mark.parametrize(
    ("run_config", "message"),
    [
        ({}, r"Op 'configured': missing required config field 'rate' \(float\)."),
        (
            {"ops": {"configured": {"config": {"rate": "fast", "name": "x"}}}},
            r"Op 'configured': config field 'rate' must be of type float, got 'fast' \(str\).",
        ),
        (
            {"ops": {"configured": {"config": {"rate": 1.0, "name": "x", "extra": 1}}}},
            r"Op 'configured': config has unknown field\(s\) \['extra'\]; expected: \['name', 'rate'\].",
        ),
        (
            {"ops": {"configurd": {"config": {}}}},
            r"run_config names op 'configurd', which is not in job 'config_job'. "
            r"Valid ones \(closest first\): 'configured'.",
        ),
        ({"opz": {}}, r"run_config has unknown top-level key\(s\) \['opz'\]; op config goes under 'ops'."),
        ({"ops": {"configured": 5}}, r"run_config for op 'configured' must be a dict like \{'config'"),
    ],
    ids=["missing", "wrong-type", "unknown-field", "unknown-op", "unknown-top", "not-a-dict"],
)
def test_bad_config_fails_before_running(run_config, message, instance):
    with pytest.raises(nf.ConfigError, match=message):
        config_job.run(run_config=run_config, instance=instance)
    assert instance.runs().empty, "nothing may be stored for a run that never started"


def test_config_for_an_op_without_schema_is_taken_as_is():
    @nf.op
    def reads(context):
        return context.op_config

    @nf.job
    def plain():
        reads()

    run = plain.run(run_config={"ops": {"reads": {"config": {"a": 1}}}}, instance=nf.Instance.ephemeral())
    assert run.output("reads") == {"a": 1}  # as in Dagster: no schema, any config


def test_an_input_no_op_feeds_needs_run_config(instance):
    @nf.job
    def half_wired():
        add(emit().collect())

    with pytest.raises(nf.ConfigError, match=r'Missing required config entry "inputs" for input \'b\' of op \'add\': '
                       r"no op feeds it in this run. Give it in run_config"):
        half_wired.run(instance=instance)
    assert instance.runs().empty
    run = half_wired.run(run_config={"ops": {"add": {"inputs": {"b": {"value": ["b"]}}}}}, instance=instance)
    assert run.output("add")[-1] == "b"


def test_config_inputs_errors(instance):
    @nf.job
    def fed():
        echo.alias("e")(emit().collect())

    with pytest.raises(nf.ConfigError, match=r"run_config gives input 'x' of op 'e', but that input is fed by op 'emit'"):
        fed.run(run_config={"ops": {"e": {"inputs": {"x": [1]}}}}, instance=instance)
    with pytest.raises(nf.ConfigError, match=r"run_config gives input 'y' to op 'e', which has no such input"):
        fed.run(run_config={"ops": {"e": {"inputs": {"y": 1}}}}, instance=instance)
    with pytest.raises(nf.ConfigError, match=r'Missing required config entry "inputs" for input \'x\' of op \'e\''):
        fed.execute_in_process(op_selection=["e"], instance=instance)
    assert instance.runs().empty


def test_op_selection_errors(instance):
    @nf.job
    def sel():
        echo.alias("e")(emit().map(echo).collect())

    with pytest.raises(nf.DefinitionError, match=r"op_selection names 'nope', which is not an op or graph of job 'sel'"):
        sel.execute_in_process(op_selection=["nope"], instance=instance)
    with pytest.raises(nf.DefinitionError, match=r"op_selection entry 'e\*\+' is not a query"):
        sel.execute_in_process(op_selection=["e*+"], instance=instance)
    with pytest.raises(nf.DefinitionError, match=r"keeps op 'echo', which is mapped over the items of 'emit:result', "
                       r"but not the fan-out op 'emit'"):
        sel.execute_in_process(op_selection=["echo"], instance=instance)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda j: j.execute_in_process(run_confg={}), r"unexpected keyword argument 'run_confg'"),
        (lambda j: j.execute_in_process(resources={"db": 1}),
         r"execute_in_process: the argument resources= is not supported by nbflow. nbflow has no resources"),
        (lambda j: j.execute_in_process(run_id="x"), r"the argument run_id= is not supported by nbflow"),
        (lambda j: nf.RunRequest(partiton_key="a"), r"unexpected keyword argument 'partiton_key'"),
        (lambda j: nf.RunRequest(stale_assets_only=True), r"RunRequest: the argument stale_assets_only= is not supported"),
        (lambda j: nf.SensorResult(asset_events=[1]), r"SensorResult: the argument asset_events= is not supported"),
        (lambda j: nf.build_sensor_context(cursr="a"), r"unexpected keyword argument 'cursr'"),
        (lambda j: nf.build_sensor_context(resources={"a": 1}), r"build_sensor_context: the argument resources="),
        (lambda j: nf.sensor(job=j, minimum_interval_second=3), r"unexpected keyword argument 'minimum_interval_second'"),
        (lambda j: nf.sensor(job=j, required_resource_keys={"db"}), r"@sensor: the argument required_resource_keys="),
        (lambda j: nf.Definitions(schedules=[1]), r"Definitions: the argument schedules= is not supported"),
    ],
    ids=["eip-typo", "eip-resources", "eip-run-id", "rr-typo", "rr-stale", "sr-asset-events", "bsc-typo",
         "bsc-resources", "sensor-typo", "sensor-resources", "defs-schedules"],
)
def test_dagster_arguments_are_never_dropped(call, message):
    @nf.job
    def target():
        emit()

    with pytest.raises(TypeError, match=message):
        call(target)


# -- keys: refused in the step that makes them -----------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (7, r"A mapping key must be a str, but got 7 of type int. Convert it with str\(...\) first."),
        ("", r"A mapping key must not be empty."),
        ("a\nb", r"The mapping key 'a\\nb' contains the control character '\\n' \(U\+000A\)"),
        ("x" * 256, r"is 256 characters long; the limit is 255"),
    ],
    ids=["int", "empty", "newline", "too-long"],
)
def test_bad_mapping_key_fails_the_producing_step(key, message, instance):
    @nf.op(out=nf.DynamicOut())
    def bad_keys():
        yield nf.DynamicOutput("fine", mapping_key="ok")
        yield nf.DynamicOutput("bad", mapping_key=key)

    @nf.job
    def key_job():
        bad_keys().map(echo)

    run = key_job.run(instance=instance)
    steps = run.steps().set_index("step_key")
    assert steps.loc["bad_keys", "status"] == "FAILURE"
    assert steps.loc["echo[ok]", "status"] == "SUCCESS"
    assert re.search(message, steps.loc["bad_keys", "error"])


def test_duplicate_mapping_key_fails_the_step_naming_op_and_key(instance):
    @nf.op(out=nf.DynamicOut())
    def dup():
        yield nf.DynamicOutput(1, mapping_key="a")
        yield nf.DynamicOutput(2, mapping_key="a")

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def dup_job():
        total(dup().map(echo).collect())

    with pytest.raises(nf.DagsterInvariantViolationError) as info:
        dup_job.execute_in_process(instance=instance)
    assert isinstance(info.value, nf.DuplicateMappingKeyError)
    assert str(info.value) == (
        'Compute for op "dup" yielded a DynamicOutput with mapping_key "a" multiple times. '
        "Mapping keys must be unique within one step."
    )
    steps = instance.get_run(instance.runs().run_id.iloc[0]).steps().set_index("step_key")
    assert steps.loc["total", "status"] == "SKIPPED"


def test_output_not_produced_by_a_multi_output_op(instance):
    @nf.op(out={"a": nf.Out(), "b": nf.Out()})
    def two():
        return 1

    @nf.job
    def two_job():
        a, b = two()
        add(a, b)

    run = two_job.run(instance=instance)
    assert run.status == "FAILURE"
    assert "op 'two' has 2 outputs (a, b); return a tuple of 2 values in that order" in run.steps().error[0]


def test_wrong_output_type_fails_the_step(instance):
    @nf.op(out=nf.Out(int))
    def typed():
        return "nine"

    @nf.job
    def typed_job():
        typed()

    run = typed_job.run(instance=instance)
    assert "op 'typed' output 'result' must be of type int, got str: 'nine'" in run.steps().error[0]


def test_output_of_a_missing_node():
    from tests.execution.graphs import chained

    result = chained.job.execute_in_process(instance=nf.Instance.ephemeral())
    with pytest.raises(nf.DefinitionError, match=r"Job 'job' has no op 'dubble'. Valid ones \(closest first\): 'double'"):
        result.output_for_node("dubble")


# -- reruns: refused before anything runs ----------------------------------------------------


def _chained_run(instance):
    from tests.execution.graphs import chained

    nf.definitions.JOBS["job"] = chained.job
    return chained.job.run(instance=instance)


def test_rerun_of_a_job_no_longer_defined(instance):
    run = _chained_run(instance)
    del nf.definitions.JOBS["job"]
    with pytest.raises(nf.RerunError, match=r"Job 'job' of run \w{8} is not defined in this kernel .* Run the cell that defines job 'job', then rerun."):
        run.rerun(failed=True)


def test_rerun_failed_and_an_op_together(instance):
    with pytest.raises(nf.RerunError, match=r"Pass either failed=True or an op \(with keys=...\), not both."):
        _chained_run(instance).rerun("double", failed=True)


def test_rerun_keys_without_an_op(instance):
    with pytest.raises(nf.RerunError, match=r"keys= needs the op whose keys to rerun"):
        _chained_run(instance).rerun(keys=["item_1"])


def test_rerun_failed_of_a_successful_run(instance):
    with pytest.raises(nf.RerunError, match=r"has no failed, skipped or unfinished steps to rerun. run.rerun\(\) reruns the whole job."):
        _chained_run(instance).rerun(failed=True)


def test_rerun_of_an_unknown_op_or_key_lists_the_valid_ones(instance):
    run = _chained_run(instance)
    with pytest.raises(nf.RerunSelectionError, match=r"The job has no op 'dubble' to rerun. Valid ones \(closest first\): 'double'"):
        run.rerun("dubble")
    with pytest.raises(nf.RerunSelectionError, match=r"op 'double' has no mapping key 'item_99' in run \w{8}. Valid ones \(closest first\): 'item_"):
        run.rerun("double", keys=["item_99"])


def test_rerun_after_an_op_changed_its_inputs(instance):
    @nf.op
    def shape(x):
        return x

    @nf.job
    def reshaped():
        shape(emit().collect())

    run = reshaped.run(instance=instance)

    @nf.op
    def shape(x, y):  # noqa: F811 - redefined with another input
        return x

    with pytest.raises(nf.DefinitionError, match=r"op 'shape' was redefined with other inputs or outputs than job 'reshaped' was built with. Run the cell that defines the job again."):
        run.rerun()


# -- sensors -------------------------------------------------------------------------------------


@nf.op
def constant():
    return 1


@nf.job
def sensed_job():
    constant()


def _sensor_returning(value, **kwargs):
    @nf.sensor(name="s_bad", **kwargs)
    def s_bad(context):
        return value() if callable(value) else value

    return s_bad


def test_sensor_result_with_run_requests_and_a_skip_reason():
    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "Expected a single skip reason or one or more run requests: received values for both "
            "run_requests and skip_reason")):
        nf.SensorResult(run_requests=[nf.RunRequest()], skip_reason="no")


def test_sensor_returning_both_run_requests_and_a_skip_reason():
    s = _sensor_returning(lambda: [nf.RunRequest(), nf.SkipReason("x")], job=sensed_job)
    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "Expected a single SkipReason or one or more RunRequests: received both RunRequest and SkipReason")):
        s.evaluate()


def test_sensor_returning_something_else():
    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "Error in sensor s_bad: Sensor unexpectedly returned output 42 of type <class 'int'>.  "
            "Should only return SkipReason or RunRequest objects.")):
        _sensor_returning(42).evaluate()


def test_sensor_result_must_be_the_only_object_returned():
    s = _sensor_returning(lambda: [nf.SensorResult(), nf.RunRequest()], job=sensed_job)
    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "When a SensorResult is returned from a sensor, it must be the only object returned.")):
        s.evaluate()


def test_sensor_cursor_set_twice():
    @nf.sensor()
    def twice(context):
        context.update_cursor("a")
        return nf.SensorResult(cursor="b")

    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "SensorResult.cursor cannot be set if context.update_cursor() was called.")):
        twice.evaluate()


def test_sensor_cursor_and_run_key_must_be_str():
    with pytest.raises(nf.SensorDefinitionError, match=re.escape('Param "cursor" is not a str. Got 3')):
        nf.SensorResult(cursor=3)
    with pytest.raises(nf.SensorDefinitionError, match=re.escape('Param "run_key" is not a str. Got 1')):
        nf.RunRequest(run_key=1)
    with pytest.raises(nf.SensorDefinitionError, match=re.escape('Param "skip_message" is not a str')):
        nf.SkipReason(5)


def test_run_request_from_a_sensor_without_a_job():
    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "Error in sensor s_bad: Sensor evaluation function returned a RunRequest for a sensor lacking "
            "a specified target (job_name, job, or jobs).")):
        _sensor_returning(nf.RunRequest()).evaluate()


def test_run_request_for_a_job_the_sensor_does_not_target():
    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "Error in sensor s_bad: Sensor returned a RunRequest with job_name other. "
            "Expected one of: ['sensed_job']")):
        _sensor_returning(nf.RunRequest(job_name="other"), job=sensed_job).evaluate()


def test_run_request_without_job_name_for_a_sensor_with_several_jobs():
    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "the sensor targets several jobs ['sensed_job', 'sensed_job'], so each RunRequest needs job_name")):
        _sensor_returning(nf.RunRequest(), jobs=[sensed_job, sensed_job]).evaluate()


def test_add_and_delete_of_the_same_key_in_one_result():
    parts = nf.DynamicPartitionsDefinition("fruits")
    with pytest.raises(nf.SensorDefinitionError, match=re.escape(
            "Dynamic partition requests cannot contain both add and delete requests for the same partition "
            "keys. Invalid request: partitions_def_name 'fruits', partition_keys: ['a']")):
        nf.SensorResult(dynamic_partitions_requests=[parts.build_add_request(["a", "b"]),
                                                     parts.build_delete_request(["a"])])


def test_sensor_definition_mistakes():
    with pytest.raises(nf.SensorDefinitionError, match=re.escape("Use @sensor(...) with parentheses")):
        nf.sensor(lambda context: None)
    with pytest.raises(nf.SensorDefinitionError, match="either job= or jobs=, not both"):
        nf.sensor(job=sensed_job, jobs=[sensed_job])
    with pytest.raises(nf.SensorDefinitionError, match="takes a job defined with @job"):
        nf.sensor(job="sensed_job")
    # A job_name may name a job defined later (as in Dagster); evaluating before it exists says so.
    later = nf.sensor("no_such_job")(lambda context: nf.RunRequest(run_key="a"))
    with pytest.raises(nf.SensorDefinitionError, match="targets job_name='no_such_job', but no job of that "
                       "name is defined in this kernel"):
        later.evaluate(nf.build_sensor_context(instance=nf.Instance.ephemeral()))
    with pytest.raises(nf.SensorDefinitionError, match="minimum_interval_seconds must be a positive number"):
        nf.sensor(minimum_interval_seconds=0)(lambda context: None)
    with pytest.raises(nf.SensorDefinitionError, match="max_consecutive_failures must be an int of at least 1"):
        nf.sensor(max_consecutive_failures=0)(lambda context: None)
    with pytest.raises(nf.SensorDefinitionError, match="forget_run_keys takes a list of run keys: pass \\['a'\\]"):
        _sensor_returning(None).forget_run_keys("a")


def test_partitioned_run_requests_must_match_the_job(instance):
    fruits = nf.DynamicPartitionsDefinition("fruits_for_sensor")

    @nf.job(partitions_def=fruits)
    def fruit_job():
        constant()

    no_key = _sensor_returning(nf.RunRequest(), job=fruit_job).tick(instance=instance)
    assert no_key.status == "FAILURE"
    assert "Job 'fruit_job' is partitioned by 'fruits_for_sensor': its RunRequests need partition_key" in no_key.error
    keyed = _sensor_returning(nf.RunRequest(partition_key="a"), job=sensed_job).tick(instance=instance)
    assert "RunRequest(partition_key='a') for job 'sensed_job', which is not partitioned" in keyed.error
    bad_key = _sensor_returning(nf.RunRequest(partition_key="a\nb"), job=fruit_job).tick(instance=instance)
    assert "partition key" in bad_key.error and "control character" in bad_key.error
    assert instance.runs().empty


def test_a_mapped_op_cannot_also_collect_its_own_fan_out():
    with pytest.raises(nf.DynamicWiringError, match=r"In @job both_ways, op 'add' cannot both collect over dynamic "
                       r"output \"emit:result\" \(input 'b'\) and be downstream of it. Collect in one op"):

        @nf.job
        def both_ways():
            items = emit()
            items.map(lambda x: add(x, items.collect()))

    with pytest.raises(nf.DynamicWiringError, match=r"op 'add' cannot be both downstream of dynamic output "
                       r"\"emit:result\" \(input 'b'\) and collect over it"):

        @nf.job
        def other_way():
            items = emit()
            items.map(lambda x: add(items.collect(), x))


BAD_NAMES = [
    ("with\x00nul", r"contains the control character '\\x00'"),
    ("two\nlines", r"contains the control character '\\n'"),
    ("x" * 10_000, "is 10000 characters long; the limit is 255"),
    (42, "must be a str, but got 42 of type int"),
    ("   ", "must not be blank"),
    ("op[k]", r"contains '\[' or '\]', which name one mapped step"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
def test_op_job_graph_and_partitions_names_follow_one_rule(name, message):
    def body():
        return 1

    with pytest.raises(nf.DefinitionError, match=message):
        nf.op(name=name)(body)
    with pytest.raises(nf.DefinitionError, match=message):
        nf.job(name=name)(lambda: None)
    with pytest.raises(nf.DefinitionError, match=message):
        nf.graph(name=name)(lambda: None)
    with pytest.raises(nf.PartitionsError, match=message):
        nf.DynamicPartitionsDefinition(name=name)
    with pytest.raises(nf.PartitionsError, match=message):
        nf.AddDynamicPartitionsRequest(name, ("k",))
    with pytest.raises(nf.DefinitionError, match=message):
        echo.alias(name)


def test_names_may_be_any_other_text():
    assert nf.op(name="transcribe audio ✓")(lambda: 1).name == "transcribe audio ✓"
    assert nf.DynamicPartitionsDefinition("podcast/episodes 2024").name == "podcast/episodes 2024"
