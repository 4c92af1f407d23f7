"""Merging small tables the controller already holds: same schema merges, other types are refused."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from algorithm_flows import InputData, LocalTables
from mip_common._proto import node_service_pb2
from mip_common.arrow_chunks import encode_batches, encode_schema
from mip_common.errors import InvalidRequestError
from mip_controller.node_client import NodeClient
from mip_controller.runtime import NodeRuntime


def _output(table_name: str, table: pa.Table) -> node_service_pb2.UDFOutput:
    output = node_service_pb2.UDFOutput(output_name="sums")
    output.table.name = table_name
    output.inline_table.arrow_schema = encode_schema(table.schema)
    output.inline_table.arrow_batches.extend(encode_batches(table.to_batches()))
    return output


async def _merge(tables: dict[str, pa.Table]) -> str:
    clients = {n: NodeClient(n, "127.0.0.1:1", concurrency=1, chunk_bytes=1 << 20) for n in ["global", *tables]}
    runtime = NodeRuntime(
        experiment_id="merge",
        deadline=time.monotonic() + 60,
        global_node=clients["global"],
        local_nodes={n: clients[n] for n in tables},
        data=LocalTables(dict.fromkeys(tables, "")),
        inputdata=InputData("", ()),
        variables={},
        on_progress=lambda _: None,
    )
    try:
        for node_id, table in tables.items():
            runtime._small_tables.keep_sent(node_id, [_output(f"t_{node_id}", table)])
        merged = await runtime.create_remote_and_merge_global(LocalTables({n: f"t_{n}" for n in tables}))
        return merged.name
    finally:
        for client in clients.values():
            await client.close()


async def test_parts_of_one_schema_merge_without_a_call() -> None:
    name = await _merge({"a": pa.table({"s": [1.0]}), "b": pa.table({"s": [2.0]})})

    assert name.startswith("inline:")


async def test_parts_of_other_column_types_are_refused_naming_the_nodes() -> None:
    with pytest.raises(InvalidRequestError, match=r"on b .* than on a"):
        await _merge({"a": pa.table({"s": [1.0]}), "b": pa.table({"s": ["x"]})})
