"""The views at scale: a RunView of a 100,000-step run, and a PartitionsView over 1,000,000 keys.

usage: python bench/views.py [N] [--keys K]

On a fresh file store: run a job whose fan-out yields N/2 keys into two chained mapped ops
(N mapped steps, default 100,000); then, with the run only in the store (a new Instance, as
after a kernel restart), time building its RunView (step summary, DOT, SVG, traits); the
size of the largest message the view sends (its whole state as JSON, and after clicking
the mapped op, which sends one page of keys); the same run with a live RunView attached
against without, to see what following a run costs. Then add K keys (default 1,000,000)
and time a PartitionsView: building it (cold, after a restart, and warm), fetching the first page, a middle page, the last
page, a filtered page. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import nbflow as nf


def build_job(n_keys: int):
    @nf.op(out=nf.DynamicOut())
    def items():
        for i in range(n_keys):
            yield nf.DynamicOutput(i, mapping_key=f"item-{i}")

    @nf.op
    def first(x: int) -> int:
        return x + 1

    @nf.op
    def second(x: int) -> int:
        return x * 2

    @nf.op
    def total(xs: list) -> int:
        return sum(xs)

    @nf.job
    def bench_views():
        total(items().map(first).map(second).collect())

    return bench_views


def largest_message(view) -> int:
    state = view.get_state()
    return max(len(json.dumps(v)) for k, v in state.items() if k not in ("_esm", "_css"))


def run_view_figures(path: str, n: int) -> dict:
    from nbflow.runtime.instance import launch
    from nbflow.viz import render
    from nbflow.widgets.run_view import RunView

    job = build_job(n // 2)
    inst = nf.Instance(path)
    run = job.run(instance=inst)  # warm-up (imports, first statements); also the run to view
    plain, live = [], []
    for _ in range(2):  # alternated, so both see the same machine state; the best of each
        began = time.perf_counter()
        job.run(instance=inst)
        plain.append(time.perf_counter() - began)
        began = time.perf_counter()
        launch(job, None, inst, observer=RunView.live(job, inst))
        live.append(time.perf_counter() - began)
    inst.close()

    builds = []
    for _ in range(3):
        render.render_svg.cache_clear()  # every build lays the graph out again
        fresh = nf.Instance(path)
        began = time.perf_counter()
        view = RunView(fresh.get_run(run.run_id))
        builds.append(time.perf_counter() - began)
        fresh.close()
    whole = largest_message(view)
    view._handle_custom_msg({"action": "select", "node": "first"}, [])
    clicked = largest_message(view)
    return {"steps": view.progress["done"], "run_s": round(min(plain), 2), "run_with_live_view_s": round(min(live), 2),
            "live_overhead_pct": round(100 * (min(live) - min(plain)) / min(plain), 1),
            "run_view_build_s": round(min(builds), 3), "run_view_build_max_s": round(max(builds), 3),
            "largest_message_bytes": max(whole, clicked)}


def partitions_view_figures(path: str, k: int) -> dict:
    from nbflow.widgets.partitions_view import PartitionsView

    inst = nf.Instance(path)
    pdef = nf.DynamicPartitionsDefinition("bench_view_keys")
    inst.add_dynamic_partitions(pdef.name, [f"key-{i:07d}" for i in range(k)])
    inst.close()
    cold = nf.Instance(path)  # as after a kernel restart: the keys are read back from the file
    began = time.perf_counter()
    PartitionsView(pdef, instance=cold)
    build_cold = time.perf_counter() - began
    cold.close()
    inst = nf.Instance(path)
    inst.count_dynamic_partitions(pdef.name)
    began = time.perf_counter()
    view = PartitionsView(pdef, instance=inst)
    build = time.perf_counter() - began

    def timed(action: str, **extra) -> float:
        samples = []
        for _ in range(5):
            began = time.perf_counter()
            view._handle_custom_msg({"action": action, **extra}, [])
            samples.append(time.perf_counter() - began)
        return statistics.median(samples)

    figures = {
        "keys": view.count, "partitions_view_build_cold_s": round(build_cold, 3),
        "partitions_view_build_s": round(build, 3),
        "page_first_ms": round(timed("page", page=0) * 1000, 1),
        "page_middle_ms": round(timed("page", page=view.pages // 2) * 1000, 1),
        "page_last_ms": round(timed("page", page=view.pages - 1) * 1000, 1),
        "page_filtered_ms": round(timed("filter", text="key-09", regex=False) * 1000, 1),
        "page_regex_ms": round(timed("filter", text=r"7$", regex=True) * 1000, 1),
        "partitions_largest_message_bytes": largest_message(view),
    }
    assert view.rows and view.rows[0]["key"].endswith("7"), view.rows[:1]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=100_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="nbflow-bench-")
    try:
        figures = {"bench": "views", **run_view_figures(os.path.join(folder, "runs.duckdb"), args.n),
                   **partitions_view_figures(os.path.join(folder, "keys.duckdb"), args.keys),
                   "python": sys.version.split()[0]}
        print(json.dumps(figures))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
