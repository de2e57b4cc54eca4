"""Ops: what a definition records, and calling an op directly (outside a job)."""

from __future__ import annotations

import pytest

import nbflow as nf


def test_bare_and_configured_decorators_record_their_options():
    @nf.op
    def plain(a, b=2):
        """Adds."""
        return a + b

    @nf.op(name="renamed", tags={"kind": "io", "n": 1}, retry_policy=nf.RetryPolicy(3, delay=0.5),
           out={"x": nf.Out(), "items": nf.DynamicOut()}, description="custom")
    def configured(context, value: int):
        yield nf.Output(value, "x")

    assert plain.name == "plain" and plain.description == "Adds."
    assert list(plain.ins) == ["a", "b"] and plain.ins["b"].default_value == 2
    assert not plain.takes_context
    assert configured.name == "renamed" and configured.description == "custom"
    assert configured.tags == {"kind": "io", "n": "1"}
    assert configured.retry_policy.max_retries == 3 and configured.retry_policy.delay == 0.5
    assert configured.takes_context and list(configured.ins) == ["value"]
    assert [o.is_dynamic for o in configured.outs.values()] == [False, True]


def test_an_op_called_outside_a_job_runs_its_body():
    @nf.op
    def double(x):
        return 2 * x

    @nf.op(config_schema={"factor": int})
    def scale(context, x):
        return context.op_config["factor"] * x

    assert double(21) == 42
    assert scale(nf.build_op_context(op_config={"factor": 3}), 5) == 15


def test_context_reports_mapping_key_and_refuses_a_missing_partition():
    ctx = nf.build_op_context(mapping_key="k1")
    assert ctx.get_mapping_key() == "k1"
    assert not ctx.has_partition_key
    with pytest.raises(nf.NbflowError, match="Cannot access partition_key for a non-partitioned run"):
        ctx.partition_key  # noqa: B018


def test_dynamic_output_keeps_key_and_value():
    out = nf.DynamicOutput({"v": 1}, mapping_key="a b/c", output_name="items", metadata={"m": 1})
    assert (out.value, out.mapping_key, out.output_name, out.metadata) == ({"v": 1}, "a b/c", "items", {"m": 1})


def test_file_relative_path():
    assert nf.file_relative_path("/a/b/defs.py", "data/x.csv") == "/a/b/data/x.csv"


def test_input_default_is_used_when_not_wired(instance):
    @nf.op
    def source():
        return 1

    @nf.op(ins={"b": nf.In(default_value=10)})
    def add(a, b):
        return a + b

    @nf.job
    def defaults():
        add(source())

    assert defaults.run(instance=instance).output("add") == 11


def test_plain_output_names_the_one_output_a_return_value_is_as_it_is():
    @nf.op
    def plain():
        return 1

    @nf.op(out={"a": nf.Out(), "b": nf.Out()})
    def two():
        return 1, 2

    @nf.op(out=nf.Out(is_required=False))
    def optional():
        yield nf.Output(1)

    @nf.op(out=nf.Out(int))
    def typed():
        return 1

    @nf.op(out=nf.DynamicOut())
    def fan():
        yield nf.DynamicOutput(1, mapping_key="a")

    assert plain.plain_output == "result"
    assert [op.plain_output for op in (two, optional, typed, fan)] == [None] * 4


def test_a_plain_op_may_still_return_an_output_object(instance):
    @nf.op
    def wrapped():
        return nf.Output(5)

    @nf.op
    def wrong_name():
        return nf.Output(5, output_name="other")

    @nf.job
    def outputs_job():
        wrapped()
        wrong_name()

    run = outputs_job.run(instance=instance)
    assert run.output("wrapped") == 5
    assert "did not produce its required output 'result'" in run.steps().set_index("step_key").error["wrong_name"]
