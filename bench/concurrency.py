"""Concurrent executors side by side with pipefunc's concurrent.futures pools.

usage: python bench/concurrency.py [--rounds R] [--case io|cpu|trivial ...]

Cases (each timed inside a fresh process, after imports, the two systems alternating
round by round; medians and the ratio nbflow / peer are printed):

* ``io``      -- 200 mapped steps that each wait 50 ms (an HTTP call): nbflow's
                 ``thread_executor`` with 200 threads vs pipefunc with ThreadPoolExecutor(200).
* ``cpu``     -- 8 mapped steps of ~0.5 s pure-Python CPU: nbflow's ``multiprocess_executor``
                 with 2 processes vs pipefunc with ProcessPoolExecutor(2).
* ``trivial`` -- 10,000 trivial mapped steps: nbflow's thread and process executors against
                 its in-process one (the cost of handing steps to threads and processes).

nbflow persists every step to a DuckDB file store; pipefunc keeps results in memory
(``storage="dict"``). pipefunc is a peer for measuring only: ``pip install pipefunc``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CPU_LOOPS = 9_000_000  # about 0.5 s of pure Python on the 2-core machine


def io_wait(x: int) -> int:
    time.sleep(0.05)
    return x


def cpu_burn(x: int) -> int:
    total = 0
    for i in range(CPU_LOOPS):
        total += i % 7
    return x + total % 2


def trivial(x: int) -> int:
    return x + 1


def add_up(y: list) -> int:
    return sum(y)


WORK = {"io": (io_wait, 200), "cpu": (cpu_burn, 8), "trivial": (trivial, 10_000)}


# -- one measurement, in its own process -------------------------------------------------------------
def _nbflow(case: str, executor_name: str) -> float:
    import nbflow as nf

    fn, n = WORK[case]

    @nf.op(out=nf.DynamicOut())
    def emit():
        for i in range(n):
            yield nf.DynamicOutput(i, mapping_key=str(i))

    step = nf.op(name="step")(fn)

    @nf.op
    def total(values: list) -> int:
        return sum(values)

    @nf.job
    def bench_job():
        total(emit().map(step).collect())

    executors = {
        "in_process": nf.in_process_executor,
        "thread": nf.thread_executor.configured({"max_concurrent": 200 if case == "io" else 32}),
        "multiprocess": nf.multiprocess_executor.configured({"max_concurrent": 2}),
    }
    folder = tempfile.mkdtemp(prefix="nbflow-bench-")
    inst = nf.Instance(os.path.join(folder, "bench.duckdb"))
    # Warm-up, as the peer's: imports and the store's schema; for worker processes also the
    # forkserver, which a kernel starts once (each run then forks its workers from it).
    warm_job(nf, inst, nf.multiprocess_executor.configured({"max_concurrent": 2})
             if executor_name == "multiprocess" else nf.in_process_executor)
    start = time.perf_counter()
    run = bench_job.run(instance=inst, executor=executors[executor_name])
    wall = time.perf_counter() - start
    assert run.status == "SUCCESS", run.steps().query("status != 'SUCCESS'").head()
    assert run.output("total") == sum(fn(i) for i in range(n)) if case != "cpu" else True
    return wall


def warm_job(nf, inst, executor) -> None:
    """A two-item run, to warm up what a kernel's first run warms up."""

    @nf.op(out=nf.DynamicOut())
    def two():
        yield from (nf.DynamicOutput(i, mapping_key=str(i)) for i in range(2))

    @nf.op
    def one(x: int) -> int:
        return x

    @nf.job
    def warm():
        two().map(one)

    warm.run(instance=inst, executor=executor)


def _pipefunc(case: str) -> float:
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from pipefunc import Pipeline, pipefunc

    fn, n = WORK[case]
    step = pipefunc(output_name="y", mapspec="x[i] -> y[i]")(fn)
    summed = pipefunc(output_name="total")(add_up)
    pipeline = Pipeline([step, summed], validate_type_annotations=False)
    warm = ThreadPoolExecutor(2) if case == "io" else ProcessPoolExecutor(2)
    with warm:  # warm-up with the same kind of pool
        pipeline.map({"x": list(range(2))}, storage="dict", parallel=True, executor=warm, show_progress=False)
    start = time.perf_counter()
    executor = ThreadPoolExecutor(200) if case == "io" else ProcessPoolExecutor(2)
    with executor:
        pipeline.map({"x": list(range(n))}, storage="dict", parallel=True, executor=executor,
                     show_progress=False)
    return time.perf_counter() - start


def _one(system: str, case: str) -> float:
    if system == "pipefunc":
        return _pipefunc(case)
    return _nbflow(case, system)


# -- the comparison ----------------------------------------------------------------------------------
PAIRS = {
    "io": [("thread", "pipefunc")],
    "cpu": [("multiprocess", "pipefunc")],
    "trivial": [("thread", "in_process"), ("multiprocess", "in_process")],
}


def _measure(system: str, case: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--one", system, case], capture_output=True,
                         text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--case", action="append", choices=sorted(WORK))
    parser.add_argument("--one", nargs=2, metavar=("SYSTEM", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps({"seconds": _one(*args.one)}))
        return
    for case in args.case or ["io", "cpu", "trivial"]:
        for ours, theirs in PAIRS[case]:
            times: dict[str, list[float]] = {ours: [], theirs: []}
            for r in range(args.rounds):
                order = (ours, theirs) if r % 2 == 0 else (theirs, ours)  # alternate who goes first
                for system in order:
                    times[system].append(_measure(system, case))
            a, b = statistics.median(times[ours]), statistics.median(times[theirs])
            print(json.dumps({
                "case": case, "n": WORK[case][1], "nbflow": ours, "vs": theirs,
                "nbflow_median_s": round(a, 3), "vs_median_s": round(b, 3), "ratio": round(a / b, 2),
                "nbflow_runs": [round(t, 3) for t in times[ours]], "vs_runs": [round(t, 3) for t in times[theirs]],
                "rounds": args.rounds,
            }), flush=True)


if __name__ == "__main__":
    main()
