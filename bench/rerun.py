"""Rerun cost: a run of N mapped steps where 10 failed, then rerun(failed=True).

usage: python bench/rerun.py [N]

The rerun must cost about the 10 failed steps plus loading the collect's N inputs,
not a re-execution of N steps. Prints one JSON line: the first run's wall time, the
rerun's wall time, how many steps the rerun executed, and a correctness check.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time

import nbflow as nf

FAILING: set[str] = set()


@nf.op(out=nf.DynamicOut(), config_schema={"n": int})
def emit(context):
    for i in range(context.op_config["n"]):
        yield nf.DynamicOutput(i, mapping_key=str(i))


@nf.op
def work(context, x: int) -> int:
    if context.get_mapping_key() in FAILING:
        raise RuntimeError("flaky")
    return x * 2


@nf.op
def total(values: list) -> int:
    return sum(values)


@nf.job
def rerun_bench():
    total(emit().map(work).collect())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    folder = tempfile.mkdtemp(prefix="nbflow-bench-")
    try:
        inst = nf.Instance(os.path.join(folder, "rerun.duckdb"))
        FAILING.update(str(i) for i in range(0, n, max(1, n // 10)))
        start = time.perf_counter()
        parent = rerun_bench.run(run_config={"ops": {"emit": {"config": {"n": n}}}}, instance=inst)
        first = time.perf_counter() - start
        failed = int((parent.steps().status == "FAILURE").sum())
        FAILING.clear()
        start = time.perf_counter()
        child = parent.rerun(failed=True)
        rerun_s = time.perf_counter() - start
        steps = child.steps()
        executed = int(steps.reused_from.isna().sum())
        ok = child.status == "SUCCESS" and child.output("total") == sum(2 * i for i in range(n))
        print(json.dumps({
            "bench": "rerun", "n": n, "failed_steps": failed, "first_run_s": round(first, 3),
            "rerun_s": round(rerun_s, 3), "rerun_executed_steps": executed,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "ok": bool(ok),
        }))
        inst.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
