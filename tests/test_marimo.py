"""In marimo, displaying a job, a run, a partitions definition or a sensor shows its view.

The notebook is run by marimo's own exporter (``marimo export html``), which executes
every cell in marimo's runtime; the cells' outputs are read back from the export.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("marimo")

CHECKOUT = Path(__file__).resolve().parents[1]

APP = textwrap.dedent('''
    import marimo

    app = marimo.App()


    @app.cell
    def _():
        import nbflow as nf
        return (nf,)


    @app.cell
    def _(nf):
        @nf.op(out=nf.DynamicOut())
        def parts():
            for i in range(3):
                yield nf.DynamicOutput(i, mapping_key=f"k{i}")

        @nf.op
        def square(i: int) -> int:
            print("squaring", i)
            return i * i

        @nf.job
        def squares():
            parts().map(square)

        squares
        return (squares,)


    @app.cell
    def _(squares):
        run = squares.run()
        return (run,)


    @app.cell
    def _(run):
        run
        return


    @app.cell
    def _(nf):
        letters = nf.DynamicPartitionsDefinition("marimo_letters")
        letters.add(["a", "b"])
        letters
        return


    @app.cell
    def _(nf):
        @nf.sensor()
        def idle(context):
            return nf.SkipReason("nothing new")

        idle
        return


    if __name__ == "__main__":
        app.run()
''')
WIDGET = re.compile(r"<marimo-anywidget [^>]*data-model-id='&quot;(?P<id>[0-9a-f]+)&quot;'")


@pytest.mark.slow
def test_views_show_in_marimo(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    env = {**os.environ, "NBFLOW_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join(p for p in [str(CHECKOUT), os.environ.get("PYTHONPATH", "")] if p)}
    done = subprocess.run([sys.executable, "-m", "marimo", "export", "html", "app.py", "-o", "app.html"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (tmp_path / "app.html").read_text()
    session = json.JSONDecoder().raw_decode(page, page.index('"session": ') + len('"session": '))[0]
    outputs = ["".join(o["data"].get("text/html", "") for o in cell["outputs"]) for cell in session["cells"]]
    widgets = [[m["id"] for m in WIDGET.finditer(html_out.replace("\\u0026", "&"))] for html_out in outputs]
    job, live, shown_run, letters, sensor = widgets[1:]
    assert len(job) == len(live) == len(shown_run) == len(letters) == len(sensor) == 1, outputs
    assert shown_run == live  # the run shown after job.run() is the live view, not a second one
    assert len({job[0], live[0], letters[0], sensor[0]}) == 4
