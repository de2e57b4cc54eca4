"""Each view's front-end module is the shared DOM helpers followed by the view's own code."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from nbflow.widgets.base import STATIC, view_module
from nbflow.widgets.job_view import JobView
from nbflow.widgets.partitions_view import PartitionsView
from nbflow.widgets.run_view import RunView
from nbflow.widgets.sensor_view import SensorView

VIEWS = {JobView: "job_view.js", RunView: "run_view.js", PartitionsView: "partitions_view.js",
         SensorView: "sensor_view.js"}
SHARED = ("h", "badge", "keepKeysInFields", "keepingFocus", "drawGraph", "keepingScroll", "hideStaticPicture")


@pytest.mark.parametrize("view", list(VIEWS), ids=lambda v: v.__name__)
def test_a_views_module_starts_with_the_shared_helpers_and_defines_none_again(view):
    own = (STATIC / VIEWS[view]).read_text()
    shared = (STATIC / "_dom.js").read_text()
    module = view._esm
    assert module == view_module(VIEWS[view])
    assert module.startswith(shared) and module.endswith(own)
    assert module.rstrip().endswith("export default { render };")
    for name in SHARED:
        assert re.search(rf"^const {name} = ", shared, re.M), name
        assert not re.search(rf"^(const|let|var|function) {name}\b", own, re.M), f"{VIEWS[view]} defines {name} again"


def test_the_graph_views_redraw_the_svg_only_through_the_shared_helper():
    for name in ("job_view.js", "run_view.js"):
        own = (STATIC / name).read_text()
        assert "drawGraph(graph, model.get(\"svg\"))" in own
        assert "graph.innerHTML" not in own


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to parse the modules")
@pytest.mark.parametrize("view", list(VIEWS), ids=lambda v: v.__name__)
def test_each_assembled_module_parses_as_an_es_module(view, tmp_path):
    # A helper declared twice (in _dom.js and in a view) is a SyntaxError of the whole module.
    path = tmp_path / f"{view.__name__}.mjs"
    path.write_text(view._esm)
    done = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to parse the modules")
def test_the_parse_check_sees_a_helper_declared_twice(tmp_path):
    path = tmp_path / "twice.mjs"
    path.write_text(view_module("job_view.js") + "\nconst h = () => null;\n")
    done = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "has already been declared" in done.stderr
