"""Tables stream local -> controller -> global chunk by chunk and arrive intact."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import numpy as np
import pyarrow as pa
import pytest

from algorithm_flows import InputData, LocalTables
from mip_client.federation import LocalFederation
from mip_common.arrow_chunks import encode_batches, encode_schema
from mip_common.naming import new_table_name
from mip_controller.node_client import NodeClient, frame_batch
from mip_controller.runtime import NodeRuntime

EXPERIMENT = "copytest"


async def _stream(table: pa.Table) -> AsyncIterator[bytes]:
    for chunk in encode_batches(table.to_batches(), 1 << 20):
        yield frame_batch(chunk)


def _runtime(federation: LocalFederation, nodes: dict[str, NodeClient]) -> NodeRuntime:
    return NodeRuntime(
        experiment_id=EXPERIMENT,
        deadline=time.monotonic() + 300,
        global_node=nodes["global"],
        local_nodes={k: v for k, v in nodes.items() if k != "global"},
        data=LocalTables({"local1": "unused"}),
        inputdata=InputData("demo:1.0", ()),
        variables={},
        on_progress=lambda _: None,
    )


@pytest.mark.slow
async def test_ten_million_values_copy_local_to_global_intact(federation: LocalFederation) -> None:
    # Arrange: 5 million rows x 2 columns on local1, made shareable by CreateTable
    rng = np.random.default_rng(0)
    rows = 5_000_000
    table = pa.table({"id": pa.array(np.arange(rows, dtype=np.int64)), "value": pa.array(rng.normal(size=rows))})
    nodes = {
        n: NodeClient(n, federation.node_address(n), concurrency=4, chunk_bytes=1 << 20) for n in ("global", "local1")
    }
    try:
        deadline = time.monotonic() + 300
        created = await nodes["local1"].create_table_framed(
            deadline, EXPERIMENT, new_table_name(EXPERIMENT, "big_source"), encode_schema(table.schema), _stream(table)
        )
        runtime = _runtime(federation, nodes)

        # Act
        merged = await runtime.create_remote_and_merge_global(LocalTables({"local1": created.table.name}))
        copied = await runtime.read_global(merged)

        # Assert
        assert created.table.row_count == rows
        np.testing.assert_array_equal(copied["id"], np.arange(rows))
        np.testing.assert_array_equal(copied["value"], table.column("value").to_numpy())
    finally:
        for node in nodes.values():
            await node.delete_experiment_tables(time.monotonic() + 30, EXPERIMENT)
            await node.close()


async def test_merge_keeps_node_order_and_shares_back(federation: LocalFederation) -> None:
    nodes = {
        n: NodeClient(n, federation.node_address(n), concurrency=4, chunk_bytes=1 << 20)
        for n in ("global", "local1", "local2", "local3")
    }
    try:
        deadline = time.monotonic() + 60
        parts = {}
        for index, node_id in enumerate(["local1", "local2", "local3"]):
            part = pa.table({"node": pa.array([index] * 3, pa.int64()), "text": pa.array(["a", None, "é"])})
            response = await nodes[node_id].create_table_framed(
                deadline,
                EXPERIMENT,
                new_table_name(EXPERIMENT, f"part_{index}"),
                encode_schema(part.schema),
                _stream(part),
            )
            parts[node_id] = response.table.name
        runtime = NodeRuntime(
            experiment_id=EXPERIMENT,
            deadline=deadline,
            global_node=nodes["global"],
            local_nodes={k: v for k, v in nodes.items() if k != "global"},
            data=LocalTables(dict.fromkeys(parts, "unused")),
            inputdata=InputData("demo:1.0", ()),
            variables={},
            on_progress=lambda _: None,
        )

        merged = await runtime.create_remote_and_merge_global(LocalTables(parts))
        shared = await runtime.create_remote_global_to_locals(merged)
        bundle = await runtime.read_global(merged)

        assert bundle["node"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
        assert bundle["text"].tolist() == ["a", None, "é"] * 3
        assert sorted(shared.tables) == ["local1", "local2", "local3"]
    finally:
        for node in nodes.values():
            await node.delete_experiment_tables(time.monotonic() + 30, EXPERIMENT)
            await node.close()
