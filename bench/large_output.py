"""Peak memory while a run stores one large output, and while loading it back.

Usage: python bench/large_output.py MB [--kind bytes|list|array]

One op returns a value of about MB megabytes (``bytes``, a list of floats, or a numpy
array); the run goes to a fresh file store. Prints one JSON line: the size, the peak RSS
of the process before the run (the value exists), after the run (stored), and after
``run.output()`` loaded it back, so the extra memory that storing and loading need can
be read off. Each phase runs in a fresh child process, so the peaks are separate.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _make(kind: str, mb: int):
    n = mb * 1024 * 1024
    if kind == "bytes":
        return b"\1" * n
    if kind == "list":
        return [float(i) for i in range(n // 32)]  # about 32 bytes per float in a list
    import numpy as np

    return np.ones(n // 8)


def _phase(phase: str, kind: str, mb: int, store: str) -> dict:
    import nbflow as nf

    inst = nf.Instance(store)
    if phase == "value":
        value = _make(kind, mb)
        return {"peak_mb": round(_peak_mb()), "len": len(value)}
    if phase == "store":

        @nf.op
        def big():
            return _make(kind, mb)

        @nf.job
        def big_job():
            big()

        began = time.perf_counter()
        run = big_job.run(instance=inst)
        return {"peak_mb": round(_peak_mb()), "seconds": round(time.perf_counter() - began, 2),
                "status": run.status, "run_id": run.run_id}
    run = inst.get_run(inst.runs().run_id[0])
    began = time.perf_counter()
    value = run.output("big")
    return {"peak_mb": round(_peak_mb()), "seconds": round(time.perf_counter() - began, 2), "len": len(value)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mb", type=int)
    parser.add_argument("--kind", default="bytes", choices=["bytes", "list", "array"])
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, args.kind, args.mb, args.store)))
        return
    with tempfile.TemporaryDirectory() as folder:
        store = str(Path(folder) / "large.duckdb")
        result: dict = {"mb": args.mb, "kind": args.kind}
        for phase in ("value", "store", "load"):
            out = subprocess.run([sys.executable, __file__, str(args.mb), "--kind", args.kind, "--phase", phase,
                                  "--store", store], capture_output=True, text=True, check=True)
            result[phase] = json.loads(out.stdout.strip().splitlines()[-1])
        result["store_file_mb"] = round(Path(store).stat().st_size / 2**20)
        values = Path(store + ".values")  # large values are files beside the store
        result["value_files_mb"] = round(sum(f.stat().st_size for f in values.glob("*")) / 2**20) if values.is_dir() else 0
    print(json.dumps(result))


if __name__ == "__main__":
    main()
