"""How fast a RunView answers a click while the kernel is idle, sleeps in a cell, or runs a job.

usage: python bench/clicks.py [--clicks N] [--keys K]

Starts a real ipykernel (with a fresh NBFLOW_HOME) and a second client on it that plays the
front end: it shows a RunView of a finished K-key run (default 2,000), then sends the
``comm_msg`` a click on the key table's pager sends, N times (default 20) in each of three
situations: the kernel idle; a cell in ``time.sleep``; a foreground ``job.run()`` whose op
sleeps. Each figure is the time from sending the click to receiving the view's new key page
on IOPub. Last, one click with the views kept on the main shell (as on a kernel without
subshells) while a cell sleeps 3 s: it is answered only when that cell ends.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import tempfile
import time

SETUP = '''
import time
import nbflow as nf
from nbflow.widgets import base, comm_thread
from nbflow.widgets.run_view import RunView

@nf.op(out=nf.DynamicOut())
def fan():
    for i in range({keys}):
        yield nf.DynamicOutput(i, mapping_key=f"k{{i:05d}}")

@nf.op
def square(x):
    return x * x

@nf.job
def squares():
    fan().map(square)

@nf.op
def nap():
    time.sleep({nap})

@nf.job
def napping():
    nap()

run = squares.run()
view = RunView(run)
served_off = base.serve_off_main_thread
base.serve_off_main_thread = lambda widget: False
main_view = RunView(run)  # a view kept on the main shell
base.serve_off_main_thread = served_off
print("COMMS", view.comm.comm_id, main_view.comm.comm_id, comm_thread.status().split()[0])
'''


def drain(client) -> None:
    while True:
        try:
            client.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            return


def click(client, comm_id: str, page: int, timeout: float = 60) -> float:
    """Send the pager's click; seconds until the view's key page ``page`` arrives."""
    content = {"action": "keys", "node": "square", "page": page}
    msg = client.session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}})
    began = time.perf_counter()
    client.shell_channel.send(msg)
    deadline = began + timeout
    while time.perf_counter() < deadline:
        try:
            reply = client.get_iopub_msg(timeout=max(0.01, deadline - time.perf_counter()))
        except queue.Empty:
            break
        data = reply["content"].get("data", {}) if reply["msg_type"] == "comm_msg" else {}
        if reply["content"].get("comm_id") == comm_id and data.get("state", {}).get("key_page", {}).get("page") == page:
            return time.perf_counter() - began
    raise TimeoutError(f"no answer to a click within {timeout} s")


def clicks_while(client, comm_id: str, code: str | None, n: int) -> list[float]:
    if code is not None:
        client.execute(code)
        time.sleep(0.5)  # the cell is busy now
    times = []
    for i in range(n):
        times.append(click(client, comm_id, 1 + i % 2))
        time.sleep(0.05)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_s": round(statistics.median(ordered), 4),
            "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 4), "max_s": round(ordered[-1], 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--keys", type=int, default=2000)
    args = parser.parse_args()
    from jupyter_client import KernelManager

    busy_seconds = args.clicks * 0.15 + 3
    with tempfile.TemporaryDirectory(prefix="nbflow-bench-clicks-") as home:
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(env={**os.environ, "NBFLOW_HOME": home})
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            out: list[str] = []
            client.execute_interactive(SETUP.format(keys=args.keys, nap=busy_seconds), timeout=300,
                                       output_hook=lambda m: out.append(m["content"].get("text", "")))
            words = "".join(out).split()
            at = words.index("COMMS")
            comm_id, main_comm_id, where = words[at + 1: at + 4]
            drain(client)
            result: dict[str, object] = {"keys": args.keys, "clicks": args.clicks, "served_on": where}
            result["idle"] = summary(clicks_while(client, comm_id, None, args.clicks))
            result["cell_sleeping"] = summary(clicks_while(client, comm_id, f"time.sleep({busy_seconds})",
                                                           args.clicks))
            client.execute_interactive("pass", timeout=120)  # wait for the sleeping cell to end
            drain(client)
            result["foreground_run"] = summary(clicks_while(client, comm_id, "napping.run()", args.clicks))
            client.execute_interactive("pass", timeout=120)
            drain(client)
            client.execute("time.sleep(3)")
            time.sleep(0.5)
            result["main_shell_cell_sleeping_3s"] = round(click(client, main_comm_id, 1), 3)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
