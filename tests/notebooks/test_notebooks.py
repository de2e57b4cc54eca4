"""Every example notebook runs headless from a clean copy, and leaves the expected runs.

The notebooks use the default store (``.nbflow/nbflow.duckdb`` beside the notebook), so
each runs in a copy of ``notebooks/`` under a temporary folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import nbflow as nf

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))

EXPECTED_RUNS = {  # notebook -> sorted (job, status) of every run it leaves in the store
    "01_dynamic_fanout.ipynb": [
        ("score_folder", "SUCCESS"), ("summarize_folder", "FAILURE"), ("summarize_folder", "SUCCESS"),
    ],
    "02_rerun.ipynb": [
        ("archive", "FAILURE"), ("archive", "SUCCESS"), ("archive", "SUCCESS"), ("archive", "SUCCESS"),
    ],
    "03_partitions.ipynb": [
        ("episode_job", "FAILURE"), *[("episode_job", "SUCCESS")] * 6, ("keyword_job", "SUCCESS"),
        ("materialize:summary,transcript,word_counts", "SUCCESS"),
    ],
}


def test_every_notebook_has_expectations():
    assert [p.name for p in ALL] == sorted(EXPECTED_RUNS)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ALL, ids=lambda p: p.name)
def test_notebook_runs_clean(notebook, tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns(".nbflow", ".ipynb_checkpoints"))
    monkeypatch.delenv("NBFLOW_HOME", raising=False)  # the notebooks' own default store
    nb = nbformat.read(folder / notebook.name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors

    store = folder / ".nbflow" / "nbflow.duckdb"
    assert store.exists(), "the notebook did not use the default store beside it"
    inst = nf.instance(str(store))
    runs = inst.runs()
    assert sorted(zip(runs.job_name, runs.status, strict=True)) == EXPECTED_RUNS[notebook.name]
    inst.close()
