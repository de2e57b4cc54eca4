"""Several processes sharing one store file: share of actions, wait for a turn, cost per batch.

usage: python bench/sharing.py [--processes P ...] [--seconds S] [--out FILE]

For each P (default 2 and 4): P worker processes work on one fresh file store for S seconds
(default 60), each picking at random among running a small job (a fan-out of 8 keys, a map
and a collect: 10 steps), adding or deleting dynamic partition keys, and listings (recent
runs, partition keys). Each worker logs every action it finished. Afterwards the store is
checked against the logs: every logged run is stored with status SUCCESS and exactly its 10
steps, every key a worker added and did not delete is there, every deleted key is gone —
``lost`` and ``duplicated`` count what is not. Prints one JSON line per P with each process's
share of the actions, the p50/p99/max wait for a turn with the store, and actions per second.

Then, in one process, the cost of opening the store per batch: a small batch write with the
file kept open (warm); with the file opened for it and let go after (what a process pays per
turn when another is waiting); the open (ATTACH) alone; and, for comparison, the same batch
with a DuckDB started on the file for it (``duckdb.connect``, the other way to open per batch).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

MAP_KEYS = 8
STEPS_PER_RUN = MAP_KEYS + 2


def _job():
    import nbflow as nf

    @nf.op(out=nf.DynamicOut())
    def fan():
        for i in range(MAP_KEYS):
            yield nf.DynamicOutput(i, mapping_key=f"k{i}")

    @nf.op
    def square(x):
        return x * x

    @nf.op
    def total(xs):
        return sum(xs)

    @nf.job
    def shared_work():
        total(fan().map(square).collect())

    return shared_work


def worker(path: str, name: str, go_path: str, seconds: float, seed: int, log_path: str) -> None:
    import pandas  # noqa: F401  (imported before the start: the workers start together, warm)

    import nbflow as nf

    inst = nf.instance(path, lock_timeout=120)
    job = _job()
    rng = random.Random(seed)
    added: list[str] = []
    log = []
    counter = 0
    with open(log_path + ".ready", "w"):
        pass
    while not os.path.exists(go_path):
        time.sleep(0.01)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        action = rng.choice(["job", "add", "delete", "list"])
        t0 = time.monotonic()
        entry: dict = {"action": action}
        if action == "job":
            run = job.run(instance=inst)
            entry.update(run_id=run.run_id, status=run.status)
        elif action == "add" or (action == "delete" and not added):
            counter += 1
            key = f"{name}-{counter}"
            inst.add_dynamic_partitions("shared", [key])
            added.append(key)
            entry.update(action="add", key=key)
        elif action == "delete":
            key = added.pop(rng.randrange(len(added)))
            inst.delete_dynamic_partitions("shared", [key])
            entry.update(key=key)
        else:
            inst.runs(limit=20)
            inst.get_dynamic_partitions("shared")
        entry["seconds"] = time.monotonic() - t0
        log.append(entry)
    waits = getattr(inst.store.holder, "turn_waits", [])  # absent before turns were queued
    inst.close()
    with open(log_path, "w") as f:
        json.dump({"name": name, "actions": log, "turn_waits": waits}, f)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def soak(processes: int, seconds: float, folder: str) -> dict:
    """Run ``processes`` workers on one store for ``seconds``; check the store against their logs."""
    path = os.path.join(folder, f"p{processes}", "nbflow.duckdb")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    go_path = os.path.join(folder, f"p{processes}.go")
    procs, logs = [], []
    for i in range(processes):
        log_path = os.path.join(folder, f"p{processes}-w{i}.json")
        logs.append(log_path)
        procs.append(subprocess.Popen([sys.executable, __file__, "--worker", path, f"w{i}", go_path,
                                       str(seconds), str(1000 * processes + i), log_path]))
    # Everyone imports nbflow first, then all start together.
    while not all(os.path.exists(log + ".ready") for log in logs) and all(p.poll() is None for p in procs):
        time.sleep(0.05)
    with open(go_path, "w"):
        pass
    codes = [p.wait() for p in procs]
    results = [_load(log) for log in logs if os.path.exists(log)]
    return {"processes": processes, "seconds": seconds, "exit_codes": codes, **_figures(results),
            **_check(path, results)}


def _load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _figures(results: list[dict]) -> dict:
    total = sum(len(r["actions"]) for r in results) or 1
    waits = [w for r in results for w in r["turn_waits"]]
    return {
        "actions": total,
        "share": {r["name"]: round(len(r["actions"]) / total, 3) for r in results},
        "actions_by_kind": {r["name"]: _kinds(r["actions"]) for r in results},
        "turns": len(waits),
        "turn_wait_p50_s": round(_percentile(waits, 0.50), 4),
        "turn_wait_p99_s": round(_percentile(waits, 0.99), 4),
        "turn_wait_max_s": round(max(waits, default=0.0), 4),
        "action_p99_s": round(_percentile([a["seconds"] for r in results for a in r["actions"]], 0.99), 4),
    }


def _kinds(actions: list[dict]) -> dict:
    out: dict[str, int] = {}
    for a in actions:
        out[a["action"]] = out.get(a["action"], 0) + 1
    return out


def _check(path: str, results: list[dict]) -> dict:
    """Compare the store with what the workers say they did."""
    import nbflow as nf

    inst = nf.Instance(path)
    lost = duplicated = wrong_status = 0
    runs = [a for r in results for a in r["actions"] if a["action"] == "job"]
    counts = dict(inst.sql(
        "SELECT run_id, count(*) AS n FROM steps GROUP BY run_id").itertuples(index=False, name=None))
    distinct = dict(inst.sql(
        "SELECT run_id, count(DISTINCT step_key) AS n FROM steps GROUP BY run_id").itertuples(index=False,
                                                                                               name=None))
    statuses = dict(inst.sql("SELECT run_id, status FROM runs").itertuples(index=False, name=None))
    for a in runs:
        stored = counts.get(a["run_id"], 0)
        lost += max(0, STEPS_PER_RUN - distinct.get(a["run_id"], 0))
        duplicated += stored - distinct.get(a["run_id"], 0)
        if statuses.get(a["run_id"]) != "SUCCESS" or a["status"] != "SUCCESS":
            wrong_status += 1
    keys = set(inst.get_dynamic_partitions("shared"))
    expected: set[str] = set()
    for r in results:
        for a in r["actions"]:
            if a["action"] == "add":
                expected.add(a["key"])
            elif a["action"] == "delete":
                expected.discard(a["key"])
    missing_keys = len(expected - keys)
    extra_keys = len(keys - expected)
    unknown_runs = len(set(statuses) - {a["run_id"] for a in runs})
    inst.close()
    return {"runs": len(runs), "lost_steps": lost, "duplicated_steps": duplicated,
            "runs_not_success": wrong_status, "runs_not_logged": unknown_runs,
            "missing_keys": missing_keys, "unexpected_keys": extra_keys}


def batch_cost(folder: str, repeat: int = 200) -> dict:
    """Milliseconds for a small batch write with the file kept open vs reopened for it."""
    import nbflow as nf

    path = os.path.join(folder, "cost", "nbflow.duckdb")
    inst = nf.Instance(path)
    job = _job()
    for _ in range(20):  # a store with some history, like a real one
        job.run(instance=inst)
    holder = inst.store.holder

    def write(i: int) -> None:
        with holder.transaction() as con:
            con.execute("INSERT INTO events (run_id, ts, step_key, kind, level, message) "
                        "VALUES ('bench', now(), NULL, 'BENCH', 'INFO', ?)", [str(i)])

    def timed(turn: bool) -> list[float]:
        """A batch write; with ``turn``, also open the file for it and let it go after."""
        out = []
        for i in range(repeat):
            t0 = time.perf_counter()
            write(i)
            if turn:
                holder.release()
            out.append((time.perf_counter() - t0) * 1000)
        return out

    warm, per_turn = timed(False), timed(True)
    opens = []
    for _ in range(repeat):
        holder.release()
        t0 = time.perf_counter()
        with holder.use():
            pass
        opens.append((time.perf_counter() - t0) * 1000)
    inst.close()
    # The alternative to attaching: start a DuckDB on the file for each batch.
    import duckdb

    from nbflow.store.connection import DUCKDB_CONFIG

    connects = []
    for i in range(repeat // 4):
        t0 = time.perf_counter()
        con = duckdb.connect(path, config=DUCKDB_CONFIG)
        con.execute("INSERT INTO events (run_id, ts, step_key, kind, level, message) "
                    "VALUES ('bench', now(), NULL, 'BENCH', 'INFO', ?)", [str(i)])
        con.close()
        connects.append((time.perf_counter() - t0) * 1000)
    return {"batch_warm_ms": round(statistics.median(warm), 3),
            "batch_with_turn_ms": round(statistics.median(per_turn), 3),
            "attach_ms": round(statistics.median(opens), 3),
            "attach_p99_ms": round(_percentile(opens, 0.99), 3),
            "batch_with_connect_ms": round(statistics.median(connects), 3)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        path, name, go_path, seconds, seed, log_path = sys.argv[2:8]
        worker(path, name, go_path, float(seconds), int(seed), log_path)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-cost", action="store_true", help="skip the per-batch open cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for processes in args.processes:
            print(json.dumps(soak(processes, args.seconds, folder)), flush=True)
        if not args.no_cost:
            print(json.dumps(batch_cost(folder)), flush=True)


if __name__ == "__main__":
    main()
