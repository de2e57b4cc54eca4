"""`jupyter nbconvert --execute --to html`, opened offline in Chromium, shows every view's picture."""

from __future__ import annotations

import os
import subprocess
import sys

from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.jlab import CHECKOUT
from tests.browser.notebook import write_notebook

CELLS = [
    "import nbflow as nf\nBROKEN = {'k2'}",
    '''@nf.op(out=nf.DynamicOut())
def parts():
    for i in range(5):
        yield nf.DynamicOutput(i, mapping_key=f"k{i}")


@nf.op
def square(context, i: int) -> int:
    if context.get_mapping_key() in BROKEN:
        raise ValueError("k2 is broken")
    return i * i


@nf.job
def squares():
    parts().map(square)


squares''',
    "run = squares.run()",
    '''letters = nf.DynamicPartitionsDefinition("export_letters")
letters.add(["alpha", "beta", "gamma"])
letters''',
    '''@nf.sensor(job=squares)
def idle(context):
    return nf.SkipReason("nothing new")


idle.tick()
idle''',
]


def test_exported_html_shows_every_view_offline(browser, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    write_notebook(folder, "report.ipynb", CELLS)
    env = {**os.environ, "NBFLOW_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join(p for p in [str(CHECKOUT), os.environ.get("PYTHONPATH", "")] if p)}
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "html", "report.ipynb"],
                   cwd=folder, env=env, check=True, capture_output=True, timeout=300)
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto((folder / "report.html").as_uri())
        pictures = page.locator(".nbflow-static")
        expect(pictures).to_have_count(4)  # the job, the run, the partitions, the sensor
        job, run, keys, sensor = (pictures.nth(i) for i in range(4))
        expect(job.locator("svg g.node#node\\:square")).to_be_visible()
        expect(run).to_contain_text("FAILURE — 6 of 6 steps, 1 failed")  # the run as it ended
        expect(run.locator("svg")).to_be_visible()
        expect(keys.locator("table")).to_contain_text("gamma")
        expect(sensor.locator("table")).to_contain_text("SKIPPED")
        for picture in (job, run, keys, sensor):
            box = picture.bounding_box()
            assert box is not None and box["height"] > 20
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "exported-html-offline.png"), full_page=True)
    finally:
        context.close()
