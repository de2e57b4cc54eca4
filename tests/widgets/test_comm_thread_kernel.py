"""In a real ipykernel: a view answers a click while the kernel's main thread sleeps in a cell.

A second client plays the front end: it sends the ``comm_msg`` JupyterLab would send for a
click on a graph node, while an ``execute_request`` blocks, and reads what comes back on IOPub.
"""

from __future__ import annotations

import queue
import time

import pytest

pytestmark = pytest.mark.slow

SETUP = '''
import threading, time
import nbflow as nf
from nbflow.widgets import comm_thread
from nbflow.widgets.run_view import RunView

@nf.op(out=nf.DynamicOut())
def fan():
    for i in range(120):
        yield nf.DynamicOutput(i, mapping_key=f"k{i:03d}")

@nf.op
def square(x):
    return x * x

@nf.job
def squares():
    fan().map(square)

view = RunView(squares.run(instance=nf.Instance.ephemeral()))
view.on_msg(lambda _view, content, _buffers: print("HANDLER-SAYS", content.get("action")))
print("COMM", view.comm.comm_id, comm_thread.status())
'''

BLOCKING_CELL = '''
def ticks():
    for i in range(12):
        print("tick", i, flush=True)
        time.sleep(0.25)

threading.Thread(target=ticks).start()
time.sleep(3.5)
'''


@pytest.fixture
def kernel():
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def run_cell(client, code: str) -> str:
    out: list[str] = []
    reply = client.execute_interactive(
        code, timeout=60,
        output_hook=lambda m: out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


def drain(client) -> None:
    while True:
        try:
            client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            return


def test_a_click_is_answered_while_a_cell_blocks_and_output_stays_where_it_belongs(kernel):
    words = run_cell(kernel, SETUP).split()
    comm_id, where = words[words.index("COMM") + 1], words[words.index("COMM") + 2]
    assert where == "subshell"
    drain(kernel)

    cell_id = kernel.execute(BLOCKING_CELL)
    time.sleep(1.0)  # the cell is sleeping now
    click = kernel.session.msg("comm_msg", {"comm_id": comm_id, "data": {
        "method": "custom", "content": {"action": "select", "node": "square"}}})
    kernel.shell_channel.send(click)

    events: list[tuple[str, str, str]] = []  # (what, parent msg id, text) in arrival order
    while True:
        msg = kernel.get_iopub_msg(timeout=30)
        parent = msg["parent_header"].get("msg_id", "")
        if msg["msg_type"] == "comm_msg" and msg["content"]["comm_id"] == comm_id:
            events.append(("update", parent, ",".join(msg["content"]["data"].get("state", {}))))
        elif msg["msg_type"] == "stream":
            events.extend(("stream", parent, line) for line in msg["content"]["text"].splitlines())
        elif msg["msg_type"] == "status" and parent == cell_id and msg["content"]["execution_state"] == "idle":
            break

    updates = [e for e in events if e[0] == "update"]
    assert any("key_page" in e[2] for e in updates), events  # the node's keys, answered ...
    assert all(e[1] == click["header"]["msg_id"] for e in updates)
    assert not any(e[0] == "stream" and e[2] == "slept" for e in events)  # ... before the cell ended
    handler_says = [e for e in events if e[2].startswith("HANDLER-SAYS")]
    assert handler_says == [("stream", click["header"]["msg_id"], "HANDLER-SAYS select")]  # not in the cell
    ticks = [e for e in events if e[2].startswith("tick")]
    assert len(ticks) == 12
    # The cell's thread prints into the cell, also after the click (at most one tick printed in
    # the instant between ipykernel taking up the click and the parent being put back may miss).
    assert sum(e[1] == cell_id for e in ticks) >= 11, ticks
    assert all(e[1] == cell_id for e in ticks[-6:]), ticks

    answer = run_cell(kernel, "print(view.selected['node'], view.key_page['total'], comm_thread.status().split()[0])")
    assert answer.split() == ["square", "120", "subshell"]  # and the kernel goes on as usual
