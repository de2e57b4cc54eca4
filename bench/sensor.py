"""One sensor tick that adds K new partition keys and requests K runs of them.

usage: python bench/sensor.py [K] [--ticks T] [--existing E]

On a fresh file store holding E keys already (default 100,000) and E/10 past run keys,
each of T ticks (default 20) evaluates a sensor returning a ``SensorResult`` with K
``RunRequest``s (each with a run key and a partition key) and one add request of those K
new keys (default 1,000), and applies it: partitions added, K runs recorded QUEUED (not
executed), run keys deduplicated and recorded, cursor and tick record stored, all in one
transaction. Prints one JSON line: median and worst wall time per tick, and the split
between evaluation and applying. For scale (``../shared/reference/perf-anchors.md``):
Dagster spends about 20 ms per tick for 10 keys and 10 requests on sqlite.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("k", type=int, nargs="?", default=1_000)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--existing", type=int, default=100_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="nbflow-bench-")
    try:
        print(json.dumps(run(os.path.join(folder, "bench.duckdb"), args.k, args.ticks, args.existing)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(path: str, k: int, ticks: int, existing: int) -> dict:
    inst = nf.Instance(path)
    episodes = nf.DynamicPartitionsDefinition("bench_episodes")
    inst.add_dynamic_partitions(episodes.name, [f"old-{i}" for i in range(existing)])

    @nf.op
    def transcribe(context) -> str:
        return context.partition_key

    @nf.job(partitions_def=episodes)
    def transcription_job():
        transcribe()

    counter = {"tick": 0}

    @nf.sensor(job=transcription_job)
    def new_episode_sensor(context):
        t = counter["tick"]
        ids = [f"ep-{t}-{i}" for i in range(k)]
        return nf.SensorResult(
            run_requests=[nf.RunRequest(run_key=i, partition_key=i) for i in ids],
            dynamic_partitions_requests=[episodes.build_add_request(ids)],
            cursor=str(t),
        )

    warm = new_episode_sensor.tick(instance=inst, execute=False)  # warm-up: imports, first statements
    assert warm.status == "SUCCESS", warm.error
    walls, evals = [], []
    for t in range(1, ticks + 1):
        counter["tick"] = t
        began = time.perf_counter()
        tick = new_episode_sensor.tick(instance=inst, execute=False)
        walls.append(time.perf_counter() - began)
        assert tick.status == "SUCCESS" and len(tick.run_ids) == k, tick
        evals.append(_evaluation_seconds(new_episode_sensor, t))
    queued = int(inst.runs(status="QUEUED", limit=None).shape[0])
    assert queued == k * (ticks + 1), queued
    assert inst.count_dynamic_partitions(episodes.name) == existing + k * (ticks + 1)
    return {
        "bench": "sensor_tick", "keys_per_tick": k, "runs_per_tick": k, "ticks": ticks,
        "existing_keys": existing, "tick_ms_median": round(statistics.median(walls) * 1000, 1),
        "tick_ms_max": round(max(walls) * 1000, 1),
        "evaluate_ms_median": round(statistics.median(evals) * 1000, 2),
        "python": sys.version.split()[0],
    }


def _evaluation_seconds(sensor, t: int) -> float:
    """Evaluation alone (the same result, nothing applied), to split the tick's time."""
    began = time.perf_counter()
    sensor.evaluate()
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
