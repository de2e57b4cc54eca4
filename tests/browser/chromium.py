"""Finding Chromium for the browser tests, and getting it when it is missing.

``python -m tests.browser.chromium`` (run by ``make test``) makes sure a Chromium is there:

1. ``$NBFLOW_CHROMIUM``, Debian's ``/usr/bin/chromium`` or a ``chromium`` on ``PATH``: nothing to do;
2. else, where ``apt-get`` works (as root, or with ``sudo`` that asks no password): Debian's
   ``chromium`` package;
3. else: Playwright's own Chromium (``python -m playwright install chromium``), into
   Playwright's per-user cache.

It says what it does, and exits non-zero with what to do by hand when nothing worked.
The browser fixtures use :func:`find_chromium` with the same order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DEBIAN_CHROMIUM = "/usr/bin/chromium"
Runner = Callable[[Sequence[str]], int]


def system_chromium() -> str | None:
    """A Chromium installed on the system (or named by ``$NBFLOW_CHROMIUM``), or None."""
    named = os.environ.get("NBFLOW_CHROMIUM")
    if named:
        return named if Path(named).exists() or shutil.which(named) else None
    if Path(DEBIAN_CHROMIUM).exists():
        return DEBIAN_CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


def playwright_chromium() -> str | None:
    """The Chromium that ``playwright install chromium`` downloaded, if it did."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as p:
        path = p.chromium.executable_path
    return path if path and Path(path).exists() else None


def find_chromium() -> str | None:
    return system_chromium() or playwright_chromium()


def apt_prefix() -> list[str] | None:
    """How to run apt-get here: directly as root, through password-less sudo, or not at all."""
    if shutil.which("apt-get") is None:
        return None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return []
    if shutil.which("sudo") and _run(["sudo", "-n", "true"], quiet=True) == 0:
        return ["sudo", "-n"]
    return None


def _run(command: Sequence[str], quiet: bool = False) -> int:
    out = subprocess.DEVNULL if quiet else None
    try:
        return subprocess.run(list(command), stdout=out, stderr=out, check=False,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}).returncode
    except OSError:
        return 127


def ensure_chromium(run: Runner = _run, say: Callable[[str], None] = print) -> str:
    """Return a Chromium's path, installing one first when there is none (see the module doc)."""
    found = find_chromium()
    if found:
        return found
    prefix = apt_prefix()
    if prefix is not None:
        say("Browser tests need Chromium, which is not installed: installing Debian's chromium package "
            f"({' '.join([*prefix, 'apt-get install -y chromium'])}).")
        if run([*prefix, "apt-get", "update", "-qq"]) == 0 and \
                run([*prefix, "apt-get", "install", "-y", "-qq", "chromium"]) == 0:
            found = system_chromium()
            if found:
                say(f"Chromium installed: {found}")
                return found
        say("apt-get could not install chromium; trying Playwright's own Chromium instead.")
    else:
        say("Browser tests need Chromium, which is not installed, and apt-get cannot be used here: "
            "downloading Playwright's own Chromium (python -m playwright install chromium).")
    if run([sys.executable, "-m", "playwright", "install", "chromium"]) == 0:
        found = playwright_chromium()
        if found:
            say(f"Chromium installed: {found}")
            return found
    raise SystemExit(
        "No Chromium for the browser tests, and installing one failed. Install it by hand "
        "(Debian: sudo apt-get install -y chromium; elsewhere: .venv/bin/python -m playwright install "
        "chromium) or set NBFLOW_CHROMIUM to a Chromium executable, then run make test again.")


if __name__ == "__main__":
    ensure_chromium()
