"""nbflow's side of Dagster's asset, selection and Definitions API: mistakes get clear errors."""

from __future__ import annotations

import pytest

import nbflow as nf


@nf.asset
def dapi_one():
    return 1


@nf.asset
def dapi_two(dapi_one):
    return dapi_one + 1


def test_asset_keys_and_selection():
    assert dapi_one.key == nf.AssetKey("dapi_one")
    assert nf.AssetKey.from_user_string("a/b") == nf.AssetKey(["a", "b"])
    assert nf.AssetKey(["a", "b"]).to_user_string() == "a/b"
    assert [a.name for a in nf.AssetSelection.keys("dapi_two", nf.AssetKey("dapi_one")).resolve()] == [
        "dapi_two", "dapi_one"]
    assert [a.name for a in nf.AssetSelection.all().resolve([dapi_one, dapi_two])] == ["dapi_one", "dapi_two"]


def test_asset_selection_errors():
    with pytest.raises(nf.DagsterInvalidDefinitionError,
                       match=r"AssetSelection names asset 'dapi_tow', which is not defined. Valid ones \(closest first\): 'dapi_two'"):
        nf.AssetSelection.keys("dapi_tow").resolve()
    with pytest.raises(nf.DefinitionError, match=r"AssetKey takes a non-empty str or list of str, got \[\]"):
        nf.AssetKey([])
    with pytest.raises(nf.DefinitionError, match=r"define_asset_job\('bad'\) takes a list of assets, an AssetSelection or"):
        nf.define_asset_job("bad", 3)
    job = nf.define_asset_job("dapi_job", [dapi_one, dapi_two])
    with pytest.raises(nf.DefinitionError, match=r"asset_selection names \['nope'\], which job 'dapi_job' does not materialize"):
        job.execute_in_process(asset_selection=["nope"], instance=nf.Instance.ephemeral())
    with pytest.raises(nf.DefinitionError, match=r"asset_selection takes asset keys, @asset definitions or names, got 3"):
        job.execute_in_process(asset_selection=[3], instance=nf.Instance.ephemeral())


def test_asset_selection_runs_only_those_assets(instance):
    job = nf.define_asset_job("dapi_sel", [dapi_one, dapi_two])
    result = job.execute_in_process(asset_selection=[dapi_one.key], instance=instance)
    assert result.output_for_node("dapi_one") == 1
    assert {e.step_key for e in result.all_events if e.step_key} == {"dapi_one"}


def test_asset_arguments_nbflow_cannot_honour():
    with pytest.raises(nf.UnsupportedArgumentError, match=r"@asset: the argument io_manager_key= is not supported"):
        nf.asset(io_manager_key="s3")
    with pytest.raises(TypeError, match=r"required_resource_keys= is not supported by nbflow"):
        nf.asset(required_resource_keys={"db"})


def test_definitions_lookups():
    job = nf.define_asset_job("dapi_all", "*")
    defs = nf.Definitions(assets=[dapi_one, dapi_two], jobs=[job])
    assert [a.name for a in defs.get_job_def("dapi_all").assets] == ["dapi_one", "dapi_two"]
    assert defs.get_assets_def(nf.AssetKey("dapi_two")) is dapi_two
    with pytest.raises(nf.DefinitionError, match=r"Definitions has no job 'dapi_al'. Valid ones \(closest first\): 'dapi_all'"):
        defs.get_job_def("dapi_al")
    with pytest.raises(nf.DefinitionError, match=r"Definitions has no sensor 'x'. There are none."):
        defs.get_sensor_def("x")


def test_latest_materialization_event(instance):
    assert instance.get_latest_materialization_event(nf.AssetKey("dapi_one")) is None
    result = nf.materialize([dapi_one], instance=instance)
    event = instance.get_latest_materialization_event(dapi_one)
    assert event.run_id == result.run_id
    assert event.asset_materialization.asset_key == nf.AssetKey("dapi_one")
    assert event.asset_materialization.partition is None


def test_graph_outputs_and_their_errors(instance):
    @nf.op
    def three():
        return 3

    @nf.graph
    def single():
        return three()

    result = single.execute_in_process(instance=instance)
    assert result.output_value() == 3
    with pytest.raises(nf.DagsterInvariantViolationError, match=r"The graph has no output 'other'; it has \['result'\]"):
        result.output_value("other")


def test_fan_in_of_mapped_outputs_is_refused():
    @nf.op(out=nf.DynamicOut())
    def emit():
        yield nf.DynamicOutput(1, mapping_key="a")

    @nf.op
    def echo(x):
        return x

    with pytest.raises(nf.DynamicWiringError, match=r"Problematic dependency on dynamic output \"emit:result\": in @job wrong, input 'x' of op 'echo_2' got a list holding the mapped output "
                       r"of op 'echo'. Use .collect\(\) to gather a fan-out."):

        @nf.job
        def wrong():
            emit().map(lambda v: echo([echo(v)]))


def test_validate_run_config():
    @nf.op(config_schema={"n": int})
    def takes_n(context):
        return context.op_config["n"]

    @nf.job
    def vjob():
        takes_n()

    assert nf.validate_run_config(vjob, {"ops": {"takes_n": {"config": {"n": 2}}}}) == {
        "ops": {"takes_n": {"config": {"n": 2}}}}
    with pytest.raises(nf.DagsterInvalidConfigError, match=r"config field 'n' must be of type int"):
        nf.validate_run_config(vjob, {"ops": {"takes_n": {"config": {"n": "2"}}}})


def test_sensor_context_without_an_instance():
    ctx = nf.build_sensor_context()
    with pytest.raises(nf.DagsterInvariantViolationError, match=r"no instance reference was provided. Pass one: "
                       r"build_sensor_context\(instance=nbflow.Instance.ephemeral\(\)\)"):
        ctx.instance  # noqa: B018


def test_evaluate_without_a_context_sees_the_default_instance():
    @nf.sensor()
    def counts(context):
        return nf.SkipReason(f"{context.instance.count_dynamic_partitions('dapi_keys')} keys")

    nf.instance().add_dynamic_partitions("dapi_keys", ["a", "b"])
    assert counts.evaluate().skip_message == "2 keys"
    with pytest.raises(nf.DagsterInvalidInvocationError, match="expected context argument"):
        counts()  # calling it directly is Dagster's invocation: the context is required
