"""Dynamic partitions at scale: add a million keys in one call, list, check, delete.

usage: python bench/partitions.py [N] [--checks C] [--delete D]

On a fresh file store: add N keys (default 1,000,000) in one ``add_dynamic_partitions``
call; list them cold (after ``instance.close()`` and dropping the in-memory index, so the
file is reopened and the keys read back) and warm; C membership checks (half present, half
absent) through ``instance.has_dynamic_partition`` and through ``key in definition``;
delete D keys in one call; suggest the closest keys for four typos of one key (the
"did you mean" of an unknown key's error). Prints one JSON line with the figures, peak RSS and checks that
every answer was right. For scale (``../shared/reference/perf-anchors.md``): Dagster fails a
single add above 250,000 keys and spends about 1.7 ms per membership check.
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
        )
        inst.close()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({
            "bench": "partitions", "n": n, "store": "file",
            "add_s": round(add_s, 3), "keys_per_s": round(n / add_s),
            "list_cold_s": round(list_cold_s, 3), "list_warm_s": round(list_warm_s, 4),
            "has_us": round(has_us, 2), "in_definition_us": round(in_us, 2), "checks": checks,
            "delete_s": round(delete_s, 4), "deleted": len(deleted.deleted),
            "suggest_s": [round(t, 3) for t in suggest_s], "suggested_right": suggested_right,
            "peak_rss_mb": round(rss_mb, 1), "ok": bool(ok), "python": sys.version.split()[0],
        }))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
