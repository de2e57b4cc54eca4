"""A RunView answers clicks while the kernel is busy: a cell sleeping, a run in the foreground.

The views' messages are handled on a kernel subshell (nbflow/widgets/comm_thread.py), so a
click is answered at once, not when the cell ends. Each answer's time is measured in the
page, from the click to the changed view, and printed.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.notebook import kernel_exec, open_notebook, run_all, wait_idle

ANSWER_SECONDS = 0.5

CELLS = [
    '''import tempfile, threading, time
import nbflow as nf
from nbflow.widgets.run_view import RunView

store = nf.Instance(tempfile.mkdtemp() + "/clicks.duckdb")  # the session's other tests count their runs


@nf.op(out=nf.DynamicOut())
def fan():
    for i in range(120):
        yield nf.DynamicOutput(i, mapping_key=f"k{i:03d}")


@nf.op
def square(x: int) -> int:
    return x * x


@nf.job
def squares():
    fan().map(square)


@nf.op
def nap() -> int:
    time.sleep(8)
    return 1


@nf.job
def napping():
    nap()''',
    '''view = RunView(squares.run(instance=store))
view.on_msg(lambda _view, content, _buffers: print("HANDLER-OUTPUT", content.get("action")))
view''',
    '''def ticks():
    for i in range(8):
        print("tick", i, flush=True)
        time.sleep(1)


threading.Thread(target=ticks).start()
time.sleep(8)
print("slept")''',
    "napping.run(instance=store)",
    "print('healthy', 6 * 7)",
]

# Click an element of a view and time, in the page, until the view shows the answer.
TIMED_CLICK = """async (root, [clickSelector, doneSelector, doneText]) => {
  const target = root.querySelector(clickSelector);
  if (!target) throw new Error(`nothing matches ${clickSelector}`);
  const began = performance.now();
  target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  for (;;) {
    const done = root.querySelector(doneSelector);
    if (done && done.textContent.includes(doneText)) return (performance.now() - began) / 1000;
    if (performance.now() - began > 30000) return -1;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}"""


def timed_click(view, click: str, done: str, text: str, what: str) -> float:
    seconds = view.evaluate(TIMED_CLICK, [click, done, text])
    print(f"{what}: answered in {seconds:.3f} s")
    assert 0 <= seconds < ANSWER_SECONDS, f"{what}: the view answered in {seconds:.3f} s"
    return seconds


def cell_output(page, index: int):
    return page.locator(".jp-NotebookPanel .jp-Cell").nth(index).locator(".jp-OutputArea")


def still_running(page, index: int) -> bool:
    prompt = page.locator(".jp-NotebookPanel .jp-Cell").nth(index).locator(".jp-InputPrompt")
    return prompt.inner_text().strip() == "[*]:"


def test_views_answer_clicks_while_a_cell_sleeps_and_while_a_run_goes_on(page, jlab, notebook_factory):
    name = notebook_factory(CELLS)
    open_notebook(page, jlab, name)
    run_all(page)
    view = cell_output(page, 1).locator(".nbflow-runview").last  # after the run's own live view
    expect(view.locator(".nbflow-run-header .nbflow-badge").first).to_have_text("SUCCESS")

    # -- a cell that sleeps 8 s ---------------------------------------------------------------------
    expect(cell_output(page, 2)).to_contain_text("tick 1")
    assert still_running(page, 2)
    timed_click(view, "g.node#node\\:square", ".nbflow-keys", "page 1 of 3", "node details and keys, cell sleeping")
    expect(view.locator(".nbflow-run-details")).to_contain_text("120 success")
    timed_click(view, ".nbflow-keys-next", ".nbflow-keys", "page 2 of 3", "next key page, cell sleeping")
    timed_click(view, ".nbflow-key-row[data-key='k060'] .nbflow-key-name", ".nbflow-run-details",
                "3600", "a key's output, cell sleeping")
    assert still_running(page, 2) and "slept" not in cell_output(page, 2).inner_text()
    screenshot(page, "clicks-while-sleeping", view)

    # -- a run in the foreground whose op sleeps 8 s ---------------------------------------------------
    expect(cell_output(page, 2)).to_contain_text("slept")
    live = cell_output(page, 3).locator(".nbflow-runview").first
    expect(live.locator("g.node#node\\:nap")).to_be_visible()
    assert still_running(page, 3)
    timed_click(view, "g.node#node\\:fan", ".nbflow-run-details", "fan", "node details, run going on")
    timed_click(live, "g.node#node\\:nap", ".nbflow-run-details[data-node='nap']", "nap",
                "the running op's details in its live view")
    assert still_running(page, 3)
    screenshot(page, "clicks-while-running", live)

    # -- afterwards: the kernel is healthy, clicks work as ever, output is where it belongs ----------------
    expect(cell_output(page, 4)).to_contain_text("healthy 42")
    wait_idle(page)
    expect(live.locator(".nbflow-run-header .nbflow-badge").first).to_have_text("SUCCESS")
    timed_click(view, "g.node#node\\:square", ".nbflow-keys", "page 1 of 3", "node details, kernel idle")
    # Two clicks on "›" in one go, before the kernel can answer the first: two pages on.
    view.evaluate("root => { for (let i = 0; i < 2; i++) root.querySelector('.nbflow-keys-next').click(); }")
    expect(view.locator(".nbflow-keys")).to_contain_text("page 3 of 3")
    ticks = cell_output(page, 2).inner_text()
    assert re.findall(r"tick \d", ticks) == [f"tick {i}" for i in range(8)]  # also those after the clicks
    every_output = page.locator(".jp-NotebookPanel .jp-OutputArea").all_inner_texts()
    assert not any("HANDLER-OUTPUT" in text for text in every_output)  # a handler's print is no cell's output
    answer = kernel_exec(jlab, name, "from nbflow.widgets import comm_thread\n"
                                     "print(comm_thread.status().split()[0], view.selected['node'])")
    assert answer.split() == ["subshell", "square"]
