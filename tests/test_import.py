"""``import nbflow`` is cheap: no heavy dependency is imported until it is used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ["duckdb", "pandas", "pyarrow", "IPython", "ipywidgets", "anywidget", "graphviz", "dask"]

PRELUDE = """
import json, sys, time
start = time.perf_counter()
import nbflow
import_ms = (time.perf_counter() - start) * 1000
"""

REPORT = f"""
heavy = sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"heavy": heavy, "import_ms": import_ms}}))
"""


def _heavy_after(code: str = "") -> dict:
    """Run ``code`` after ``import nbflow`` in a fresh interpreter; report heavy modules and time."""
    script = PRELUDE + textwrap.dedent(code) + REPORT
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_nbflow_imports_no_heavy_module():
    found = _heavy_after()
    assert found["heavy"] == [], (
        f"import nbflow imported {found['heavy']} (import took {found['import_ms']:.0f} ms); "
        f"move those imports into the functions that need them"
    )


def test_the_probe_sees_heavy_imports():
    # The check above can fail: importing pandas by hand is seen.
    assert "pandas" in _heavy_after("import pandas")["heavy"]


def test_defining_ops_and_jobs_and_an_instance_imports_no_heavy_module():
    # Definitions are pure, and an instance opens (and imports duckdb) only on first use.
    found = _heavy_after(
        """
        @nbflow.op(out=nbflow.DynamicOut())
        def emit():
            yield nbflow.DynamicOutput(1, mapping_key="a")

        @nbflow.op
        def double(x):
            return 2 * x

        @nbflow.job
        def cheap():
            emit().map(double).collect()

        inst = nbflow.Instance.ephemeral()
        assert cheap.nodes
        """
    )
    assert found["heavy"] == [], (
        f"defining a job imported {found['heavy']} (import nbflow took {found['import_ms']:.0f} ms)"
    )


def test_a_folder_named_nbflow_beside_a_notebook_does_not_hide_the_package(tmp_path):
    """A notebook's folder comes first on sys.path; a data folder there named nbflow (no
    __init__.py) must not be imported as an empty namespace package in nbflow's place."""
    (tmp_path / "nbflow").mkdir()
    (tmp_path / "nbflow" / "notes.txt").write_text("not a package")
    done = subprocess.run([sys.executable, "-c", "import nbflow; print(nbflow.op.__module__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nbflow.definitions.op"
