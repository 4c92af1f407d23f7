"""One node as the controller sees it: a stub, a task queue, deadlines and typed errors."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import FieldDescriptor
from grpc_status import rpc_status

from mip_common._proto import common_pb2, node_service_pb2, node_service_pb2_grpc
from mip_common.channels import open_channel
from mip_common.errors import DeadlineError, MipError, NodeUnavailableError
from mip_common.interceptors import experiment_metadata
from mip_common.status import error_from_rpc
from mip_controller.wire import to_struct

__all__ = ["NodeClient", "frame_batch", "read_framed_header", "unframe_batch"]

T = TypeVar("T")

_RETRY_DELAYS_S = (0.05, 0.2, 0.5)


class NodeClient:
    """Calls one node: at most ``concurrency`` calls in flight, each with a deadline.

    Calls that are safe to repeat (reads, deletes, and mutations carrying a request id)
    are retried with backoff on UNAVAILABLE while the deadline allows.
    """

    def __init__(
        self,
        node_id: str,
        address: str,
        *,
        concurrency: int,
        chunk_bytes: int,
        credentials: grpc.ChannelCredentials | None = None,
        call_timeout_s: float | None = None,
    ) -> None:
        self.node_id = node_id
        self._call_timeout_s = call_timeout_s
        self.address = address
        self._channel = open_channel(address, credentials=credentials)
        self._stub = node_service_pb2_grpc.NodeServiceStub(self._channel)
        # GetTableData and CreateTable at the byte level: table chunks pass through the
        # controller as the serialized messages they arrived in, never parsed and rebuilt.
        self._get_framed = self._channel.unary_stream(
            f"/{_SERVICE}/GetTableData",
            request_serializer=node_service_pb2.GetTableDataRequest.SerializeToString,
            response_deserializer=_unchanged,
        )
        self._create_framed = self._channel.stream_unary(
            f"/{_SERVICE}/CreateTable",
            request_serializer=_unchanged,
            response_deserializer=node_service_pb2.CreateTableResponse.FromString,
        )
        self._queue = asyncio.Semaphore(concurrency)
        self._chunk_bytes = chunk_bytes
        self.latencies_s: deque[float] = deque(maxlen=200)

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    def deadline_for(self, experiment_deadline: float) -> float:
        """A call's deadline: the experiment's, capped so a frozen node is noticed in time."""
        if self._call_timeout_s is None:
            return experiment_deadline
        return min(experiment_deadline, time.monotonic() + self._call_timeout_s)

    async def _call(
        self,
        name: str,
        deadline: float,
        call: Callable[[float], Awaitable[T]],
        *,
        is_retryable: bool = True,
    ) -> T:
        experiment_deadline = deadline
        deadline = self.deadline_for(deadline)
        is_budget = deadline >= experiment_deadline  # the experiment's budget, not this node's call cap
        attempt = 0
        while True:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise self._deadline_error(name, is_budget)
            started = time.monotonic()
            try:
                async with self._queue:
                    result = await call(deadline - time.monotonic())
                self.latencies_s.append(time.monotonic() - started)
                return result
            except grpc.RpcError as err:
                code = err.code()  # type: ignore[attr-defined]
                if (
                    is_retryable
                    and code is grpc.StatusCode.UNAVAILABLE
                    and attempt < len(_RETRY_DELAYS_S)
                    and time.monotonic() + _RETRY_DELAYS_S[attempt] < deadline
                ):
                    await asyncio.sleep(_RETRY_DELAYS_S[attempt])
                    attempt += 1
                    continue
                if code is grpc.StatusCode.DEADLINE_EXCEEDED and rpc_status.from_call(err) is None:
                    raise self._deadline_error(name, is_budget) from None  # the deadline passed, not a node's error
                error = error_from_rpc(err, context=f"node {self.node_id} ({name})")
                error.metadata["node_id"] = self.node_id
                raise error from None

    def _deadline_error(self, name: str, is_budget: bool) -> DeadlineError:
        """A passed deadline: the experiment's budget (no node to blame), or this node's call cap."""
        if is_budget:
            return DeadlineError(
                f"the experiment's time budget ran out while {name} ran on node {self.node_id}",
                metadata={"is_budget": "true"},
            )
        return DeadlineError(
            f"node {self.node_id} ({name}): no answer within node_call_timeout_s", metadata={"node_id": self.node_id}
        )

    async def execute_udf(
        self,
        deadline: float,
        experiment_id: str,
        udf_name: str,
        tables: dict[str, str],
        literals: dict[str, Any],
        *,
        inline_max_bytes: int = 0,
        inline_tables: dict[str, tuple[bytes, list[bytes]]] | None = None,
        summed_tables: dict[str, node_service_pb2.SummedTable] | None = None,
        secure: node_service_pb2.SecureAggregation | None = None,
    ) -> node_service_pb2.ExecuteUDFResponse:
        """Run a UDF; retried safely through its request id.

        ``inline_tables`` are small tables sent with the call: parameter name to
        (Arrow schema, record batches); ``summed_tables`` are tables the node sums first;
        ``secure`` is the secure-aggregation round of a local call.
        """
        request = node_service_pb2.ExecuteUDFRequest(
            request_id=str(uuid.uuid4()),
            experiment_id=experiment_id,
            udf_name=udf_name,
            table_arguments=tables,
            literal_arguments=to_struct(literals),
            inline_max_bytes=inline_max_bytes,
        )
        for argument, (arrow_schema, batches) in (inline_tables or {}).items():
            request.inline_table_arguments[argument].arrow_schema = arrow_schema
            request.inline_table_arguments[argument].arrow_batches.extend(batches)
        for argument, summed in (summed_tables or {}).items():
            request.summed_table_arguments[argument].CopyFrom(summed)
        if secure is not None:
            request.secure_aggregation.CopyFrom(secure)
        return await self._call(
            "ExecuteUDF",
            deadline,
            lambda t: self._stub.ExecuteUDF(request, timeout=t, metadata=experiment_metadata()),
        )

    async def create_data_view(
        self,
        deadline: float,
        experiment_id: str,
        inputdata: common_pb2.InputData,
        keep_missing: bool,
    ) -> node_service_pb2.CreateDataViewResponse:
        """Build the step's private input table on this node."""
        request = node_service_pb2.CreateDataViewRequest(
            request_id=str(uuid.uuid4()),
            experiment_id=experiment_id,
            inputdata=inputdata,
            keep_missing=keep_missing,
        )
        return await self._call(
            "CreateDataView",
            deadline,
            lambda t: self._stub.CreateDataView(request, timeout=t, metadata=experiment_metadata()),
        )

    async def create_table_framed(
        self,
        deadline: float,
        experiment_id: str,
        table_name: str,
        arrow_schema: bytes,
        framed_batches: AsyncIterator[bytes],
    ) -> node_service_pb2.CreateTableResponse:
        """Create a table from record batches framed as CreateTableRequest messages (``frame_batch``).

        Not retried: the stream is consumed.
        """
        header = node_service_pb2.CreateTableRequest(
            header=node_service_pb2.CreateTableHeader(
                table_name=table_name,
                arrow_schema=arrow_schema,
                experiment_id=experiment_id,
                request_id=str(uuid.uuid4()),
            )
        ).SerializeToString()

        async def requests() -> AsyncIterator[bytes]:
            yield header
            async for message in framed_batches:
                yield message

        return await self._call(
            "CreateTable",
            deadline,
            lambda t: self._create_framed(requests(), timeout=t, metadata=experiment_metadata()),
            is_retryable=False,
        )

    def stream_table_framed(
        self, deadline: float, table_name: str, *, grace_s: float = 0.0
    ) -> grpc.aio.UnaryStreamCall[Any, Any]:
        """Start streaming a table: a header message, then Arrow record batches, each as its serialized bytes.

        ``grace_s`` lets a source stream outlive the calls it feeds, so when a receiving
        node hangs, that node's call times out first and is the one blamed.
        """
        timeout = min(deadline, self.deadline_for(deadline) + grace_s) - time.monotonic()
        return self._get_framed(
            node_service_pb2.GetTableDataRequest(table_name=table_name, chunk_bytes=self._chunk_bytes),
            timeout=max(0.001, timeout),
            metadata=experiment_metadata(),
        )

    async def delete_experiment_tables(self, deadline: float, experiment_id: str) -> int:
        """Delete every table of an experiment on this node; returns how many."""
        response = await self._call(
            "DeleteTable",
            deadline,
            lambda t: self._stub.DeleteTable(
                node_service_pb2.DeleteTableRequest(experiment_id=experiment_id), timeout=t
            ),
        )
        return int(response.deleted_count)

    async def create_masking_key(self, deadline: float, experiment_id: str) -> bytes:
        """The node's public secure-aggregation key of an experiment (made on the first call)."""
        response = await self._call(
            "CreateMaskingKey",
            deadline,
            lambda t: self._stub.CreateMaskingKey(
                node_service_pb2.CreateMaskingKeyRequest(experiment_id=experiment_id), timeout=t
            ),
        )
        return bytes(response.public_key)

    async def heartbeat(self, deadline: float) -> node_service_pb2.HeartbeatResponse:
        """The node's state."""
        return await self._call(
            "Heartbeat",
            deadline,
            lambda t: self._stub.Heartbeat(node_service_pb2.HeartbeatRequest(), timeout=t),
        )

    async def data_catalogue(self, deadline: float) -> node_service_pb2.GetDataCatalogueResponse:
        """The node's data models and datasets."""
        return await self._call(
            "GetDataCatalogue",
            deadline,
            lambda t: self._stub.GetDataCatalogue(node_service_pb2.GetDataCatalogueRequest(), timeout=t),
        )

    async def list_udfs(self, deadline: float) -> node_service_pb2.ListUDFsResponse:
        """The node's UDFs."""
        return await self._call(
            "ListUDFs",
            deadline,
            lambda t: self._stub.ListUDFs(node_service_pb2.ListUDFsRequest(), timeout=t),
        )


def _node_error(node: NodeClient, err: grpc.RpcError) -> MipError:
    error = error_from_rpc(err, context=f"node {node.node_id} (GetTableData)")
    error.metadata["node_id"] = node.node_id
    return error


_SERVICE = node_service_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name


def _batch_tag() -> bytes:
    """The wire tag of ``arrow_batch``, which must be one field in both table streams.

    A GetTableData batch message is relayed unparsed as a CreateTable message, so both
    messages must give ``arrow_batch`` the same number and a length-delimited type.
    """
    fields = [
        m.DESCRIPTOR.fields_by_name["arrow_batch"]
        for m in (node_service_pb2.GetTableDataResponse, node_service_pb2.CreateTableRequest)
    ]
    numbers = {f.number for f in fields}
    if len(numbers) != 1 or any(f.type != FieldDescriptor.TYPE_BYTES for f in fields):
        raise RuntimeError("arrow_batch must be the same bytes field in GetTableDataResponse and CreateTableRequest")
    tag = numbers.pop() << 3 | _LENGTH_DELIMITED
    if tag >= 0x80:  # a one-byte varint; field numbers up to 15
        raise RuntimeError(f"arrow_batch's field number must be below 16, not {tag >> 3}")
    return bytes([tag])


_LENGTH_DELIMITED = 2
_BATCH_TAG = _batch_tag()


def _unchanged(data: bytes) -> bytes:
    return data


def frame_batch(batch: bytes) -> bytes:
    """An Arrow batch as the serialized ``{arrow_batch: batch}`` message of either table stream."""
    length, prefix = len(batch), bytearray(_BATCH_TAG)
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            prefix.append(byte | 0x80)
        else:
            prefix.append(byte)
            return bytes(prefix) + batch


def unframe_batch(message: bytes) -> bytes:
    """The Arrow batch inside a framed table-stream message."""
    return bytes(node_service_pb2.GetTableDataResponse.FromString(message).arrow_batch)


async def read_framed_header(
    node: NodeClient, call: grpc.aio.UnaryStreamCall[Any, Any]
) -> tuple[node_service_pb2.TableHeader, AsyncIterator[bytes]]:
    """The header of a framed GetTableData stream, and its batch messages still framed."""
    try:
        first = await call.read()
    except grpc.RpcError as err:
        raise _node_error(node, err) from None
    header = None if first is grpc.aio.EOF else node_service_pb2.GetTableDataResponse.FromString(first)
    if header is None or header.WhichOneof("payload") != "header":
        raise NodeUnavailableError(f"node {node.node_id}: GetTableData sent no header")

    async def messages() -> AsyncIterator[bytes]:
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                if not message.startswith(_BATCH_TAG):
                    raise NodeUnavailableError(f"node {node.node_id}: GetTableData sent a second header")
                yield message
        except grpc.RpcError as err:
            raise _node_error(node, err) from None

    return header.header, messages()
