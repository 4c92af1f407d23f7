"""Table copy local -> controller -> global against a plain TCP socket copy of the same bytes.

    .venv/bin/python -m benchmarks.bench_table_copy [--rows 5000000]

Prints MB/s of both and their ratio, and writes benchmarks/results/table_copy.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from algorithm_flows import InputData, LocalTables
from mip_client.federation import LocalFederation
from mip_common.arrow_chunks import encode_batches, encode_schema
from mip_common.naming import new_table_name
from mip_controller.node_client import NodeClient, frame_batch
from mip_controller.runtime import NodeRuntime

RESULTS = Path(__file__).parent / "results"


def socket_copy_mb_s(payload: bytes) -> float:
    """Send ``payload`` over a loopback TCP socket and receive it whole; MB/s."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received = bytearray()

    def receive() -> None:
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(1 << 20):
                received.extend(chunk)

    thread = threading.Thread(target=receive)
    thread.start()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(payload)
    thread.join()
    elapsed = time.perf_counter() - started
    server.close()
    assert len(received) == len(payload)
    return len(payload) / elapsed / 1e6


async def mesh_copy_mb_s(federation: LocalFederation, table: pa.Table, repeats: int) -> tuple[float, int]:
    nodes = {
        n: NodeClient(n, federation.node_address(n), concurrency=4, chunk_bytes=1 << 20) for n in ("global", "local1")
    }

    async def stream() -> AsyncIterator[bytes]:
        for chunk in encode_batches(table.to_batches()):
            yield frame_batch(chunk)

    try:
        deadline = time.monotonic() + 600
        created = await nodes["local1"].create_table_framed(
            deadline, "bench", new_table_name("bench", "source"), encode_schema(table.schema), stream()
        )
        runtime = NodeRuntime(
            experiment_id="bench",
            deadline=deadline,
            global_node=nodes["global"],
            local_nodes={"local1": nodes["local1"]},
            data=LocalTables({"local1": "unused"}),
            inputdata=InputData("demo:1.0", ()),
            variables={},
            on_progress=lambda _: None,
        )
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            await runtime.create_remote_and_merge_global(LocalTables({"local1": created.table.name}))
            best = min(best, time.perf_counter() - started)
        wire_bytes = sum(len(c) for c in encode_batches(table.to_batches()))
        return wire_bytes / best / 1e6, wire_bytes
    finally:
        for node in nodes.values():
            await node.delete_experiment_tables(time.monotonic() + 60, "bench")
            await node.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of two 8-byte columns (default: 10M values)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = pa.table(
        {"id": pa.array(np.arange(args.rows, dtype=np.int64)), "value": pa.array(rng.normal(size=args.rows))}
    )
    with tempfile.TemporaryDirectory() as workdir, LocalFederation(Path(workdir), [[]]) as federation:
        mesh, wire_bytes = asyncio.run(mesh_copy_mb_s(federation, table, args.repeats))
    payload = b"".join(encode_batches(table.to_batches()))
    plain = max(socket_copy_mb_s(payload) for _ in range(args.repeats))
    result = {"rows": args.rows, "bytes": wire_bytes, "mesh_mb_s": mesh, "socket_mb_s": plain, "ratio": mesh / plain}
    print(f"table copy of {args.rows * 2:,} values ({wire_bytes / 1e6:.0f} MB), best of {args.repeats}")
    print(f"  local -> controller -> global : {mesh:8.1f} MB/s")
    print(f"  plain TCP socket (baseline)   : {plain:8.1f} MB/s")
    print(f"  ratio mesh / socket           : {mesh / plain:8.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "table_copy.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
