"""Dynamic partitions at scale: add a million keys in one call, list, check, delete.

usage: python bench/partitions.py [N] [--checks C] [--delete D] [--rounds R]

On a fresh file store: add N keys (default 1,000,000) in one ``add_dynamic_partitions``
call; time single membership checks when the store is cold (medians of R rounds):
``first_check_after_write_ms`` right after another process added a key (the file is
reopened and this process's index of the keys is brought up to date),
``first_check_new_process_ms`` in a fresh process whose store is already open
(``open_and_first_check_ms`` with the opening), ``check_after_idle_ms`` after the store was
released for being idle and ``check_after_close_ms`` after ``instance.close()``. At the end,
a second store holds the same keys added shuffled in one call (``add_unordered_s``):
``first_check_after_write_unordered_ms``, ``first_check_new_process_unordered_ms``,
``first_check_after_delete_unordered_ms`` after another process deleted a key, then
``index_load_after_delete_unordered_ms`` and ``list_cold_unordered_s``. On the first store
the script also lists the keys cold (after ``instance.close()`` and dropping the in-memory
index, so the file is reopened and the keys read back) and warm; C membership checks (half present, half
absent) through ``instance.has_dynamic_partition`` and through ``key in definition``;
delete D keys in one call; suggest the closest keys for four typos of one key (the
"did you mean" of an unknown key's error). Prints one JSON line with the figures, the size
of each store file at the end, peak RSS and checks that every answer was right. For scale
(``../shared/reference/perf-anchors.md``): Dagster fails a single add above 250,000 keys
and spends about 1.7 ms per membership check.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time

import nbflow as nf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--delete", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, checks, n_delete = args.n, args.checks, args.delete
    folder = tempfile.mkdtemp(prefix="nbflow-bench-")
    os.environ["NBFLOW_HOME"] = folder  # the definition's `key in episodes` uses the default instance
    try:
        inst = nf.instance()
        episodes = nf.DynamicPartitionsDefinition("bench_episodes")
        keys = [f"episode {i:07d} / part|{i % 97}, ok" for i in range(n)]
        inst.get_dynamic_partitions("warm-up")  # open the file and create the schema outside the timing

        start = time.perf_counter()
        added = inst.add_dynamic_partitions(episodes.name, keys)
        add_s = time.perf_counter() - start

        cold_checks = _cold_checks(inst, episodes.name, keys, args.rounds)

        inst.close()
        inst.store.partitions._index.clear()  # cold: reopen the file and read every key back
        start = time.perf_counter()
        cold = inst.get_dynamic_partitions(episodes.name)
        list_cold_s = time.perf_counter() - start

        start = time.perf_counter()
        warm = inst.get_dynamic_partitions(episodes.name)
        list_warm_s = time.perf_counter() - start

        rng = random.Random(0)
        probes = [keys[rng.randrange(n)] if i % 2 else f"absent {i}" for i in range(checks)]
        start = time.perf_counter()
        found = sum(inst.has_dynamic_partition(episodes.name, k) for k in probes)
        has_us = 1e6 * (time.perf_counter() - start) / checks
        start = time.perf_counter()
        found_in = sum(k in episodes for k in probes)
        in_us = 1e6 * (time.perf_counter() - start) / checks

        # "Did you mean": typos of one key (swapped letters, a replaced separator, case, a
        # dropped character), answered in SQL over the stored keys.
        target = keys[n // 8]
        typos = [target.replace("episode", "epsiode"), target.replace(" ", "-", 1),
                 target.capitalize(), target.replace(", ", ",")]
        suggest_s, suggested_right = [], 0
        for typo in typos:
            start = time.perf_counter()
            near = inst.closest_dynamic_partitions(episodes.name, typo)
            suggest_s.append(time.perf_counter() - start)
            suggested_right += near[:1] == [target]

        gone = keys[:: max(1, n // n_delete)][:n_delete]
        start = time.perf_counter()
        deleted = inst.delete_dynamic_partitions(episodes.name, gone)
        delete_s = time.perf_counter() - start

        ok = (
            len(added.added) == n and cold == keys and warm == keys
            and found == found_in == checks // 2 and len(deleted.deleted) == len(gone)
            and len(episodes) == n - len(gone) and gone[0] not in episodes
            and suggested_right == len(typos)
            and cold_checks.pop("ok")
        )
        inst.close()
        file_mb = _file_mb(inst.path)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        unordered = _unordered_checks(folder, keys, args.rounds)
        ok = ok and unordered.pop("ok")
        print(json.dumps({
            "bench": "partitions", "n": n, "store": "file",
            "add_s": round(add_s, 3), "keys_per_s": round(n / add_s),
            **cold_checks, **unordered, "rounds": args.rounds,
            "list_cold_s": round(list_cold_s, 3), "list_warm_s": round(list_warm_s, 4),
            "has_us": round(has_us, 2), "in_definition_us": round(in_us, 2), "checks": checks,
            "delete_s": round(delete_s, 4), "deleted": len(deleted.deleted),
            "suggest_s": [round(t, 3) for t in suggest_s], "suggested_right": suggested_right,
            "file_mb": file_mb, "peak_rss_mb": round(rss_mb, 1), "ok": bool(ok), "python": sys.version.split()[0],
        }))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _cold_checks(inst: nf.Instance, name: str, keys: list[str], rounds: int) -> dict[str, float | bool]:
    """Medians (ms) of one membership check in each cold situation; ``ok`` if every answer was right."""
    import statistics

    holder, partitions = inst.store.holder, inst.store.partitions
    times: dict[str, list[float]] = {}
    wrong: list[str] = []

    def check(label: str, key: str, expected: bool) -> None:
        start = time.perf_counter()
        found = inst.has_dynamic_partition(name, key)
        times.setdefault(label, []).append(1e3 * (time.perf_counter() - start))
        if found is not expected:
            wrong.append(f"{label}: {key!r} found={found}")

    def index_loaded() -> None:  # the background load ends before the next round starts
        deadline = time.monotonic() + 60
        while name not in partitions._index and time.monotonic() < deadline:
            time.sleep(0.05)
            # A load given up because the store was released meanwhile (a starved thread on
            # a loaded machine) starts again with the next check, as in a notebook.
            inst.has_dynamic_partition(name, keys[0])

    for r in range(rounds):
        inst.close()  # another process takes its turn and adds a key
        _in_child(inst.path, f"inst.add_dynamic_partitions({name!r}, ['from child {r}'])")
        check("first_check_after_write_ms", keys[(r * 7919) % len(keys)], True)
        check("first_check_after_write_absent_ms", f"absent {r}", False)
        index_loaded()
        if f"from child {r}" not in partitions._index.get(name, {}):
            wrong.append("the index loaded in the background misses the other process's key")
        deadline = time.monotonic() + 30
        while holder.is_open and time.monotonic() < deadline:  # released for being idle
            time.sleep(0.05)
        check("check_after_idle_ms", keys[r], True)
        inst.close()
        check("check_after_close_ms", keys[-1 - r], True)
    inst.delete_dynamic_partitions(name, [f"from child {r}" for r in range(rounds)])
    inst.close()
    for r in range(rounds):
        found, ms = _first_check_in_child(inst.path, name, keys[r * 3])
        if found is not True:
            wrong.append("first check in a new process")
        times.setdefault("first_check_new_process_ms", []).append(ms)
        out = _in_child(inst.path, f"""
start = time.perf_counter()
found = inst.has_dynamic_partition({name!r}, {keys[r * 5]!r})
print(json.dumps([found, 1e3 * (time.perf_counter() - start)]))
""")
        found, ms = json.loads(out.splitlines()[-1])
        if found is not True:
            wrong.append("open and first check in a new process")
        times.setdefault("open_and_first_check_ms", []).append(ms)
    result: dict[str, float | bool] = {k: round(statistics.median(v), 2) for k, v in times.items()}
    result["ok"] = not wrong
    if wrong:
        print("wrong:", *wrong, sep="\n  ", file=sys.stderr)
    return result


def _unordered_checks(folder: str, keys: list[str], rounds: int) -> dict[str, float | bool]:
    """First checks on a second store holding the same keys added in no particular order (shuffled,
    in one call), for one of the last keys given: after another process added a key (the index
    is brought up to date), in a fresh process whose store is already open, and after another
    process deleted a key (which drops the index, so the check is asked of DuckDB), and how long
the index then takes to be loaded again in the background (to within 50 ms). Each add
    stores its rows sorted by key, so DuckDB skips all but a few parts of the table by their
    range of keys, as it does for ``keys``, which are sorted already."""
    import random
    import statistics

    shuffled = list(keys)
    random.Random(0).shuffle(shuffled)
    inst = nf.instance(os.path.join(folder, "unordered.duckdb"))
    name = "bench_unordered"
    start = time.perf_counter()
    inst.add_dynamic_partitions(name, shuffled)
    add_s = time.perf_counter() - start
    times: dict[str, list[float]] = {}
    wrong: list[str] = []

    def check(label: str, key: str, expected: bool = True) -> None:
        start = time.perf_counter()
        found = inst.has_dynamic_partition(name, key)
        times.setdefault(label, []).append(1e3 * (time.perf_counter() - start))
        if found is not expected:
            wrong.append(f"{label}: {key!r} found={found}")

    def index_loaded() -> None:  # the background load ends before the next round
        deadline = time.monotonic() + 60
        while name not in inst.store.partitions._index and time.monotonic() < deadline:
            time.sleep(0.05)
            inst.has_dynamic_partition(name, shuffled[-1])

    def one_of_the_last(r: int) -> str:
        return shuffled[-1 - (r * 7919) % min(100_000, len(shuffled) // 2)]

    for r in range(rounds):
        inst.close()
        _in_child(inst.path, f"inst.add_dynamic_partitions({name!r}, ['from child {r}'])")
        check("first_check_after_write_unordered_ms", one_of_the_last(r))
        index_loaded()
    inst.close()
    for r in range(rounds):
        found, ms = _first_check_in_child(inst.path, name, one_of_the_last(r + rounds))
        times.setdefault("first_check_new_process_unordered_ms", []).append(ms)
        if found is not True:
            wrong.append("unordered: first check in a new process")
    for r in range(rounds):
        inst.close()
        _in_child(inst.path, f"inst.delete_dynamic_partitions({name!r}, [{shuffled[r]!r}])")
        check("first_check_after_delete_unordered_ms", one_of_the_last(r + 2 * rounds))
        start = time.perf_counter()
        check("check_of_the_deleted_key", shuffled[r], expected=False)
        index_loaded()  # the delete dropped the index: loaded again in the background
        times.setdefault("index_load_after_delete_unordered_ms", []).append(1e3 * (time.perf_counter() - start))
    inst.close()
    inst.store.partitions._index.clear()  # cold: reopen the file and read every key back
    start = time.perf_counter()
    listed = inst.get_dynamic_partitions(name)
    times["list_cold_unordered_s"] = [time.perf_counter() - start]
    if listed != shuffled[rounds:] + [f"from child {r}" for r in range(rounds)]:
        wrong.append("unordered: the keys listed are not the keys added, in the order given")
    inst.close()
    times.pop("check_of_the_deleted_key")
    if wrong:
        print("wrong:", *wrong, sep="\n  ", file=sys.stderr)
    return {"add_unordered_s": round(add_s, 3), **{k: round(statistics.median(v), 3) for k, v in times.items()},
            "unordered_file_mb": _file_mb(inst.path), "ok": not wrong}


def _file_mb(path: str) -> float:
    """The size of a closed store file (with its write-ahead log, if any is left), in MB."""
    wal = path + ".wal"
    return round((os.path.getsize(path) + (os.path.getsize(wal) if os.path.exists(wal) else 0)) / 2**20, 1)


def _first_check_in_child(path: str, name: str, key: str) -> tuple[bool, float]:
    """Whether a fresh process whose store is already open finds ``key``, and how long (ms)
    its first check took."""
    out = _in_child(path, f"""
inst.get_dynamic_partitions('warm-up')  # the store is open
start = time.perf_counter()
found = inst.has_dynamic_partition({name!r}, {key!r})
print(json.dumps([found, 1e3 * (time.perf_counter() - start)]))
""")
    found, ms = json.loads(out.splitlines()[-1])
    return found, ms


def _in_child(path: str, code: str) -> str:
    """Run ``code`` in a fresh Python process with ``inst`` open on the store; its stdout."""
    import subprocess
    import textwrap

    script = (f"import json, time\nimport nbflow as nf\ninst = nf.instance({path!r})\n"
              f"{textwrap.dedent(code)}\ninst.close()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the child process failed:\n{done.stderr}")
    return done.stdout


if __name__ == "__main__":
    main()
