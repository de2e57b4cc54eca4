"""Every example notebook runs headless from a clean copy, and leaves the expected runs.

The notebooks use the default store (``.nbflow/nbflow.duckdb`` beside the notebook), so
each runs in a copy of ``notebooks/`` (with its ``data/``) under a temporary folder, and
the repository's ``notebooks/.nbflow`` is never touched. The store the notebook leaves
is then opened with ``nf.instance(path)`` and checked.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import nbflow as nf

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))

# notebook -> sorted (job, status) of every run it leaves in a fresh store.
EXPECTED_RUNS = {
    "01_dynamic_fanout.ipynb": [
        ("describe_folder", "SUCCESS"), ("summarize_folder", "FAILURE"), ("summarize_folder", "SUCCESS"),
    ],
    "02_rerun.ipynb": [
        ("archive", "FAILURE"), ("archive", "SUCCESS"), ("archive", "SUCCESS"), ("archive", "SUCCESS"),
    ],
    "03_partitions.ipynb": [
        ("episode_job", "FAILURE"), *[("episode_job", "SUCCESS")] * 6, ("keyword_job", "SUCCESS"),
        ("materialize:summary,transcript,word_counts", "SUCCESS"),
    ],
    "04_sensors.ipynb": [("transcription_job", "SUCCESS")] * 4,
    "05_parallel.ipynb": [
        ("crawl", "SUCCESS"), ("crawl", "SUCCESS"), ("crawl", "SUCCESS"), ("primes", "SUCCESS"),
        ("transcription", "CANCELED"), ("transcription", "SUCCESS"),
    ],
}


def _only_run(inst: nf.Instance, job: str, status: str) -> nf.Run:
    runs = inst.runs(job=job, status=status)
    assert len(runs) == 1, runs
    return inst.get_run(runs.run_id[0])


def check_01(inst: nf.Instance) -> None:
    """The fan-out over data/reports, the chained map, and the broken file."""
    reports = _only_run(inst, "summarize_folder", "SUCCESS")
    files = ["inventory.csv", "meeting notes 2024.03.txt", "notes.txt", "sales.csv"]
    assert list(reports.output("process_file")) == files  # keys kept as is, in yield order
    assert reports.output("process_file", key="meeting notes 2024.03.txt")["words"] == 15
    assert reports.output("summarize_directory").file.tolist() == files

    described = _only_run(inst, "describe_folder", "SUCCESS")
    order = described.steps().step_key.tolist()
    # The notebook's text points at this order as the sign of per-key pipelining.
    assert order.index("describe[inventory.csv]") < order.index("process_file[notes.txt]")
    assert described.output("report").splitlines()[0] == "inventory.csv: 3 rows, amount 182"

    broken = _only_run(inst, "summarize_folder", "FAILURE")
    steps = broken.steps().set_index("step_key")
    assert steps.status.to_dict() == {
        "files_in_directory": "SUCCESS",
        "process_file[broken file.csv]": "FAILURE",
        "process_file[good.csv]": "SUCCESS",
        "summarize_directory": "SKIPPED",
    }
    assert steps.error["process_file[broken file.csv]"].rstrip().endswith("KeyError: 'amount'")
    assert steps.error["summarize_directory"] == "upstream step process_file[broken file.csv] failed"


def check_04(inst: nf.Instance) -> None:
    """Two manual ticks, one background tick, a failed tick, a skipped one; the cursor."""
    ticks = inst.store.sensors.ticks("new_episode_sensor", limit=None)
    assert inst.get_dynamic_partitions("podcast_episodes") == ["nbh-101", "nbh-102", "nbh-103", "nbh-104"]
    assert set(ticks.status) == {"SUCCESS", "SKIPPED", "FAILURE"}
    assert (ticks.status == "SUCCESS").sum() == 3 and (ticks.status == "FAILURE").sum() == 1
    assert set(ticks.origin) == {"manual", "loop"}
    assert inst.store.sensors.state("new_episode_sensor").cursor == 'W/"104-e01"'
    assert inst.store.sensors.run_keys("new_episode_sensor").run_key.tolist() == ["nbh-104"]


def check_05(inst: nf.Instance) -> None:
    """Threads with a pool limit, processes, a cancelled background run finished by a rerun, Dask."""
    assert inst.pool_limits() == {"api": 4}
    crawls = inst.sql("select run_id, backend from runs where job_name = 'crawl'")
    assert sorted(crawls.backend) == ["dask", "in_process", "thread"]
    totals = {inst.get_run(r).output("total") for r in crawls.run_id}
    assert len(totals) == 1
    primes = _only_run(inst, "primes", "SUCCESS")
    assert primes.output("count_primes", key="below_300007") == 25997  # primes below 300,007
    canceled = _only_run(inst, "transcription", "CANCELED")
    finished = _only_run(inst, "transcription", "SUCCESS")
    assert finished.parent_run_id == canceled.run_id
    assert finished.output("total") == sum(i * 100 for i in range(12))
    kept = canceled.steps().query("status == 'SUCCESS' and op == 'transcribe'")
    assert len(kept) >= 1
    reused = inst.sql("select step_key from steps where run_id = ? and reused_from is not null",
                      [finished.run_id]).step_key
    assert set(kept.step_key) <= set(reused)


CHECKS: dict[str, Callable[[nf.Instance], None]] = {
    "01_dynamic_fanout.ipynb": check_01, "04_sensors.ipynb": check_04, "05_parallel.ipynb": check_05,
}


def test_every_notebook_has_expectations():
    assert set(EXPECTED_RUNS) == {p.name for p in ALL}
    assert set(CHECKS) <= set(EXPECTED_RUNS)


@pytest.mark.parametrize("notebook", ALL, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code cells"
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the outputs before committing"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ALL, ids=lambda p: p.name)
def test_notebook_runs_clean(notebook, tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns(".nbflow", ".ipynb_checkpoints"))
    monkeypatch.delenv("NBFLOW_HOME", raising=False)  # the kernel must use the notebook's default store
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
    try:
        runs = inst.runs()
        assert sorted(zip(runs.job_name, runs.status, strict=True)) == EXPECTED_RUNS[notebook.name]
        if notebook.name in CHECKS:
            CHECKS[notebook.name](inst)
    finally:
        inst.close()


# What differs between two runs of the same story: ids, times, durations, temporary folders.
VOLATILE = [
    (re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{8}\b"), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:e-?\d+)?\s?(?:ms|s|µs|seconds)\b"), "<duration>"),
    (re.compile(r"0 days \d\d:\d\d:\d\d(?:\.\d+)?"), "<duration>"),
    (re.compile(r"/tmp/[^\s'\"]+"), "<tmp>"),
    (re.compile(r"\b0\.\d+\b"), "<number>"),
]


def story(nb: nbformat.NotebookNode) -> list[str]:
    """What a reader sees in each code cell's text outputs, with the volatile parts masked."""
    seen = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for out in cell.outputs:
            if out.output_type == "stream":
                texts.append(out.text)
            elif "text/plain" in out.get("data", {}) and "application/vnd.jupyter.widget-view+json" not in out.data:
                texts.append(out.data["text/plain"])
            elif out.output_type == "error":
                texts.append(f"{out.ename}: {out.evalue}")
        text = "\n".join(texts)
        for pattern, mask in VOLATILE:
            text = pattern.sub(mask, text)
        seen.append(text)
    return seen


@pytest.mark.slow
def test_every_notebook_tells_the_same_story_on_every_run_all(tmp_path, monkeypatch):
    """Run All twice over one folder (one store), the notebooks one after the other."""
    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns(".nbflow", ".ipynb_checkpoints"))
    monkeypatch.delenv("NBFLOW_HOME", raising=False)
    stories: dict[str, list[list[str]]] = {}
    for _ in range(2):
        for notebook in ALL:
            nb = nbformat.read(folder / notebook.name, as_version=4)
            NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}},
                           extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
            stories.setdefault(notebook.name, []).append(story(nb))
    changed = {name: [(i, a, b) for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
               for name, (first, second) in stories.items()}
    different = {name: c for name, c in changed.items() if c}
    assert not different, "another story the second time:\n" + "\n".join(
        f"{name} cell {i}:\n{a}\n--- the second time ---\n{b}" for name, c in different.items() for i, a, b in c)
