"""Tables streamed node -> controller -> node(s): batch messages relayed as the bytes they arrived in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pyarrow as pa

from mip_common.arrow_chunks import decode_batch, decode_schema
from mip_common.metrics import BYTES_COPIED
from mip_controller.inline_tables import InlineTable
from mip_controller.node_client import NodeClient, frame_batch, read_framed_header, unframe_batch

T = TypeVar("T")

__all__ = ["collect", "fan_out", "gather_first_error", "in_order", "open_table"]

_FORWARD_BUFFER = 4
"""Batches queued per receiver: a slow receiver holds the source back instead of filling memory."""


async def open_table(
    node: NodeClient, table_name: str, deadline: float, *, small: InlineTable | None, grace_s: float = 0.0
) -> tuple[bytes, AsyncIterator[bytes]]:
    """A table's schema and its record batches as framed messages: from ``small`` if held here, else streamed."""
    if small is not None:
        return small.arrow_schema, _iterate([frame_batch(b) for b in small.arrow_batches])
    call = node.stream_table_framed(deadline, table_name, grace_s=grace_s)
    header, messages = await read_framed_header(node, call)
    return header.arrow_schema, messages


async def fan_out(
    messages: AsyncIterator[bytes], receivers: Sequence[Callable[[AsyncIterator[bytes]], Awaitable[T]]]
) -> list[T]:
    """Feed every message to every receiver at once (the global node's table shared to the locals)."""
    queues: list[asyncio.Queue[bytes | None]] = [asyncio.Queue(_FORWARD_BUFFER) for _ in receivers]

    async def pump() -> None:
        async for message in messages:
            BYTES_COPIED.labels(direction="global_to_locals").inc(len(message) * len(queues))
            for q in queues:
                await q.put(message)
        for q in queues:
            await q.put(None)

    async def drain(q: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        while (item := await q.get()) is not None:
            yield item

    results = await gather_first_error([pump(), *(r(drain(q)) for r, q in zip(receivers, queues, strict=True))])
    return results[1:]


async def in_order(streams: Sequence[AsyncIterator[bytes]]) -> AsyncIterator[bytes]:
    """The messages of every stream, one stream after the other (the locals' parts merged on the global)."""
    for messages in streams:
        async for message in messages:
            BYTES_COPIED.labels(direction="locals_to_global").inc(len(message))
            yield message


async def collect(arrow_schema: bytes, messages: AsyncIterator[bytes]) -> pa.Table:
    """A streamed table, parsed at last: for the flow that reads it."""
    schema = decode_schema(arrow_schema)
    return pa.Table.from_batches([decode_batch(schema, unframe_batch(m)) async for m in messages], schema)


async def gather_first_error(calls: Any) -> list[Any]:
    """Run calls at once; the first failure cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in calls]
    except ExceptionGroup as group_error:
        raise _first_leaf(group_error) from None
    return [t.result() for t in tasks]


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _iterate(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item
