"""Real-browser fixtures: one JupyterLab and one Chromium per session, a page per test.

These tests need a Chromium (Debian's ``chromium`` package, or Playwright's own download;
``make test`` gets one when it is missing, see :mod:`tests.browser.chromium`) and the
``playwright`` package. Without them they fail, never skip: a browser test that silently
does not run is a test that cannot fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.chromium import find_chromium
from tests.browser.jlab import jupyterlab
from tests.browser.notebook import write_notebook

SCREENSHOTS = Path(__file__).parent / "screenshots"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Browser tests need the playwright package: pip install -e '.[dev]'.", pytrace=False)
    chromium_path = find_chromium()
    if chromium_path is None:
        pytest.fail("Browser tests need Chromium: run `.venv/bin/python -m tests.browser.chromium` "
                    "(make test does), apt-get install -y chromium, or set NBFLOW_CHROMIUM to its path.",
                    pytrace=False)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=chromium_path, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory):
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab(lab_root):
    with jupyterlab(lab_root) as server:
        yield server


@pytest.fixture(scope="session")
def jlab(lab):
    """The session's JupyterLab (a :class:`tests.browser.jlab.Lab`)."""
    return lab


@pytest.fixture
def notebook_factory(lab, request):
    """``notebook_factory(cells) -> name``: write a notebook of code cells into the lab's
    folder, named after the test, and return its path relative to that folder."""
    made: list[str] = []

    def make(cells: list[str]) -> str:
        stem = request.node.name.replace("[", "-").replace("]", "")
        name = f"{stem}-{len(made)}.ipynb" if made else f"{stem}.ipynb"
        made.append(write_notebook(lab.root, name, cells))
        return name

    return make


@pytest.fixture
def page(browser, request):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # a busy 2-core machine needs more than the default 5 s
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(90_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-final.png"))
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def screenshot(page, name: str, locator=None) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    (locator or page).screenshot(path=str(path))
    return path
