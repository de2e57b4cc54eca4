"""Driving a notebook in JupyterLab 4 with Playwright, and asking its kernel directly."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

# The status bar is the reliable sign that the kernel is connected and idle: the toolbar's
# indicator says "idle" before the kernel is even connected.
KERNEL_IDLE = re.compile(r"^Python 3 \(ipykernel\) \| Idle$")


def write_notebook(folder: Path, name: str, cells: list[str]) -> str:
    nb = new_notebook(cells=[new_code_cell(source) for source in cells],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nbformat.write(nb, folder / name)
    return name


def open_notebook(page, lab, name: str) -> None:
    page.goto(lab.notebook_url(name))
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    wait_idle(page)
    set_theme(page, "JupyterLab Light")  # the theme is a server setting: a previous test may have changed it


def wait_idle(page) -> None:
    page.locator("#jp-main-statusbar").get_by_text(KERNEL_IDLE).wait_for()


def run_all(page) -> None:
    """Run > Run All Cells, as a user would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()


def rerun_cell(page, index: int) -> None:
    """Select cell ``index`` (0-based) and run it again, as Shift+Enter would, without moving on."""
    cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(index)
    cell.locator(".jp-InputPrompt").click()  # selects the cell without entering edit mode
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")


def set_theme(page, theme: str) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    page.locator(f"body[data-jp-theme-name='{theme}']").wait_for(state="attached")
    page.wait_for_timeout(500)  # the theme's stylesheet applies after the attribute changes


def dark_theme(page) -> None:
    set_theme(page, "JupyterLab Dark")


def kernel_exec(lab, notebook: str, code: str, timeout: float = 60) -> str:
    """Run ``code`` in the kernel of ``notebook`` (a second client on it); return its stdout."""
    from jupyter_client import BlockingKernelClient

    sessions = lab.api("sessions")
    kernel_id = next(s["kernel"]["id"] for s in sessions if s["path"].endswith(notebook))  # type: ignore[union-attr]
    client = BlockingKernelClient(connection_file=str(lab.runtime_dir / f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    out: list[str] = []
    try:
        def hook(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = client.execute_interactive(code, output_hook=hook, timeout=timeout)
    finally:
        client.stop_channels()
    if reply["content"]["status"] != "ok":
        raise AssertionError(f"kernel code failed:\n{''.join(out)}")
    return "".join(out)
