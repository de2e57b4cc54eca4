"""Keys typed into a view stay in the view: no notebook shortcut fires, the cell's code is untouched."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.notebook import kernel_exec, open_notebook, run_all

CELLS = [
    "import nbflow as nf",
    '''episodes = nf.DynamicPartitionsDefinition("keyboard_episodes")
episodes.add([f"ep-{i:02d}" for i in range(1, 31)])
episodes''',
    '''@nf.op(out=nf.DynamicOut())
def fan():
    for i in range(12):
        yield nf.DynamicOutput(i, mapping_key=f"item-{i}")


@nf.op
def double(i: int) -> int:
    return 2 * i


@nf.job
def doubling():
    fan().map(double)


run = doubling.run()''',
]


def cell_sources(page) -> list[str]:
    return page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells
        .map((c) => c.getSource())""")


def test_keys_typed_in_views_stay_there(page, jlab, notebook_factory):
    name = notebook_factory(CELLS)
    open_notebook(page, jlab, name)
    run_all(page)
    parts = page.locator(".nbflow-partitionsview")
    expect(parts.locator(".nbflow-parts-count")).to_have_text("30 keys")
    view = page.locator(".nbflow-runview:not(.nbflow-jobview)")
    expect(view.locator(".nbflow-run-header .nbflow-badge").first).to_have_text("SUCCESS")
    before = cell_sources(page)

    # Enter applies the filter; what is typed next still goes into the box, not into a cell.
    box = parts.locator(".nbflow-parts-filter")
    box.click()
    box.press_sequentially("ep-0")
    box.press("Enter")
    expect(parts.locator(".nbflow-message, .nbflow-muted").filter(has_text="match").first).to_have_text("9 match")
    page.keyboard.type("1")
    expect(box).to_have_value("ep-01")
    expect(box).to_be_focused()
    box.press("Enter")
    expect(parts.locator(".nbflow-parts-row")).to_have_count(1)

    # The RunView's key filter: "b" (insert a cell below), "a", "d d", "m" are notebook shortcuts.
    view.locator("g.node#node\\:double").click()
    expect(view.locator(".nbflow-key-row")).to_have_count(12)
    keys = view.locator(".nbflow-keys-text")
    keys.click()
    page.keyboard.type("badm 1")
    expect(view.locator(".nbflow-keys-text")).to_have_value("badm 1")
    view.locator(".nbflow-keys-text").press("Control+a")
    page.keyboard.type("item-1")
    page.keyboard.press("Enter")
    expect(view.locator(".nbflow-key-row")).to_have_count(3)  # item-1, item-10, item-11
    expect(view.locator(".nbflow-keys-text")).to_have_value("item-1")
    expect(view.locator(".nbflow-keys-text")).to_be_focused()

    # The add box: Enter is a new line, not "run the cell" or "edit the cell".
    add = parts.locator(".nbflow-parts-add-text")
    add.click()
    page.keyboard.type("ep-new-1")
    page.keyboard.press("Enter")
    page.keyboard.type("ep-new-2")
    expect(add).to_have_value("ep-new-1\nep-new-2")

    assert cell_sources(page) == before
    assert page.locator(".jp-NotebookPanel .jp-Cell").count() == len(CELLS)
    assert kernel_exec(jlab, name, "print(len(episodes))").strip() == "30"


def test_ticking_regex_after_typing_a_pattern(page, jlab, notebook_factory):
    name = notebook_factory(CELLS[:2])
    open_notebook(page, jlab, name)
    run_all(page)
    parts = page.locator(".nbflow-partitionsview")
    expect(parts.locator(".nbflow-parts-count")).to_have_text("30 keys")
    box = parts.locator(".nbflow-parts-filter")
    box.click()
    box.press_sequentially("ep-0[12]$")
    parts.locator(".nbflow-parts-regex").click()  # the first click, with the pattern not yet applied
    expect(parts.locator(".nbflow-parts-regex")).to_be_checked()
    expect(parts.locator(".nbflow-parts-row")).to_have_count(2)
    expect(parts.locator(".nbflow-parts-filter-error")).to_have_count(0)
    assert kernel_exec(jlab, name, "v = [o for o in __import__('gc').get_objects() "
                                   "if type(o).__name__ == 'PartitionsView'][0]; print(v.filter_regex, v.filter_text)"
                       ).strip() == "True ep-0[12]$"
