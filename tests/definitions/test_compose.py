"""Wiring: node names, graphs, aliases, multiple outputs, and the node structure."""

from __future__ import annotations

import nbflow as nf
from nbflow.definitions.compose import COLLECT, ITEM, VALUE, DynSource


@nf.op(out=nf.DynamicOut())
def emit():
    yield nf.DynamicOutput(1, mapping_key="a")


@nf.op
def f(x):
    return x


@nf.op
def both(x, y):
    return (x, y)


def test_scopes_and_binding_kinds():
    @nf.op
    def const():
        return 0

    @nf.job
    def wired():
        c = const()
        both(emit().map(lambda x: both(f(x), c)).collect(), c)

    nodes = wired.nodes
    assert list(nodes) == ["const", "emit", "f", "both", "both_2"]
    assert nodes["f"].scope == DynSource("emit", "result")
    assert nodes["f"].inputs["x"].kind == ITEM
    assert nodes["both"].scope == DynSource("emit", "result")
    assert [b.kind for b in nodes["both"].inputs.values()] == [ITEM, VALUE]
    assert nodes["both_2"].scope is None
    assert [b.kind for b in nodes["both_2"].inputs.values()] == [COLLECT, VALUE]


def test_graph_nodes_are_prefixed_and_its_output_resolves():
    @nf.graph
    def inner(x):
        return f(x)

    @nf.job
    def outer():
        inner(emit().collect())
        inner(emit().collect())

    assert "inner.f" in outer.nodes and "inner_2.f" in outer.nodes
    assert outer.resolve_output("inner", "result") == ("inner.f", "result")


def test_alias_names_a_second_use():
    @nf.job
    def aliased():
        items = emit().collect()
        f.alias("first")(items)
        f.alias("second")(items)

    assert {"first", "second"} <= set(aliased.nodes)
    assert aliased.nodes["first"].op is f


def test_redefining_a_job_replaces_it_by_name():
    @nf.job(name="same_name")
    def one():
        f(emit().collect())

    @nf.job(name="same_name")
    def two():
        f(emit().collect())

    assert nf.definitions.JOBS["same_name"] is two


def test_graph_to_job_runs(instance):
    @nf.graph
    def whole():
        return f(emit().collect())

    assert whole.to_job().run(instance=instance).output("f") == [1]
