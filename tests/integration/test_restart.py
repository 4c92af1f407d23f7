"""A node stopped and started again keeps its tables and data; the controller finds it again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow as pa

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common.arrow_chunks import encode_batches, encode_schema
from mip_common.naming import new_table_name
from mip_controller.node_client import NodeClient, frame_batch, read_framed_header

EXPERIMENT = "restarttest"


async def _one_chunk(table: pa.Table) -> AsyncIterator[bytes]:
    for chunk in encode_batches(table.to_batches()):
        yield frame_batch(chunk)


async def test_node_restart_keeps_tables_and_data(tmp_path: Path) -> None:
    folders = write_demo_federation(tmp_path / "data", num_locals=1, rows_per_dataset=50, seed=1)
    federation = LocalFederation(tmp_path, [folders]).start()
    try:
        table = pa.table({"x": pa.array([1.5, 2.5, None])})
        node = NodeClient("local1", federation.node_address("local1"), concurrency=1, chunk_bytes=1 << 20)
        created = await node.create_table_framed(
            time.monotonic() + 30,
            EXPERIMENT,
            new_table_name(EXPERIMENT, "kept_table"),
            encode_schema(table.schema),
            _one_chunk(table),
        )
        await node.close()

        federation.restart("local1")

        node = NodeClient("local1", federation.node_address("local1"), concurrency=1, chunk_bytes=1 << 20)
        header, batches = await read_framed_header(
            node, node.stream_table_framed(time.monotonic() + 30, created.table.name)
        )
        chunks = [b async for b in batches]
        beat = await node.heartbeat(time.monotonic() + 10)
        await node.close()
        assert header.row_count == 3
        assert len(chunks) == 1
        assert sorted(d.code for d in beat.datasets) == ["demo_site1_a", "demo_site1_b"]
        assert sum(d.row_count for d in beat.datasets) == 100
    finally:
        federation.stop()


def test_federation_stop_leaves_no_process(tmp_path: Path) -> None:
    folders = write_demo_federation(tmp_path / "data", num_locals=1, rows_per_dataset=20, seed=2)
    federation = LocalFederation(tmp_path, [folders]).start()
    pids = [p.pid for p in federation.processes.values()]
    with Controller(federation.controller_address) as controller:
        assert [d.code for d in controller.datasets()] == ["demo_site1_a", "demo_site1_b"]

    federation.stop()

    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
