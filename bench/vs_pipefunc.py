"""The fan-out of ``fanout.py`` side by side with pipefunc, in fresh processes.

usage: python bench/vs_pipefunc.py [--n 100000 --n 1000000] [--rounds 5] [--runs 2] [--no-warm-up]
                                  [--busy 1]

emit N ints -> map(square) -> map(plus_one) -> collect -> total. nbflow runs it in process
and persists every step and output to a fresh DuckDB file; pipefunc (``pip install
pipefunc``, a peer for measuring only) keeps results in memory (``storage="dict",
parallel=False``). Each figure is one run timed inside a fresh process after imports and a
warm-up run of the same job at 1,000 items; the systems alternate round by round. Printed
per N: this machine's Python floor (``python_floor_ms``: see ``_python_floor_ms``), the
medians, the ratio nbflow / pipefunc, and the peak RSS growth per item (the
process's peak RSS during the run minus its RSS just before it, divided by N; the peak is
reset before each run through /proc/self/clear_refs). With ``--runs K`` each process times K
runs of N one after another (as a kernel does) and the row adds the last run's figures as
``*_again_*``: memory the allocators kept from the first run is reused by the next. With
``--no-warm-up`` the first timed run is the process's first (a fresh kernel's): what it
imports and sets up on first use counts in its time and memory. With ``--busy K``, K other
processes spin in pure Python for the whole measurement: another job taking K cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

WARM_N = 1_000


def _rss_kb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as refs:  # "5": peak RSS := current RSS
            refs.write("5")
    except OSError:
        pass  # not Linux: the peak is the process's since its start


def _peak_kb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _timed_runs(run: Any, n: int, runs: int) -> dict[str, Any]:
    """``runs`` timed runs of ``n`` items: the first one's figures, and the last one's as ``again_*``."""
    found = []
    for _ in range(runs):
        before = _rss_kb()
        _reset_peak()
        seconds, ok = run(n)
        found.append({"seconds": seconds, "ok": ok, "growth_kb": max(0.0, _peak_kb() - before),
                      "rss_before_kb": before})
    result = dict(found[0])
    result["ok"] = all(f["ok"] for f in found)
    if runs > 1:
        result["again_seconds"], result["again_growth_kb"] = found[-1]["seconds"], found[-1]["growth_kb"]
    return result


def _nbflow(n: int, runs: int = 1, warm_up: bool = True) -> dict[str, Any]:
    from fanout import fanout_job  # the same job as fanout.py (this script's folder is on sys.path)

    import nbflow as nf

    folder = tempfile.mkdtemp(prefix="nbflow-vs-pipefunc-")

    def run(size: int, name: str) -> tuple[float, Any]:
        inst = nf.Instance(os.path.join(folder, f"{name}.duckdb"))
        start = time.perf_counter()
        result = fanout_job.run(run_config={"ops": {"emit": {"config": {"n": size}}}}, instance=inst)
        seconds = time.perf_counter() - start
        value = result.output("total")
        ok = result.status == "SUCCESS" and value == sum(i * i + 1 for i in range(size))
        inst.close()
        return seconds, ok

    if warm_up:
        run(WARM_N, "warm")
    timed = iter(range(runs))
    return _timed_runs(lambda size: run(size, f"timed{next(timed)}"), n, runs)


def _pipefunc(n: int, runs: int = 1, warm_up: bool = True) -> dict[str, Any]:
    from pipefunc import Pipeline, pipefunc

    @pipefunc(output_name="items")
    def emit(n: int) -> list[int]:
        return list(range(n))

    @pipefunc(output_name="squared", mapspec="items[i] -> squared[i]")
    def square(items: int) -> int:
        return items * items

    @pipefunc(output_name="plus", mapspec="squared[i] -> plus[i]")
    def plus_one(squared: int) -> int:
        return squared + 1

    @pipefunc(output_name="total")
    def total(plus: Any) -> int:
        return int(sum(plus))

    pipeline = Pipeline([emit, square, plus_one, total], validate_type_annotations=False)

    def run(size: int) -> tuple[float, bool]:
        start = time.perf_counter()
        results = pipeline.map({"n": size}, storage="dict", parallel=False, show_progress=False)
        seconds = time.perf_counter() - start
        return seconds, results["total"].output == sum(i * i + 1 for i in range(size))

    if warm_up:
        run(WARM_N)
    return _timed_runs(run, n, runs)


def _measure(system: str, n: int, runs: int, warm_up: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", system, str(n), "--runs", str(runs)]
    out = subprocess.run(command + ([] if warm_up else ["--no-warm-up"]), capture_output=True, text=True,
                         check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def _busy(processes: int) -> Any:
    """``processes`` other processes spinning in Python inside the block."""
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1, help="timed runs per process (default 1)")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="time the first run of each process (no warm-up run before it)")
    parser.add_argument("--busy", type=int, default=0, help="other processes spinning meanwhile (default 0)")
    parser.add_argument("--one", nargs=2, metavar=("SYSTEM", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        system, n = args.one[0], int(args.one[1])
        print(json.dumps((_nbflow if system == "nbflow" else _pipefunc)(n, args.runs, args.warm_up)))
        return
    with _busy(args.busy):
        _compare(args)


def _python_floor_ms(n: int = 100_000) -> float:
    """This machine's speed at plain Python: a generator of ``n`` ints, a function per item,
    the results in a list, summed (the best of runs for half a second). The "Python floor" of
    ``../shared/reference/perf-anchors.md`` is this work, 6.0 ms on the machine its figures
    (and the targets set from them) come from: a figure measured here scales by that ratio."""

    def items() -> Any:
        yield from range(n)

    def square(x: int) -> int:
        return x * x

    best, spent = float("inf"), 0.0
    while spent < 0.5:
        start = time.perf_counter()
        sum([square(x) for x in items()])
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
    return round(best * 1000, 2)


def _compare(args: argparse.Namespace) -> None:
    floor_ms = _python_floor_ms()
    for n in args.n or [100_000, 1_000_000]:
        found: dict[str, list[dict[str, Any]]] = {"nbflow": [], "pipefunc": []}
        for r in range(args.rounds):
            order = ("nbflow", "pipefunc") if r % 2 == 0 else ("pipefunc", "nbflow")
            for system in order:
                found[system].append(_measure(system, n, args.runs, args.warm_up))
        row: dict[str, Any] = {"bench": "vs_pipefunc", "n": n, "rounds": args.rounds, "warm_up": args.warm_up,
                               "busy": args.busy, "python_floor_ms": floor_ms}
        for system, runs in found.items():
            row[f"{system}_median_s"] = round(statistics.median(r["seconds"] for r in runs), 3)
            row[f"{system}_kb_per_item"] = round(statistics.median(r["growth_kb"] for r in runs) / n, 3)
            row[f"{system}_rss_before_mb"] = round(statistics.median(r["rss_before_kb"] for r in runs) / 1024, 1)
            row[f"{system}_runs_s"] = [round(r["seconds"], 3) for r in runs]
            row[f"{system}_ok"] = all(r["ok"] for r in runs)
            if args.runs > 1:
                row[f"{system}_again_median_s"] = round(statistics.median(r["again_seconds"] for r in runs), 3)
                row[f"{system}_again_kb_per_item"] = round(
                    statistics.median(r["again_growth_kb"] for r in runs) / n, 3)
        row["ratio"] = round(row["nbflow_median_s"] / row["pipefunc_median_s"], 2)
        if args.runs > 1:
            row["again_ratio"] = round(row["nbflow_again_median_s"] / row["pipefunc_again_median_s"], 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
