"""An isolated JupyterLab on 127.0.0.1 for browser tests.

Every per-user Jupyter and IPython folder points into a temporary directory, so tests
neither read nor write ~/.jupyter and start from a fresh workspace; news and update
checks are off so no toast covers the page. The server and the kernels it starts share
a process group, which is stopped as a whole. Kernels import nbflow from the checkout
under test (``PYTHONPATH``), not from wherever the environment installed it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TOKEN = "nbflow-browser-tests"
# The checkout these tests belong to: its nbflow must be the one the kernels import, even when
# the environment holds an editable install of another checkout (a second worktree, say).
CHECKOUT = Path(__file__).resolve().parents[2]
QUIET_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}


@dataclass
class Lab:
    url: str
    root: Path
    runtime_dir: Path
    log: Path
    nbflow_home: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={TOKEN}&reset"  # reset: no saved layout

    def api(self, path: str) -> object:
        with urllib.request.urlopen(f"{self.url}/api/{path}?token={TOKEN}", timeout=5) as answer:
            return json.load(answer)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(root: Path, timeout: float = 120, notebook7: bool = False) -> Iterator[Lab]:
    """JupyterLab on ``root``; ``notebook7=True``: Jupyter Notebook 7 (same front end
    components, one document per page, ``/notebooks/<name>``)."""
    with tempfile.TemporaryDirectory(prefix="nbflow-lab-") as scratch_dir:
        scratch = Path(scratch_dir)
        env = dict(os.environ)
        for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                         ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                         ("IPYTHONDIR", "ipython"), ("NBFLOW_HOME", "nbflow-home")]:
            (scratch / sub).mkdir()
            env[var] = str(scratch / sub)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(CHECKOUT), env.get("PYTHONPATH", "")] if p)
        for relative, value in QUIET_SETTINGS.items():
            target = scratch / "settings" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(value))
        port = _free_port()
        command = [
            sys.executable, "-m", "notebook" if notebook7 else "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
        ]
        if notebook7:
            command += ["--JupyterNotebookApp.expose_app_in_browser=True"]
        else:
            command += ["--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
                        "--LabApp.extension_manager=readonly",
                        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        log = scratch / "jupyterlab.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
                                    start_new_session=True)
        lab = Lab(f"http://127.0.0.1:{port}", root, scratch / "runtime", log, scratch / "nbflow-home")
        try:
            _wait_until_up(lab, proc, timeout)
            yield lab
        finally:
            _stop(proc)


def _wait_until_up(lab: Lab, proc: subprocess.Popen, timeout: float) -> None:
    began = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{lab.log.read_text()}")
        try:
            lab.api("status")
            return
        except OSError:
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"JupyterLab did not answer within {timeout} s:\n{lab.log.read_text()}") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
