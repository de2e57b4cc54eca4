"""Fan-out throughput: emit N items -> map -> map -> collect, persisted to a file store.

usage: python bench/fanout.py N [--memory] [--repeat R]

Prints one JSON line: wall seconds for the run (including every write to the
store), microseconds per mapped step (2N mapped steps), peak RSS, and a check that
the collected result is right and that every step was stored.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

import nbflow as nf


@nf.op(out=nf.DynamicOut(), config_schema={"n": int})
def emit(context):
    for i in range(context.op_config["n"]):
        yield nf.DynamicOutput(i, mapping_key=str(i))


@nf.op
def square(x: int) -> int:
    return x * x


@nf.op
def plus_one(x: int) -> int:
    return x + 1


@nf.op
def total(values: list) -> int:
    return sum(values)


@nf.job
def fanout_job():
    total(emit().map(square).map(plus_one).collect())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("--memory", action="store_true", help="use an in-memory store")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    n = args.n
    folder = tempfile.mkdtemp(prefix="nbflow-bench-")
    try:
        best = None
        for _ in range(args.repeat):
            path = ":memory:" if args.memory else os.path.join(folder, f"bench{time.time_ns()}.duckdb")
            inst = nf.Instance(path)
            start = time.perf_counter()
            run = fanout_job.run(run_config={"ops": {"emit": {"config": {"n": n}}}}, instance=inst)
            wall = time.perf_counter() - start
            stored = inst.sql("select count(*) as c from steps where run_id = ?", [run.run_id])["c"][0]
            ok = run.status == "SUCCESS" and run.output("total") == sum(i * i + 1 for i in range(n))
            ok = ok and stored == 2 * n + 2
            inst.close()
            best = wall if best is None else min(best, wall)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({
            "bench": "fanout", "n": n, "store": "memory" if args.memory else "file",
            "wall_s": round(best, 3), "us_per_mapped_step": round(1e6 * best / (2 * n), 1),
            "peak_rss_mb": round(rss_mb, 1), "steps_stored": int(stored), "ok": bool(ok),
            "python": sys.version.split()[0],
        }))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
