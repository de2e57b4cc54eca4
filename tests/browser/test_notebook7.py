"""The views in Jupyter Notebook 7: they draw, and they add no error to the page.

Notebook 7 itself throws ``Cannot read properties of undefined (reading 'schema')`` once
per page, from its keyboard-shortcuts settings plugin, also for a notebook that only runs
``print(1 + 1)``; that error is not the views' and is told apart here.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.jlab import TOKEN, jupyterlab
from tests.browser.notebook import write_notebook

NOTEBOOK7_OWN = "Cannot read properties of undefined (reading 'schema')"
KERNEL_READY = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session
    && widget.sessionContext.session.kernel;
  return kernel && kernel.status === "idle" && kernel.connectionStatus === "connected";
}"""
CELLS = [
    "import nbflow as nf",
    '''@nf.op(out=nf.DynamicOut())
def parts():
    for i in range(4):
        yield nf.DynamicOutput(i, mapping_key=f"k{i}")


@nf.op
def square(i: int) -> int:
    return i * i


@nf.job
def squares():
    parts().map(square)


squares''',
    "run = squares.run()",
    '''letters = nf.DynamicPartitionsDefinition("nb7_letters")
letters.add(["a", "b"])
letters''',
]


def page_errors(browser, url: str, run_all: bool, check=None) -> list[str]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.wait_for_function(KERNEL_READY, timeout=90_000)
        if run_all:
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        if check is not None:
            check(page)
    finally:
        context.close()
    return errors


def test_views_in_notebook7(browser, tmp_path):
    write_notebook(tmp_path, "plain.ipynb", ["print(1 + 1)"])
    write_notebook(tmp_path, "views.ipynb", CELLS)

    def views_drawn(page) -> None:
        expect(page.locator(".nbflow-jobview g.node#node\\:square")).to_be_visible(timeout=60_000)
        run = page.locator(".nbflow-runview:not(.nbflow-jobview)")
        expect(run.locator(".nbflow-run-header .nbflow-badge").first).to_have_text("SUCCESS", timeout=60_000)
        expect(page.locator(".nbflow-partitionsview .nbflow-parts-count")).to_have_text("2 keys", timeout=60_000)
        expect(page.locator(".nbflow-static:visible")).to_have_count(0)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "notebook7-views.png"), full_page=True)

    with jupyterlab(tmp_path, notebook7=True) as server:
        plain = page_errors(browser, f"{server.url}/notebooks/plain.ipynb?token={TOKEN}", run_all=False)
        views = page_errors(browser, f"{server.url}/notebooks/views.ipynb?token={TOKEN}", run_all=True,
                            check=views_drawn)
    assert set(plain) <= {NOTEBOOK7_OWN}  # Notebook 7's own, without any widget or nbflow
    assert [e for e in views if e != NOTEBOOK7_OWN] == []
