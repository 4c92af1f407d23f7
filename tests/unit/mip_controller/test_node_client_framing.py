"""The hand-framed table-stream messages match what the generated code encodes.

Fails if ``arrow_batch`` changes number or type in either stream message, since the
controller relays GetTableData batch messages unparsed as CreateTable messages."""

from __future__ import annotations

import pytest

from mip_common._proto import node_service_pb2
from mip_controller.node_client import frame_batch, unframe_batch


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 1 << 14, (1 << 21) + 5])
def test_framed_batch_is_the_generated_encoding_of_both_stream_messages(size: int) -> None:
    batch = bytes(i % 251 for i in range(size))
    framed = frame_batch(batch)
    assert framed == node_service_pb2.GetTableDataResponse(arrow_batch=batch).SerializeToString()
    assert framed == node_service_pb2.CreateTableRequest(arrow_batch=batch).SerializeToString()
    assert unframe_batch(framed) == batch
    assert node_service_pb2.CreateTableRequest.FromString(framed).WhichOneof("payload") == "arrow_batch"
