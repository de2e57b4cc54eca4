"""Run every example notebook headless (nbclient) and print what ran.

usage: python notebooks/run_all.py [NOTEBOOK ...]

Each notebook runs in its own kernel with ``notebooks/`` as working directory, so
the runs land in the default embedded store, ``notebooks/.nbflow/nbflow.duckdb``.
The notebooks on disk are not modified.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def run_notebook(path: Path) -> tuple[int, float]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}},
        # The kernel's own start-up chatter (about its local TCP ports) is not the demo's output.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    start = time.perf_counter()
    client.execute()
    cells = sum(1 for c in nb.cells if c.cell_type == "code")
    return cells, time.perf_counter() - start


def summarize_store() -> None:
    import nbflow

    inst = nbflow.instance(str(HERE / ".nbflow" / "nbflow.duckdb"))
    table = inst.sql(
        "select job_name, status, count(*) as runs from runs group by all order by job_name, status"
    )
    steps = inst.sql("select count(*) as n from steps")["n"][0]
    print(f"\nStore {inst.path}: {int(table['runs'].sum())} runs, {steps} steps in all")
    for row in table.itertuples():
        print(f"  {row.job_name:<28} {row.status:<12} {row.runs} run(s)")
    inst.close()


def main(argv: list[str]) -> int:
    notebooks = [Path(a) for a in argv] or sorted(HERE.glob("[0-9]*.ipynb"))
    for path in notebooks:
        cells, seconds = run_notebook(path)
        print(f"ran {path.name}: {cells} code cells in {seconds:.1f} s")
    summarize_store()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
