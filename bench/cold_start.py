"""Cold start: a fresh process that runs a 3-item fan-out, nbflow against pipefunc and Hamilton.

usage: python bench/cold_start.py [--rounds R]

Each round starts one fresh Python process per system, in turn, and times it whole (from
start to exit, as a user running a script sees it). The job is the same everywhere: ``emit``
yields 3 ints → ``square`` each → ``total`` sums them, and the script reads the total back.
nbflow stores the run in a fresh DuckDB file; pipefunc keeps results in memory
(``storage="dict"``, ``parallel=False``); Hamilton runs its ``Parallelizable``/``Collect``
dynamic execution with the synchronous executor. Each process also reports its time to
import, its RSS before the first run (after the imports) and its peak RSS. Prints one JSON
line: medians per system and nbflow ÷ peer ratios of the whole-process wall time.

nbflow's modules are byte-compiled first (``compileall``), as installing a wheel does: the
peers come byte-compiled from pip, and with ``PYTHONDONTWRITEBYTECODE`` set (or an editable
install in a read-only folder) every process would otherwise compile nbflow's source again.

pipefunc and Hamilton are peers for measuring only, not dependencies:
``pip install pipefunc sf-hamilton``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Every script prints {"import_s", "rss_before_run_mb", "peak_rss_mb", "total"} as its last line.
_REPORT = """
import json, resource
def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

NBFLOW = _REPORT + """
import os, sys, time
start = time.perf_counter()
import nbflow as nf
imported = time.perf_counter() - start
rss_before = _rss_mb()

@nf.op(out=nf.DynamicOut())
def emit():
    for i in range(3):
        yield nf.DynamicOutput(i, mapping_key=str(i))

@nf.op
def square(x):
    return x * x

@nf.op
def total(xs):
    return sum(xs)

@nf.job
def fan_out():
    total(emit().map(square).collect())

run = fan_out.run(instance=nf.instance(os.path.join(sys.argv[1], "store.duckdb")))
print(json.dumps({"import_s": imported, "rss_before_run_mb": rss_before, "peak_rss_mb": _rss_mb(),
                  "total": run.output("total")}))
"""

PIPEFUNC = _REPORT + """
import time
start = time.perf_counter()
from pipefunc import Pipeline, pipefunc
imported = time.perf_counter() - start
rss_before = _rss_mb()

@pipefunc(output_name="x", mapspec="... -> x[i]")
def emit(n):
    return list(range(n))

@pipefunc(output_name="y", mapspec="x[i] -> y[i]")
def square(x):
    return x * x

@pipefunc(output_name="total")
def total(y):
    return sum(y)

pipeline = Pipeline([emit, square, total])
results = pipeline.map({"n": 3}, storage="dict", parallel=False, show_progress=False)
print(json.dumps({"import_s": imported, "rss_before_run_mb": rss_before, "peak_rss_mb": _rss_mb(),
                  "total": int(results["total"].output)}))
"""

HAMILTON = _REPORT + """
import time
start = time.perf_counter()
from hamilton import ad_hoc_utils, driver
from hamilton.execution import executors
from hamilton.htypes import Collect, Parallelizable
imported = time.perf_counter() - start
rss_before = _rss_mb()

def item(n: int) -> Parallelizable[int]:
    for i in range(n):
        yield i

def square(item: int) -> int:
    return item * item

def total(square: Collect[int]) -> int:
    return sum(square)

module = ad_hoc_utils.create_temporary_module(item, square, total, module_name="fan_out")
dr = (driver.Builder().with_modules(module).enable_dynamic_execution(allow_experimental_mode=True)
      .with_local_executor(executors.SynchronousLocalTaskExecutor()).build())
result = dr.execute(["total"], inputs={"n": 3})
print(json.dumps({"import_s": imported, "rss_before_run_mb": rss_before, "peak_rss_mb": _rss_mb(),
                  "total": result["total"]}))
"""

SYSTEMS = {"nbflow": NBFLOW, "pipefunc": PIPEFUNC, "hamilton": HAMILTON}


def one_process(script: str) -> dict[str, float]:
    """Run ``script`` in a fresh interpreter; its report plus the whole process's wall time."""
    folder = tempfile.mkdtemp(prefix="nbflow-cold-")
    try:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", script, folder], capture_output=True, text=True)
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if done.returncode:
        raise RuntimeError(f"the benchmark process failed:\n{done.stderr}")
    report: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if report["total"] != 5:  # 0 + 1 + 4
        raise RuntimeError(f"wrong total {report['total']!r}")
    return {**report, "wall_s": wall}


def _byte_compile_nbflow() -> None:
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("nbflow")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nbflow is not installed in this environment")
    compileall.compile_dir(next(iter(spec.submodule_search_locations)), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, default all")
    args = parser.parse_args()
    systems = args.systems.split(",")
    _byte_compile_nbflow()
    for name in systems:  # once each before timing: the OS caches the files every system reads
        one_process(SYSTEMS[name])
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in systems}
    for _ in range(args.rounds):
        for name in systems:
            figures[name].append(one_process(SYSTEMS[name]))

    def median(name: str, what: str) -> float:
        return statistics.median(f[what] for f in figures[name])

    result: dict[str, object] = {"bench": "cold_start", "rounds": args.rounds, "items": 3}
    for name in systems:
        result[name] = {what: round(median(name, what), 3 if what.endswith("_s") else 1)
                        for what in ("wall_s", "import_s", "rss_before_run_mb", "peak_rss_mb")}
    if "nbflow" in systems:
        for peer in systems:
            if peer != "nbflow":
                paired = [n["wall_s"] / p["wall_s"] for n, p in zip(figures["nbflow"], figures[peer], strict=True)]
                result[f"nbflow_over_{peer}"] = round(statistics.median(paired), 2)
    result["python"] = sys.version.split()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
