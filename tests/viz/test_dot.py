"""DOT text of jobs and runs, compared with committed snapshots; SVG rendering.

Set NBFLOW_UPDATE_SNAPSHOTS=1 to rewrite the snapshots after a deliberate change, then
look at the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import nbflow as nf
from nbflow import viz
from nbflow.viz.dot import Expanded
from nbflow.viz.shape import shape_from_json, shape_to_json
from nbflow.viz.states import NodeState

SNAPSHOTS = Path(__file__).parent / "snapshots"


def check(name: str, dot: str) -> None:
    path = SNAPSHOTS / f"{name}.dot"
    if os.environ.get("NBFLOW_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(dot)
        if not os.environ.get("NBFLOW_UPDATE_SNAPSHOTS"):
            pytest.fail(f"snapshot {path.name} was missing and has been written; run again")
    assert dot == path.read_text()


@nf.op
def read() -> int:
    return 1


@nf.op
def double(x: int) -> int:
    return 2 * x


@nf.job
def linear():
    double(read())


@nf.op(out=nf.DynamicOut())
def files():
    for i in range(5000):
        yield nf.DynamicOutput(i, mapping_key=f"file_{i}.csv")


@nf.op
def parse(x: int) -> int:
    return x


@nf.op
def total(xs: list) -> int:
    return sum(xs)


@nf.job
def fan():
    total(files().map(parse).map(double).collect())


@nf.job
def fan_once():
    total(files().map(parse).collect())


def test_linear_job():
    check("linear", viz.job_dot(linear))


def test_fanout_with_chained_map_and_collect():
    dot = viz.job_dot(fan)
    check("fanout", dot)
    assert "peripheries=2" in dot and "shape=box3d" in dot and "arrowhead=crow" in dot


def test_a_run_with_mixed_statuses():
    states = {"files": NodeState({"SUCCESS": 1}, 2.5),
              "parse": NodeState({"SUCCESS": 4990, "FAILURE": 7, "STARTED": 3}, 61.0),
              "double": NodeState({"SUCCESS": 4990, "SKIPPED": 7}, 0.4, reused=10),
              "total": NodeState({"SKIPPED": 1})}
    dot = viz.job_dot(fan, states)
    check("mixed", dot)
    assert "parse ×5000\\n4990 ok · 7 failed · 3 running\\n61.0 s" in dot


def test_a_5000_key_op_is_one_node_until_expanded():
    states = {"parse": NodeState({"SUCCESS": 5000})}
    collapsed = viz.job_dot(fan_once, states)
    assert collapsed.count("key:parse") == 0
    first = Expanded([(f"file_{i}.csv", "SUCCESS") for i in range(20)], 5000)
    check("expanded_first", viz.job_dot(fan_once, states, {"parse": first}))
    failed = Expanded([("file_7.csv", "FAILURE"), ("file_70.csv", "FAILURE")], 2, "failed")
    dot = viz.job_dot(fan_once, states, {"parse": failed})
    check("expanded_failed", dot)
    assert 'label="parse: failed 2 keys"' in dot
    pattern = Expanded([("file_1.csv", "SUCCESS")], 1111, "matching")
    assert 'label="parse: matching 1 of 1111 keys"' in viz.job_dot(fan_once, states, {"parse": pattern})


def test_keys_with_quotes_and_backslashes_stay_text():
    odd = Expanded([('a "quoted" \\n key', "SUCCESS")], 1)
    svg = viz.render_svg(viz.job_dot(fan_once, {}, {"parse": odd}))
    assert 'a &quot;quoted&quot; \\n key' in svg or 'a "quoted" \\n key' in svg


def test_svg_has_clickable_ids():
    svg = viz.render_svg(viz.job_dot(fan))
    assert svg.startswith("<svg")
    for name in ("files", "parse", "double", "total"):
        assert f'id="node:{name}"' in svg


def test_a_stored_shape_draws_the_same_graph():
    assert viz.job_dot(shape_from_json(shape_to_json(fan))) == viz.job_dot(fan)


def test_states_from_a_runs_steps(instance):
    run = fan_once.run(instance=instance)
    states = viz.states_from_steps(run.steps())
    assert states["parse"].counts == {"SUCCESS": 5000} and states["parse"].status == "SUCCESS"
    assert states["total"].status == "SUCCESS" and states["total"].duration is not None


def test_a_missing_dot_executable_is_explained(monkeypatch):
    from nbflow.viz import render

    render.dot_executable.cache_clear()
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    monkeypatch.setattr(render.os.path, "exists", lambda path: False)
    try:
        with pytest.raises(viz.GraphvizNotFound, match="pip install graphviz-pure"):
            render.dot_executable()
    finally:
        render.dot_executable.cache_clear()


ODD_NAMES = ["<untitled>", "a>b", "{x|y}", "<b>bold</b>", 'q"uote\\', "back\\Nslash", "tab|pipe<>"]


@pytest.mark.parametrize("odd", ODD_NAMES)
def test_odd_op_names_and_keys_are_drawn_as_text_with_their_ids(odd):
    import xml.etree.ElementTree as ET

    @nf.op(out=nf.DynamicOut())
    def source():
        yield nf.DynamicOutput(1, mapping_key="k")

    step = nf.op(name=odd)(lambda x: x)

    @nf.job
    def odd_job():
        source().map(step)

    dot = viz.job_dot(odd_job, {}, {odd: Expanded([(odd, "SUCCESS"), ("plain", "FAILURE")], 2)})
    svg = ET.fromstring(viz.render_svg(dot))
    groups = {g.get("id"): g for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    texts = {key: [t.text for t in g.iter("{http://www.w3.org/2000/svg}text")] for key, g in groups.items()}
    assert texts[f"node:{odd}"][0].startswith(f"{odd} (mapped)"), texts[f"node:{odd}"]
    assert texts[f"key:{odd}:{odd}"] == [odd]
    assert texts[f"key:{odd}:plain"] == ["plain"]
