"""Config schemas: defaults, nesting, lists, and what each mistake says."""

from __future__ import annotations

import pytest

import nbflow as nf
from nbflow.definitions.config import resolve_op_config


def test_defaults_nesting_and_lists():
    schema = {
        "n": nf.Field(int, default_value=3),
        "names": [str],
        "inner": {"rate": float, "tag": nf.Field(str, is_required=False)},
    }
    from nbflow.definitions.config import normalize_schema

    resolved = resolve_op_config("op", normalize_schema(schema), {"names": ["a"], "inner": {"rate": 1}})
    assert resolved == {"n": 3, "names": ["a"], "inner": {"rate": 1}}


def test_a_plain_type_schema():
    from nbflow.definitions.config import normalize_schema

    assert resolve_op_config("op", normalize_schema(int), 5) == 5
    with pytest.raises(nf.ConfigError, match=r"Op 'op': missing required config field 'config' \(int\)"):
        resolve_op_config("op", normalize_schema(int), None)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"inner": {"rate": "x"}, "names": []}, r"config field 'inner.rate' must be of type float, got 'x' \(str\)"),
        ({"inner": {"rate": 1.0}, "names": [1]}, r"config field 'names\[0\]' must be of type str, got 1 \(int\)"),
        ({"inner": {"rate": 1.0}, "names": "a"}, r"config field 'names' must be a list, got 'a' \(str\)"),
        ({"inner": 3, "names": []}, r"config field 'inner' must be a dict, got 3 \(int\)"),
        ({"inner": {"rate": True}, "names": []}, r"config field 'inner.rate' must be of type float, got True \(bool\)"),
    ],
)
def test_nested_messages_name_the_path(value, message):
    from nbflow.definitions.config import normalize_schema

    schema = normalize_schema({"inner": {"rate": float}, "names": [str]})
    with pytest.raises(nf.ConfigError, match=message):
        resolve_op_config("op", schema, value)


def test_not_a_config_type():
    with pytest.raises(nf.ConfigError, match=r"is not a config type. Use int, float, str, bool"):

        @nf.op(config_schema={"x": 3})
        def f(context):
            return 1


def test_nested_graph_config_form(instance):
    @nf.op(config_schema={"n": int})
    def leaf(context):
        return context.op_config["n"]

    @nf.graph
    def sub():
        return leaf()

    @nf.job
    def nested_config():
        sub()

    run = nested_config.run(run_config={"ops": {"sub": {"ops": {"leaf": {"config": {"n": 4}}}}}}, instance=instance)
    assert run.output("sub") == 4
