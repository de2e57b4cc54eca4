"""A job's topology: built once when the job is defined, read-only, the one source of structure."""

from __future__ import annotations

import dataclasses

import pytest

import nbflow as nf
from nbflow.definitions.compose import DynSource
from nbflow.definitions.topology import JobTopology, walk
from nbflow.execution.plan import Plan
from nbflow.viz.shape import shape_of


@nf.op(out=nf.DynamicOut())
def files():
    for name in ("a", "b"):
        yield nf.DynamicOutput(name, mapping_key=name)


@nf.op
def settings() -> dict:
    return {"scale": 2}


@nf.op
def parse(name: str, config: dict) -> int:
    return len(name) * config["scale"]


@nf.op
def double(x: int) -> int:
    return 2 * x


@nf.op
def total(values: list, config: dict) -> int:
    return sum(values)


@nf.op
def report(n: int) -> str:
    return str(n)


@nf.job
def pipeline():
    config = settings()
    report(total(files().map(lambda f: double(parse(f, config))).collect(), config))


def test_the_structure_of_a_fan_out_with_a_shared_input():
    topo = pipeline.topology
    assert topo.order == ("settings", "files", "parse", "double", "total", "report")
    assert topo.parents == {"settings": set(), "files": set(), "parse": {"files", "settings"},
                            "double": {"parse"}, "total": {"double", "settings"}, "report": {"total"}}
    assert topo.children["settings"] == {"parse", "total"} and topo.children["report"] == frozenset()
    source = DynSource("files", "result")
    assert topo.scopes == {"parse": source, "double": source} and topo.mapped == {"parse", "double"}
    assert topo.sources == {"files": (source,)} and topo.fanouts == {"files"}
    assert topo.item_consumers == {("files", "result"): (("parse", "name"),), ("parse", "result"): (("double", "x"),)}
    assert topo.value_consumers == {("settings", "result"): (("parse", "config"), ("total", "config")),
                                    ("total", "result"): (("report", "n"),)}
    assert topo.collect_consumers == {("double", "result"): (("total", "values"),)}
    assert topo.scope_nodes == {source: ("parse", "double")}
    assert topo.collected_in_scope == {source: (("double", "result"),)}
    assert topo.n_item_inputs["parse"] == 1 and topo.n_shared_inputs["parse"] == 1
    assert topo.n_shared_inputs["total"] == 2 and topo.n_item_inputs["total"] == 0
    assert topo.mapped_per_fanout == {"files": 2}  # a key of files adds a parse and a double step


def test_traversals_over_it():
    topo = pipeline.topology
    assert topo.downstream_of("files") == {"parse", "double", "total", "report"}
    assert topo.downstream_of("report") == frozenset()
    assert topo.upstream_of("total") == {"settings", "files", "parse", "double"}
    assert walk({"parse"}, topo.children, 1) == {"parse", "double"}
    assert walk({"total"}, topo.parents, None) == {"total", "settings", "files", "parse", "double"}


def test_built_once_at_definition_and_read_only():
    topo = pipeline.topology
    assert isinstance(topo, JobTopology) and pipeline.topology is topo
    assert pipeline.with_latest_ops().topology is topo  # same wiring, same topology
    with pytest.raises(dataclasses.FrozenInstanceError):
        topo.order = ()  # type: ignore[misc]
    # the executor's plan is this structure
    assert Plan is JobTopology
    assert Plan.build(pipeline.nodes).item_consumers == topo.item_consumers


def test_a_subset_of_the_ops_has_its_own_topology():
    part = pipeline.select_ops(["total+"])
    assert set(part.topology.order) == {"total", "report"}
    assert part.topology.parents == {"total": set(), "report": {"total"}}
    assert pipeline.topology.parents["total"] == {"double", "settings"}  # the job's own is untouched


def test_the_drawn_shape_reads_fan_outs_and_maps_from_it():
    shape = shape_of(pipeline)
    assert {n for n, s in shape.items() if s.is_fanout} == pipeline.topology.fanouts
    assert {n for n, s in shape.items() if s.is_mapped} == pipeline.topology.mapped


def test_an_empty_job():
    @nf.job
    def nothing():
        pass

    topo = nothing.topology
    assert topo.order == () and topo.mapped == frozenset() and topo.mapped_per_fanout == {}
