"""Every ```python block in docs/ runs, page by page, top to bottom in one namespace.

A block fenced as ```python notest is shown but not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = sorted(DOCS.rglob("*.md"))


def test_there_are_pages_with_examples():
    assert sum(1 for page in PAGES if BLOCK.search(page.read_text())) >= 5


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for number, match in enumerate(BLOCK.finditer(page.read_text()), 1):
        code = compile(match.group(1), f"{page.relative_to(DOCS)} (block {number})", "exec")
        exec(code, namespace)
