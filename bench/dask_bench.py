"""Dask: N trivial mapped steps through nbflow vs Dask's own ``client.map`` + ``gather``.

usage: python bench/dask_bench.py [N] [--repeat R] [--workers W]

One LocalCluster (W worker processes, one thread each) is started first and both sides
use it as an existing cluster. nbflow runs ``emit`` (yields N ints) -> ``.map(inc)`` ->
``.collect()`` -> ``total`` with ``dask_executor`` on the cluster's address, to a fresh
DuckDB file store (every step and output written); Dask runs
``client.gather(client.map(inc, range(N)))``. The two alternate R times; the script prints
one JSON line with the medians, the ratio nbflow / Dask, and a check that both sums are right.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time

import nbflow as nf
from nbflow.definitions.executors import dask_executor
from nbflow.execution.backends import make_backend
from nbflow.runtime.instance import launch


@nf.op(out=nf.DynamicOut(), config_schema={"n": int})
def emit(context):
    for i in range(context.op_config["n"]):
        yield nf.DynamicOutput(i, mapping_key=str(i))


def inc(x: int) -> int:
    return x + 1


@nf.op(name="inc")
def inc_op(x: int) -> int:
    return x + 1


@nf.op
def total(values: list) -> int:
    return sum(values)


@nf.job
def dask_fanout():
    total(emit().map(inc_op).collect())


def run_nbflow(address: str, n: int, folder: str) -> tuple[float, int]:
    instance = nf.Instance(f"{folder}/store-{time.monotonic_ns()}.duckdb")
    executor = dask_executor.configured({"cluster": {"existing": {"address": address}}})
    try:
        start = time.perf_counter()
        run = launch(dask_fanout, {"ops": {"emit": {"config": {"n": n}}}}, instance,
                     backend=make_backend(executor))
        wall = time.perf_counter() - start
        return wall, run.output("total")
    finally:
        instance.close()


def run_dask(client, n: int) -> tuple[float, int]:
    start = time.perf_counter()
    futures = client.map(inc, range(n))
    values = client.gather(futures)
    wall = time.perf_counter() - start
    del futures
    return wall, sum(values)


def main() -> None:
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # shutdown chatter, not figures
    folder = tempfile.mkdtemp(prefix="nbflow-dask-bench-")
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0")
    client = Client(cluster.scheduler_address)
    expected = sum(range(1, args.n + 1))
    ours, theirs, right = [], [], True
    try:
        run_nbflow(cluster.scheduler_address, 50, folder)  # warm both: workers import nbflow once
        run_dask(client, 50)
        for _ in range(args.repeat):
            wall, value = run_nbflow(cluster.scheduler_address, args.n, folder)
            ours.append(wall)
            right &= value == expected
            wall, value = run_dask(client, args.n)
            theirs.append(wall)
            right &= value == expected
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(folder, ignore_errors=True)
    nbflow_s, dask_s = statistics.median(ours), statistics.median(theirs)
    print(json.dumps({
        "mapped_steps": args.n, "workers": args.workers, "repeat": args.repeat,
        "nbflow_dask_executor_s": round(nbflow_s, 3), "dask_map_gather_s": round(dask_s, 3),
        "ratio": round(nbflow_s / dask_s, 2), "target_ratio": 1.5,
        "nbflow_all_s": [round(x, 3) for x in ours], "dask_all_s": [round(x, 3) for x in theirs],
        "results_right": right, "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
