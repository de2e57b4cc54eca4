"""PartitionsView with many pages: first / last / go to page / go to key, and where an added key went."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.notebook import kernel_exec, open_notebook, run_all

CELLS = [
    "import nbflow as nf",
    '''many = nf.DynamicPartitionsDefinition("browser_many")
many.add([f"key-{i:05d}" for i in range(10_000)])
many''',
]


def test_paging_through_ten_thousand_keys(page, jlab, notebook_factory):
    name = notebook_factory(CELLS)
    open_notebook(page, jlab, name)
    run_all(page)
    view = page.locator(".nbflow-partitionsview")
    expect(view.locator(".nbflow-parts-count")).to_have_text("10,000 keys")
    rows = view.locator(".nbflow-parts-row")
    expect(rows.first).to_have_attribute("data-key", "key-00000")

    view.locator("button.nbflow-parts-last").click()
    expect(rows.last).to_have_attribute("data-key", "key-09999")
    expect(view.locator(".nbflow-parts-page-input")).to_have_value("200")
    view.locator("button.nbflow-parts-first").click()
    expect(rows.first).to_have_attribute("data-key", "key-00000")

    # Two clicks on "›" in one go, before the kernel can answer the first: two pages on.
    view.evaluate("root => { for (let i = 0; i < 2; i++) "
                  "root.querySelector('button[title=\"Next page\"]').click(); }")
    expect(rows.first).to_have_attribute("data-key", "key-00100")
    expect(view.locator(".nbflow-parts-page-input")).to_have_value("3")

    pages = view.locator(".nbflow-parts-page-input")
    pages.fill("101")
    pages.press("Enter")
    expect(rows.first).to_have_attribute("data-key", "key-05000")

    view.locator(".nbflow-parts-find-text").fill("key-01234")
    view.locator(".nbflow-parts-find-text").press("Enter")
    expect(view.locator(".nbflow-parts-row.nbflow-highlight")).to_have_attribute("data-key", "key-01234")
    expect(view.locator(".nbflow-message")).to_have_text("'key-01234' is key 1,235 of 10,000, on page 25 of 200.")

    # Back on page 1, a key added through the box lands last: the view goes there and marks it.
    view.locator("button.nbflow-parts-first").click()
    view.locator(".nbflow-parts-add-text").fill("brand new")
    view.locator("button.nbflow-parts-add").click()
    expect(view.locator(".nbflow-parts-row.nbflow-highlight")).to_have_attribute("data-key", "brand new")
    expect(view.locator(".nbflow-message")).to_have_text(
        "Added 1 key: 'brand new', is key 10,001 of 10,001, on page 201 of 201.")
    expect(view.locator(".nbflow-parts-page-input")).to_have_value("201")
    screenshot(page, "partitions-view-added-key", view)
    assert kernel_exec(jlab, name, "print(many.keys()[-1])").strip() == "brand new"
