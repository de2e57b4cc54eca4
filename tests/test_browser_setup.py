"""How `make test` gets a Chromium: nothing when there is one, apt-get where it works, else Playwright."""

from __future__ import annotations

import sys

import pytest

from tests.browser import chromium


@pytest.fixture
def no_chromium(monkeypatch, tmp_path):
    """A machine without any Chromium, whose installs are recorded instead of run."""
    state = {"system": None, "playwright": None}
    monkeypatch.setattr(chromium, "system_chromium", lambda: state["system"])
    monkeypatch.setattr(chromium, "playwright_chromium", lambda: state["playwright"])
    return state


def recorder(calls, state, installs=None, code=0):
    def run(command):
        calls.append(list(command))
        if installs and command[-1] == "chromium" and code == 0:
            state[installs] = f"/installed/by/{installs}"
        return code
    return run


def test_nothing_is_installed_when_chromium_is_there(no_chromium):
    no_chromium["system"] = "/usr/bin/chromium"
    calls, said = [], []
    assert chromium.ensure_chromium(recorder(calls, no_chromium), said.append) == "/usr/bin/chromium"
    assert calls == [] and said == []


def test_debian_package_as_root(no_chromium, monkeypatch):
    monkeypatch.setattr(chromium, "apt_prefix", lambda: [])
    calls, said = [], []
    found = chromium.ensure_chromium(recorder(calls, no_chromium, "system"), said.append)
    assert found == "/installed/by/system"
    assert calls == [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]]
    assert "installing Debian's chromium package (apt-get install -y chromium)" in said[0]


def test_debian_package_through_sudo(no_chromium, monkeypatch):
    monkeypatch.setattr(chromium, "apt_prefix", lambda: ["sudo", "-n"])
    calls, said = [], []
    chromium.ensure_chromium(recorder(calls, no_chromium, "system"), said.append)
    assert calls[1] == ["sudo", "-n", "apt-get", "install", "-y", "-qq", "chromium"]


def test_playwright_download_without_apt(no_chromium, monkeypatch):
    monkeypatch.setattr(chromium, "apt_prefix", lambda: None)
    calls, said = [], []
    found = chromium.ensure_chromium(recorder(calls, no_chromium, "playwright"), said.append)
    assert found == "/installed/by/playwright"
    assert calls == [[sys.executable, "-m", "playwright", "install", "chromium"]]
    assert "apt-get cannot be used here: downloading Playwright's own Chromium" in said[0]


def test_playwright_download_when_apt_fails(no_chromium, monkeypatch):
    monkeypatch.setattr(chromium, "apt_prefix", lambda: [])
    calls, said = [], []

    def run(command):
        calls.append(list(command))
        if command[0] == sys.executable:
            no_chromium["playwright"] = "/pw/chrome"
            return 0
        return 100  # apt-get: no such package here

    assert chromium.ensure_chromium(run, said.append) == "/pw/chrome"
    assert "apt-get could not install chromium; trying Playwright's own Chromium instead." in said


def test_says_what_to_do_when_nothing_works(no_chromium, monkeypatch):
    monkeypatch.setattr(chromium, "apt_prefix", lambda: None)
    with pytest.raises(SystemExit, match=r"No Chromium for the browser tests.*NBFLOW_CHROMIUM"):
        chromium.ensure_chromium(recorder([], no_chromium, code=1), lambda _: None)


def test_named_chromium_wins(monkeypatch, tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("")
    monkeypatch.setenv("NBFLOW_CHROMIUM", str(fake))
    assert chromium.system_chromium() == str(fake)
    monkeypatch.setenv("NBFLOW_CHROMIUM", str(tmp_path / "missing"))
    assert chromium.system_chromium() is None
