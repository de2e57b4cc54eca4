"""Every ```python block in docs/ runs, page by page, top to bottom in one namespace.

A block fenced as ```python notest is shown but not run. Each page runs in its own
temporary working directory with ``NBFLOW_HOME`` pointing at a temporary folder, so
nothing a page stores lands in the repository. The page's namespace has a
``__file__`` in that directory, as if the page were a module saved there.
"""

from __future__ import annotations

import linecache
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?:#[^)]*)?\)")
RUN, SKIP = "python", "python notest"


def python_blocks(page: Path) -> list[str]:
    return [m["body"] for m in FENCE.finditer(page.read_text()) if m["info"].strip() == RUN]


def page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


def test_there_are_pages_with_examples():
    assert sum(1 for page in PAGES if python_blocks(page)) >= 5


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_python_fences_are_run_or_marked(page):
    """A typo in an info string (```Python, ```python3, ```py) would silently skip a block."""
    infos = [m["info"].strip() for m in FENCE.finditer(page.read_text())]
    odd = [info for info in infos if info.lower().startswith("py") and info not in (RUN, SKIP)]
    assert not odd, f"{page_id(page)}: use ```python or ```python notest, not {odd}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_resolve(page):
    targets = [m["target"] for m in LINK.finditer(page.read_text())]
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    missing = [t for t in local if not (page.parent / t).exists()]
    assert not missing, f"{page_id(page)} links to missing files: {missing}"


def run_page(page: Path, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("NBFLOW_HOME", str(tmp_path / "nbflow-home"))
    namespace: dict = {
        "__name__": f"docs_{page.stem.replace('-', '_')}",
        "__file__": str(work / f"{page.stem.replace('-', '_')}.py"),
    }
    for number, body in enumerate(python_blocks(page), 1):
        filename = f"{name} (python block {number})"
        # Registered with linecache so that tracebacks show the failing line of the page.
        linecache.cache[filename] = (len(body), None, body.splitlines(keepends=True), filename)
        exec(compile(body, filename, "exec"), namespace)
    return namespace


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_examples_run(page, tmp_path, monkeypatch):
    run_page(page, page_id(page), tmp_path, monkeypatch)


def test_readme_has_examples_and_marks_them():
    infos = [m["info"].strip() for m in FENCE.finditer(README.read_text())]
    assert len(python_blocks(README)) >= 4
    odd = [info for info in infos if info.lower().startswith("py") and info not in (RUN, SKIP)]
    assert not odd, f"README.md: use ```python or ```python notest, not {odd}"


def test_readme_examples_run(tmp_path, monkeypatch):
    """What a new user copies first: every README example, as written, on a fresh store."""
    namespace = run_page(README, "README.md", tmp_path, monkeypatch)
    try:
        run, fixed = namespace["run"], namespace["fixed"]
        assert (run.status, fixed.status, namespace["one"].status) == ("FAILURE", "SUCCESS", "SUCCESS")
        assert run.output("process_file", key="notes.txt") == 4
        assert fixed.output("summarize_directory") == 4 + 3 + 1
        assert namespace["episodes"].keys() == ["ep 1", "ep 2, the sequel", "ep 3", "ep 4"]
        assert namespace["crawling"].status == "CANCELED"
        assert namespace["finished"].output("summarize_directory") == sum(
            len(f"https://example.org/{i}") for i in range(50))
    finally:
        sensor = namespace.get("new_episode_sensor")
        if sensor is not None:
            sensor.stop()
