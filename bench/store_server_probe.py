"""What one batch write would cost through a store-server process instead of taking turns.

usage: python bench/store_server_probe.py [ROWS ...]

The other way to share a store among processes is one server process per store file that
holds DuckDB's connection and that kernels send their batches to over a local socket. This
probe measures only the part that matters for the choice: a client sends a batch of ROWS
event rows (default 10 and 1,000) as an Arrow IPC stream over a Unix socket, the server
inserts it in one transaction and answers; the time is the client's round trip. It is a
measurement, not an implementation: there is no protocol for reads, frames, errors, server
start-up or crash recovery. Compare with ``batch_with_turn_ms`` of ``bench/sharing.py``.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def _send(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack("!I", len(data)) + data)


def _receive(sock: socket.socket) -> bytes:
    header = sock.recv(4, socket.MSG_WAITALL)
    if len(header) < 4:
        raise ConnectionError("closed")
    size = struct.unpack("!I", header)[0]
    data = bytearray()
    while len(data) < size:
        data += sock.recv(size - len(data))
    return bytes(data)


def serve(path: str, socket_path: str) -> None:
    import duckdb
    import pyarrow.ipc as ipc

    con = duckdb.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS events (run_id VARCHAR, ts DOUBLE, kind VARCHAR, message VARCHAR)")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(socket_path)
    listener.listen(8)
    print("ready", flush=True)
    client, _ = listener.accept()
    while True:
        try:
            data = _receive(client)
        except (ConnectionError, OSError):
            break
        con.register("batch", ipc.open_stream(data).read_all())
        con.execute("BEGIN")
        con.execute("INSERT INTO events SELECT * FROM batch")
        con.execute("COMMIT")
        con.unregister("batch")
        _send(client, b"ok")
    con.close()


def probe(rows: int, repeat: int = 300) -> dict:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    folder = tempfile.mkdtemp()
    socket_path = os.path.join(folder, "store.sock")
    server = subprocess.Popen([sys.executable, __file__, "--serve", os.path.join(folder, "s.duckdb"),
                               socket_path], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        client = socket.socket(socket.AF_UNIX)
        client.connect(socket_path)
        table = pa.table({"run_id": ["r"] * rows, "ts": [time.time()] * rows, "kind": ["k"] * rows,
                          "message": ["m" * 40] * rows})
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            sink = pa.BufferOutputStream()
            with ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            _send(client, sink.getvalue().to_pybytes())
            _receive(client)
            times.append((time.perf_counter() - t0) * 1000)
        client.close()
    finally:
        server.kill()
        server.wait()
    times.sort()
    return {"bench": "store_server_probe", "rows": rows, "batch_ms": round(statistics.median(times), 3),
            "batch_p99_ms": round(times[int(0.99 * len(times))], 3)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return
    for rows in [int(a) for a in sys.argv[1:]] or [10, 1000]:
        print(json.dumps(probe(rows)), flush=True)


if __name__ == "__main__":
    main()
