"""Cancel a run from its view while the cell still waits for it, then finish it from the view.

The run is started in the foreground (`job.run()`), so the cell is busy all along: the
Cancel click is answered on the views' subshell, the run ends CANCELED with its finished
steps kept, the cell ends without a traceback, and "Finish this run" reruns only the rest.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.notebook import kernel_exec, open_notebook, run_all, wait_idle

CELLS = [
    '''import tempfile, time
import nbflow as nf

store = nf.Instance(tempfile.mkdtemp() + "/cancel.duckdb")
gate = {"open": False}


@nf.op(out=nf.DynamicOut())
def episodes():
    for i in range(8):
        yield nf.DynamicOutput(i, mapping_key=f"ep{i}")


@nf.op
def transcribe(context, i: int) -> int:
    if context.get_mapping_key() == "ep5":
        while not gate["open"]:
            time.sleep(0.05)
    return i * 10


@nf.op
def total(values: list) -> int:
    return sum(values)


@nf.job
def transcription():
    total(episodes().map(transcribe).collect())''',
    "run = transcription.run(instance=store)",
    "print('cell ended with', run.status)",
]


def test_cancel_a_foreground_run_from_its_view_then_finish_it(page, jlab, notebook_factory):
    name = notebook_factory(CELLS)
    open_notebook(page, jlab, name)
    run_all(page)
    cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(1)
    view = cell.locator(".nbflow-runview").first
    cancel = view.locator("button.nbflow-run-cancel")
    expect(cancel).to_be_visible(timeout=30_000)
    expect(view.locator(".nbflow-progress-text")).to_contain_text("running")
    assert cell.locator(".jp-InputPrompt").inner_text().strip() == "[*]:"  # the cell still waits
    cancel.click()
    expect(view.locator(".nbflow-run-header .nbflow-badge").first).to_have_text("CANCELED", timeout=20_000)
    expect(view.locator(".nbflow-progress-text")).to_contain_text("canceled")
    expect(page.locator(".jp-NotebookPanel .jp-Cell").nth(2)).to_contain_text("cell ended with CANCELED")
    assert "Traceback" not in cell.inner_text()
    screenshot(page, "run-canceled", view)

    kernel_exec(jlab, name, "gate['open'] = True")
    view.locator("button.nbflow-run-finish").click()
    expect(view.locator(".nbflow-run-header .nbflow-badge").first).to_have_text("SUCCESS", timeout=30_000)
    wait_idle(page)
    answer = kernel_exec(jlab, name, "child = store.runs().iloc[0]\n"
                                     "finished = store.get_run(child.run_id)\n"
                                     "print(finished.parent_run_id == run.run_id, finished.output('total'),"
                                     " finished.steps().reused_from.notna().sum() > 0)")
    assert answer.split() == ["True", "280", "True"]
