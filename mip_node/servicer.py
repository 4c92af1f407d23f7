"""NodeService: each handler decodes its request (``wire``), calls a part of the node, audits, encodes the answer."""

from __future__ import annotations

import functools
import logging
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa

from mip_common._proto import common_pb2, node_service_pb2, node_service_pb2_grpc
from mip_common.arrow_chunks import arrow_to_bundle, bundle_to_arrow, decode_schema, encode_batches, normalize_table
from mip_common.errors import (
    FailedPreconditionError,
    InvalidRequestError,
    MipError,
    NodeUnavailableError,
    NotFoundError,
    PrivacyError,
    ResourceLimitError,
)
from mip_common.masking import MaskingKey
from mip_common.metrics import UDF_SECONDS
from mip_common.naming import check_experiment_id, experiment_table_prefix, new_table_name
from mip_common.version import VERSION
from mip_node import wire
from mip_node.audit import AUDIT_FILE, AuditLog
from mip_node.config import NodeConfig
from mip_node.data_models import load_folder
from mip_node.data_views import DataViews
from mip_node.db import Database, Privacy, TableMeta
from mip_node.idempotency import RequestMemo
from mip_node.table_store import CALL_STARTED, TableStore
from mip_node.udf_executor import SecureRound, UdfExecutor, UdfRun
from mip_node.workers import WorkerPool
from udf_library import SecureSumError, UdfSpec, sum_masked_parts, sum_parts

__all__ = ["NodeServicer"]

log = logging.getLogger(__name__)

SMALL_CALL_BYTES = 64 * 1024
"""A UDF whose input tables are all in memory and this small in total runs on the event loop.

Such calls (global UDFs over merged aggregates, most local UDFs of a round) compute in
microseconds; two thread hand-offs would cost them more than the computation.
"""
LIBRARY_PACKAGE = "udf_library"
"""Only UDFs of this package run on the event loop (see ``_is_small_call``)."""
_MAX_MASKING_KEYS = 10_000
"""Experiments that may hold a secure-aggregation key at once (each key is a few hundred bytes)."""


class NodeServicer(node_service_pb2_grpc.NodeServiceServicer):
    """Serves one node's NodeService; every blocking call goes through the worker pool."""

    def __init__(
        self,
        config: NodeConfig,
        db: Database,
        store: TableStore,
        udfs: dict[str, UdfSpec],
        workers: WorkerPool,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        self._audit = audit or AuditLog(config.data_dir / AUDIT_FILE, node_id=config.node_id)
        self._config = config
        self._db = db
        self._udfs = udfs
        self._workers = workers
        self._store = store
        self._views = DataViews(config, db, store, self._audit)
        self._memo = RequestMemo(store, workers)
        self._executor = UdfExecutor(store, config, udfs, self._audit)
        self._started = time.monotonic()
        self._received_bytes: dict[str, int] = {}
        self._masking_keys: dict[str, MaskingKey] = {}
        """Secure-aggregation key pairs by experiment; forgotten when the experiment's tables are deleted."""

    # --- tables -------------------------------------------------------------------------

    async def CreateTable(
        self,
        request_iterator: AsyncIterator[node_service_pb2.CreateTableRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.CreateTableResponse:
        CALL_STARTED.set(self._store.now())
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("payload") != "header":
            raise InvalidRequestError("the first CreateTable message must be the header")
        header = first.header
        prefix = experiment_table_prefix(header.experiment_id)
        if not header.table_name.startswith(prefix):
            await _drain(request_iterator)  # a client still sending would see INTERNAL, not this status
            raise InvalidRequestError(
                f"table name {header.table_name[:80]!r} must start with {prefix!r}, the prefix of experiment "
                f"{header.experiment_id!r}'s tables; other names (primary data, the node's own tables) are reserved"
            )
        async with self._memo.once(header.request_id) as cached:
            if cached is not None:
                async for _ in request_iterator:
                    pass
                return node_service_pb2.CreateTableResponse.FromString(cached)
            schema = decode_schema(header.arrow_schema)
            normalize_table(schema.empty_table())  # rejects unsupported column types
            meta = TableMeta(header.table_name, Privacy.SHAREABLE, header.experiment_id)
            stored = await self._store_stream(meta, schema, request_iterator)
            await self._record(
                "table_received", experiment_id=header.experiment_id, table=stored.name, rows=stored.row_count
            )
            response = node_service_pb2.CreateTableResponse(table=wire.table_info(stored, schema))
            self._memo.remember(header.request_id, response.SerializeToString())
            log.info("table created", extra={"fields": {"table": stored.name, "rows": stored.row_count}})
            return response

    async def _store_stream(
        self,
        meta: TableMeta,
        schema: pa.Schema,
        request_iterator: AsyncIterator[node_service_pb2.CreateTableRequest],
    ) -> TableMeta:
        """Collect the stream's batches; a worker decodes and stores the table whole (nothing half-made is visible).

        The size caps are checked while the stream arrives, so an oversized table is refused
        before it fills the node's memory.
        """
        limit = min(self._config.max_table_bytes, self._config.max_experiment_bytes - self._experiment_bytes(meta))
        chunks: list[bytes] = []
        received = 0
        async for message in request_iterator:
            if message.WhichOneof("payload") != "arrow_batch":
                raise InvalidRequestError("only the first CreateTable message may be a header")
            received += len(message.arrow_batch)
            if received > limit:
                chunks.clear()
                await _drain(request_iterator)
                raise ResourceLimitError(
                    f"table {meta.name!r} is larger than this node accepts (max_table_bytes "
                    f"{self._config.max_table_bytes}, max_experiment_bytes {self._config.max_experiment_bytes} "
                    "per experiment)"
                )
            chunks.append(message.arrow_batch)
        stored = await self._workers.run(self._put_decoded, meta, schema, chunks)
        self._received_bytes[meta.experiment_id] = self._experiment_bytes(meta) + received
        return stored

    def _put_decoded(self, meta: TableMeta, schema: pa.Schema, chunks: list[bytes]) -> TableMeta:
        return self._store.put(meta, wire.decode_table(schema, chunks))

    def _experiment_bytes(self, meta: TableMeta) -> int:
        """Bytes CreateTable has taken for the experiment so far (forgotten when its tables are deleted)."""
        return self._received_bytes.get(meta.experiment_id, 0)

    async def GetTableData(
        self,
        request: node_service_pb2.GetTableDataRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[node_service_pb2.GetTableDataResponse]:
        stored = self._store.cached(request.table_name)
        if stored is None:
            stored = await self._workers.run(self._store.get, request.table_name)
        meta = stored.meta
        if meta.privacy is not Privacy.SHAREABLE:
            await self._record("table_refused", table=meta.name, privacy=meta.privacy.value)
            raise PrivacyError(
                f"table {meta.name!r} is {meta.privacy.value} data and cannot leave this node; "
                "only UDF outputs declared shareable can"
            )
        yield node_service_pb2.GetTableDataResponse(header=wire.table_header(stored.arrow.schema, meta.row_count))
        chunk_bytes = request.chunk_bytes or self._config.chunk_bytes
        chunks = encode_batches(stored.arrow.to_batches(), chunk_bytes)
        sent_bytes, is_complete = 0, False
        try:
            if stored.nbytes <= chunk_bytes:
                for chunk in chunks:
                    sent_bytes += len(chunk)
                    yield node_service_pb2.GetTableDataResponse(arrow_batch=chunk)
            else:
                while (chunk := await self._workers.run(next, chunks, None)) is not None:
                    sent_bytes += len(chunk)
                    yield node_service_pb2.GetTableDataResponse(arrow_batch=chunk)
            is_complete = True
        finally:  # what left the node is recorded even when the stream breaks off
            self._record_sent(meta, sent_bytes, is_complete=is_complete)
        log.info("table sent", extra={"fields": {"table": meta.name, "rows": meta.row_count}})

    async def DeleteTable(
        self,
        request: node_service_pb2.DeleteTableRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.DeleteTableResponse:
        if bool(request.table_name) == bool(request.experiment_id):
            raise InvalidRequestError("set exactly one of table_name and experiment_id")
        if request.table_name:
            names = [request.table_name]
        else:
            check_experiment_id(request.experiment_id)
            self._store.end_experiment(request.experiment_id)
            tables = await self._workers.run(self._store.experiment_tables, request.experiment_id)
            names = [t.name for t in tables]
            self._received_bytes.pop(request.experiment_id, None)
            self._masking_keys.pop(request.experiment_id, None)
        deleted = await self._workers.run(self._store.drop, names)
        await self._workers.run(self._store.flush)  # a deletion the controller was told of is on disk
        await self._record(
            "tables_deleted", experiment_id=request.experiment_id or None, tables=names[:100], deleted=deleted
        )
        return node_service_pb2.DeleteTableResponse(deleted_count=deleted)

    # --- UDFs ---------------------------------------------------------------------------

    async def ListUDFs(
        self, request: node_service_pb2.ListUDFsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> node_service_pb2.ListUDFsResponse:
        return node_service_pb2.ListUDFsResponse(
            udfs=[wire.udf_info(spec) for spec in sorted(self._udfs.values(), key=lambda s: s.name)]
        )

    async def ExecuteUDF(
        self,
        request: node_service_pb2.ExecuteUDFRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.ExecuteUDFResponse:
        CALL_STARTED.set(self._store.now())
        spec = self._executor.spec(request.udf_name)
        async with self._memo.once(request.request_id) as cached:
            if cached is not None:
                return node_service_pb2.ExecuteUDFResponse.FromString(cached)
            literals = wire.struct_values(request.literal_arguments, "literal_arguments")
            inline = request.inline_table_arguments
            if wire.inline_bytes(inline.values()) <= SMALL_CALL_BYTES:  # cheaper to decode than a thread hand-off
                tables = dict(request.table_arguments) | self._store_inline_arguments(request)
            else:
                tables = dict(request.table_arguments) | await self._workers.run(self._store_inline_arguments, request)
            if request.summed_table_arguments:
                tables |= await self._workers.run(self._store_summed_arguments, request, set(tables))
            secure = wire.secure_round(request, self._masking_keys.get(request.experiment_id))
            arguments = (request.experiment_id, request.udf_name, tables, literals, secure)
            if secure is None and self._is_small_call(spec.func.__module__, tables):
                response = self._run_udf(request, arguments, is_inline=True)
            else:
                response = await self._workers.run(self._run_udf, request, arguments)
            self._memo.remember(request.request_id, response.SerializeToString())
            return response

    def _run_udf(
        self,
        request: node_service_pb2.ExecuteUDFRequest,
        arguments: tuple[str, str, dict[str, str], dict[str, Any], SecureRound | None],
        *,
        is_inline: bool = False,
    ) -> node_service_pb2.ExecuteUDFResponse:
        """Run the UDF, describe (and audit) its outputs; blocking unless ``is_inline`` (see ``_is_small_call``)."""
        run = self._executor.run(*arguments, is_inline=is_inline)
        outputs = [self._udf_output(name, meta, request.inline_max_bytes) for name, meta in run.outputs]
        response = node_service_pb2.ExecuteUDFResponse(outputs=outputs)
        response.compute_duration.FromNanoseconds(int(run.compute_s * 1e9))
        UDF_SECONDS.labels(udf=request.udf_name).observe(run.compute_s)
        self._record_udf(request, run)
        log.info("udf ran", extra={"fields": {"udf": request.udf_name, "compute_s": round(run.compute_s, 6)}})
        return response

    def _is_small_call(self, module: str, tables: dict[str, str]) -> bool:
        """Whether a UDF call may run on the event loop: thread isolation, small inputs already in memory.

        Only the library's own UDFs, run without the ``udf_timeout_s`` thread: one from
        ``extra_udf_packages`` could run long on small inputs, and on the event loop nothing
        would stop it while the node stops answering.
        """
        if self._config.udf_isolation != "thread" or module.split(".")[0] != LIBRARY_PACKAGE.split(".")[0]:
            return False
        total = 0
        for name in tables.values():
            stored = self._store.cached(name)
            if stored is None:
                return False
            total += stored.nbytes
        return total <= SMALL_CALL_BYTES

    async def CreateMaskingKey(
        self,
        request: node_service_pb2.CreateMaskingKeyRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.CreateMaskingKeyResponse:
        check_experiment_id(request.experiment_id)
        key = self._masking_keys.get(request.experiment_id)
        if key is None:
            if len(self._masking_keys) >= _MAX_MASKING_KEYS:
                raise ResourceLimitError(
                    f"{_MAX_MASKING_KEYS} experiments hold masking keys on this node; "
                    "delete finished experiments' tables (DeleteTable by experiment_id) first"
                )
            key = self._masking_keys[request.experiment_id] = MaskingKey()
            await self._record("masking_key_created", experiment_id=request.experiment_id)
        return node_service_pb2.CreateMaskingKeyResponse(public_key=key.public_bytes, node_id=self._config.node_id)

    # --- data ---------------------------------------------------------------------------

    async def CreateDataView(
        self,
        request: node_service_pb2.CreateDataViewRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.CreateDataViewResponse:
        CALL_STARTED.set(self._store.now())
        if self._config.is_global:
            raise FailedPreconditionError("the global node holds no primary data")
        async with self._memo.once(request.request_id) as cached:
            if cached is not None:
                return node_service_pb2.CreateDataViewResponse.FromString(cached)
            view = await self._workers.run(self._views.create, wire.view_request(request))
            response = wire.data_view_response(view, self._config.min_rows)
            await self._record(
                "data_view",
                experiment_id=request.experiment_id,
                data_model=request.inputdata.data_model,
                datasets=list(request.inputdata.datasets),
                columns=list(dict.fromkeys([*request.inputdata.y, *request.inputdata.x])),
                has_filters=request.inputdata.HasField("filters"),
                table=response.table.name,
                rows=response.table.row_count,
                dataset_rows=dict(response.dataset_row_counts),
            )
            self._memo.remember(request.request_id, response.SerializeToString())
            return response

    async def GetDataCatalogue(
        self,
        request: node_service_pb2.GetDataCatalogueRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.GetDataCatalogueResponse:
        specs, datasets = await self._workers.run(self._views.catalogue)
        return node_service_pb2.GetDataCatalogueResponse(
            data_models=[wire.data_model_proto(s) for s in specs],
            datasets=[wire.dataset_proto(d) for d in datasets],
        )

    async def LoadDataModel(
        self,
        request: node_service_pb2.LoadDataModelRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.LoadDataModelResponse:
        if self._config.is_global:
            raise FailedPreconditionError("the global node holds no primary data; load data on local nodes")
        folder = Path(request.folder)
        try:
            is_folder = folder.is_dir()
        except OSError as exc:
            raise InvalidRequestError(f"folder {request.folder[:200]!r} cannot be used: {exc.strerror}") from exc
        if not is_folder:
            raise NotFoundError(f"no folder {request.folder[:200]!r} on the node's file system")
        try:
            warnings: list[str] = []
            spec, loaded = await self._workers.run(
                functools.partial(load_folder, missing_cde_columns=self._config.missing_cde_columns, warnings=warnings),
                self._db,
                folder,
                tuple(request.exclude_globs),
            )
        finally:
            self._views.forget_catalogue()
        await self._record(
            "data_loaded", data_model=spec.key, folder=str(folder), dataset_rows={d.code: d.row_count for d in loaded}
        )
        return node_service_pb2.LoadDataModelResponse(
            data_model=spec.key,
            datasets=[wire.dataset_proto(d) for d in loaded],
            warnings=warnings,
        )

    async def Heartbeat(
        self,
        request: node_service_pb2.HeartbeatRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.HeartbeatResponse:
        database_status = await self._workers.run(self._db.status)
        try:
            _, datasets = await self._workers.run(self._views.catalogue)
            table_count = len(await self._workers.run(self._store.experiment_tables, None))
        except NodeUnavailableError:  # the database is away: database_status says so, the heartbeat still answers
            datasets = self._views.last_datasets()
            table_count = 0
        response = node_service_pb2.HeartbeatResponse(
            node_id=self._config.node_id,
            role=common_pb2.NODE_ROLE_GLOBAL if self._config.is_global else common_pb2.NODE_ROLE_LOCAL,
            version=VERSION,
            running_tasks=self._workers.running,
            queued_tasks=self._workers.queued,
            database_status=database_status,
            data_models=sorted({d.data_model for d in datasets}),
            datasets=[wire.dataset_proto(d) for d in datasets],
            free_disk_bytes=(await self._workers.run(shutil.disk_usage, self._config.data_dir)).free,
            experiment_table_count=table_count,
        )
        response.uptime.FromNanoseconds(int((time.monotonic() - self._started) * 1e9))
        return response

    # --- helpers ------------------------------------------------------------------------

    async def _record(self, event: str, **fields: Any) -> None:
        """Append an audit event (a buffered write: the fsync happens in the background)."""
        self._audit.record(event, **fields)

    def _store_inline_arguments(self, request: node_service_pb2.ExecuteUDFRequest) -> dict[str, str]:
        """Store the tables sent with the call (shareable: they came from another node) and name them."""
        if not request.inline_table_arguments:
            return {}
        check_experiment_id(request.experiment_id)
        names = {}
        for argument, inline in request.inline_table_arguments.items():
            if argument in request.table_arguments:
                raise InvalidRequestError(f"argument {argument[:64]!r} is given both as a table name and inline")
            meta = TableMeta(new_table_name(request.experiment_id, "inline"), Privacy.SHAREABLE, request.experiment_id)
            stored = self._store.put(meta, normalize_table(wire.decode_inline(inline)))
            self._audit.record(
                "table_received",
                experiment_id=request.experiment_id,
                table=stored.name,
                rows=stored.row_count,
                is_inline=True,
            )
            names[argument] = stored.name
        return names

    def _store_summed_arguments(self, request: node_service_pb2.ExecuteUDFRequest, named: set[str]) -> dict[str, str]:
        """Sum each summed argument's parts (unmasking them when masked) and store the sum as shareable."""
        if not request.summed_table_arguments:
            return {}
        check_experiment_id(request.experiment_id)
        names = {}
        for argument, summed in request.summed_table_arguments.items():
            if argument in named:
                raise InvalidRequestError(f"argument {argument[:64]!r} is given twice (as a table and summed)")
            if not summed.parts:
                raise InvalidRequestError(f"summed argument {argument[:64]!r} has no parts")
            parts = [arrow_to_bundle(wire.decode_inline(p)) for p in summed.parts]
            keys = list(summed.key_columns)
            try:
                total = sum_masked_parts(parts, keys) if summed.is_masked else sum_parts(parts, keys)
            except SecureSumError as exc:
                raise InvalidRequestError(f"summed argument {argument[:64]!r}: {exc}") from exc
            meta = TableMeta(new_table_name(request.experiment_id, "summed"), Privacy.SHAREABLE, request.experiment_id)
            stored = self._store.put(meta, bundle_to_arrow(total), total)
            self._audit.record(
                "table_received",
                experiment_id=request.experiment_id,
                table=stored.name,
                rows=stored.row_count,
                summed_parts=len(parts),
                is_masked=summed.is_masked,
            )
            names[argument] = stored.name
        return names

    def _record_sent(self, meta: TableMeta, sent_bytes: int, *, is_complete: bool) -> None:
        """Audit what left the node: the whole table, or as much as was sent before the stream broke off."""
        self._audit.record(
            "table_sent",
            experiment_id=meta.experiment_id,
            table=meta.name,
            rows=meta.row_count,
            bytes=sent_bytes,
            is_complete=is_complete,
        )

    def _udf_output(self, output_name: str, meta: TableMeta, inline_max_bytes: int) -> node_service_pb2.UDFOutput:
        """One output's description, with its rows inline when it is shareable and small.

        Inline rows leave the node like GetTableData's, so they pass the same privacy
        check (only shareable outputs) and are audited as sent.
        """
        stored = self._store.get(meta.name)
        output = node_service_pb2.UDFOutput(output_name=output_name, table=wire.table_info(meta, stored.arrow.schema))
        if meta.privacy is Privacy.SHAREABLE and 0 < stored.nbytes <= inline_max_bytes:
            output.inline_table.CopyFrom(wire.inline_table(stored.arrow, self._config.chunk_bytes))
            self._record_sent(meta, sum(map(len, output.inline_table.arrow_batches)), is_complete=True)
        return output

    def _record_udf(self, request: node_service_pb2.ExecuteUDFRequest, run: UdfRun) -> None:
        inputs = {}
        for argument, table in request.table_arguments.items():
            try:
                inputs[argument] = {"table": table, "rows": self._store.get(table).meta.row_count}
            except MipError:
                inputs[argument] = {"table": table, "rows": None}
        self._audit.record(
            "udf",
            experiment_id=request.experiment_id,
            udf=request.udf_name,
            request_id=request.request_id,
            inputs=inputs,
            literal_arguments=sorted(request.literal_arguments.keys()),
            outputs=[
                {"output": name, "table": meta.name, "rows": meta.row_count, "privacy": meta.privacy.value}
                for name, meta in run.outputs
            ],
            compute_s=round(run.compute_s, 6),
        )


async def _drain(request_iterator: AsyncIterator[Any]) -> None:
    """Read a refused stream to its end without keeping it, so the client gets the refusal's status."""
    async for _ in request_iterator:
        pass
