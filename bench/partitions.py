"""Dynamic partitions at scale: add a million keys, list, check membership, delete.

usage: python bench/partitions.py [N]

On a fresh file store: add N keys (default 1,000,000) in one call; list them with a
cold index (the store closed and reopened, so the keys come from DuckDB) and a warm
one; 10,000 membership checks of random keys (half present, half absent); delete
1,000 keys in one call. Prints one JSON line.
"""

from __future__ import annotations

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
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    folder = tempfile.mkdtemp(prefix="nbflow-bench-")
    try:
        inst = nf.Instance(os.path.join(folder, "partitions.duckdb"))
        episodes = nf.DynamicPartitionsDefinition("episodes")
        keys = [f"episode {i:07d}, part/{i % 7}" for i in range(n)]

        start = time.perf_counter()
        added = episodes.add(keys, instance=inst)
        add_s = time.perf_counter() - start

        inst.close()
        inst = nf.Instance(inst.path)  # a fresh process's view: nothing in memory
        start = time.perf_counter()
        listed = episodes.keys(instance=inst)
        list_cold_s = time.perf_counter() - start
        start = time.perf_counter()
        episodes.keys(instance=inst)
        list_warm_s = time.perf_counter() - start

        rng = random.Random(7)
        probes = [keys[rng.randrange(n)] if i % 2 else f"absent {i}" for i in range(10_000)]
        start = time.perf_counter()
        found = sum(inst.has_dynamic_partition("episodes", k) for k in probes)
        has_us = 1e6 * (time.perf_counter() - start) / len(probes)

        doomed = rng.sample(keys, 1_000)
        start = time.perf_counter()
        deleted = episodes.delete(doomed, instance=inst)
        delete_s = time.perf_counter() - start

        ok = (len(added.added) == n and listed == keys and found == 5_000
              and len(deleted.deleted) == 1_000 and len(episodes.keys(instance=inst)) == n - 1_000)
        print(json.dumps({
            "bench": "partitions", "n": n, "add_s": round(add_s, 3), "list_cold_s": round(list_cold_s, 3),
            "list_warm_s": round(list_warm_s, 4), "has_us": round(has_us, 2), "delete_1000_s": round(delete_s, 4),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "ok": bool(ok),
        }))
        inst.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
