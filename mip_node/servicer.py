"""NodeService: thin gRPC handlers over the database, the UDF executor and data views."""

from __future__ import annotations

import asyncio
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
from mip_common.arrow_chunks import (
    arrow_to_bundle,
    bundle_to_arrow,
    decode_batch,
    decode_schema,
    encode_batches,
    encode_schema,
    normalize_table,
    table_columns,
)
from mip_common.errors import (
    FailedPreconditionError,
    InvalidRequestError,
    MipError,
    NodeUnavailableError,
    NotFoundError,
    PrivacyError,
    ResourceLimitError,
    SelectionRuleError,
    TooFewRowsError,
)
from mip_common.filters import compile_selection
from mip_common.masking import MaskingKey
from mip_common.metrics import UDF_SECONDS
from mip_common.naming import check_experiment_id, experiment_table_prefix, new_table_name
from mip_common.structs import struct_to_python
from mip_common.version import VERSION
from mip_node.audit import AUDIT_FILE, AuditLog
from mip_node.config import NodeConfig
from mip_node.data_models import DataModelSpec, data_catalogue, load_folder
from mip_node.db import Database, DatasetRecord, Privacy, TableMeta
from mip_node.table_store import CALL_STARTED, TableStore
from mip_node.udf_executor import SecureRound, UdfExecutor, UdfRun
from mip_node.workers import WorkerPool
from udf_library import ArrayBundle, SecureSumError, UdfSpec, sum_masked_parts, sum_parts

__all__ = ["NodeServicer"]

log = logging.getLogger(__name__)

_DATASET = "dataset"
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
        self._cached_catalogue: tuple[list[DataModelSpec], list[DatasetRecord]] | None = None
        self._executor = UdfExecutor(store, config, udfs, self._audit)
        self._started = time.monotonic()
        self._request_locks: dict[str, asyncio.Lock] = {}
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
        async with self._once(header.request_id) as cached:
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
            response = node_service_pb2.CreateTableResponse(table=_table_info(stored, schema))
            await self._remember(header.request_id, response)
            log.info("table created", extra={"fields": {"table": stored.name, "rows": stored.row_count}})
            return response

    async def _store_stream(
        self,
        meta: TableMeta,
        schema: pa.Schema,
        request_iterator: AsyncIterator[node_service_pb2.CreateTableRequest],
    ) -> TableMeta:
        """Collect the stream's batches, then store the table whole (nothing half-made is visible).

        The size caps are checked while the stream arrives, so an oversized table is refused
        before it fills the node's memory.
        """
        limit = min(self._config.max_table_bytes, self._config.max_experiment_bytes - self._experiment_bytes(meta))
        batches: list[pa.RecordBatch] = []
        received = 0
        async for message in request_iterator:
            if message.WhichOneof("payload") != "arrow_batch":
                raise InvalidRequestError("only the first CreateTable message may be a header")
            received += len(message.arrow_batch)
            if received > limit:
                batches.clear()
                await _drain(request_iterator)
                raise ResourceLimitError(
                    f"table {meta.name!r} is larger than this node accepts (max_table_bytes "
                    f"{self._config.max_table_bytes}, max_experiment_bytes {self._config.max_experiment_bytes} "
                    "per experiment)"
                )
            batches.append(decode_batch(schema, message.arrow_batch))
        stored = self._store.put(meta, pa.Table.from_batches(batches, schema))
        self._received_bytes[meta.experiment_id] = self._experiment_bytes(meta) + received
        return stored

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
        yield node_service_pb2.GetTableDataResponse(
            header=node_service_pb2.TableHeader(
                arrow_schema=encode_schema(stored.arrow.schema), row_count=meta.row_count
            )
        )
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
            udfs=[
                node_service_pb2.UDFInfo(
                    name=spec.name,
                    signature=spec.signature_text(),
                    doc=spec.doc,
                    inputs=[
                        node_service_pb2.UDFParameter(name=i.name, type=i.type, is_optional=i.is_optional)
                        for i in spec.inputs
                    ],
                    outputs=[
                        node_service_pb2.UDFOutputSpec(
                            name=o.name, is_shareable=o.shared, merge=o.merge, key_columns=o.keys
                        )
                        for o in spec.outputs
                    ],
                )
                for spec in sorted(self._udfs.values(), key=lambda s: s.name)
            ]
        )

    async def ExecuteUDF(
        self,
        request: node_service_pb2.ExecuteUDFRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.ExecuteUDFResponse:
        CALL_STARTED.set(self._store.now())
        spec = self._executor.spec(request.udf_name)
        async with self._once(request.request_id) as cached:
            if cached is not None:
                return node_service_pb2.ExecuteUDFResponse.FromString(cached)
            literals = struct_to_python(request.literal_arguments, "literal_arguments")
            tables = dict(request.table_arguments) | self._store_inline_arguments(request)
            if request.summed_table_arguments:
                tables |= await self._workers.run(self._store_summed_arguments, request, set(tables))
            secure = self._secure_round(request)
            arguments = (request.experiment_id, request.udf_name, tables, literals, secure)
            if secure is None and self._is_small_call(spec.func.__module__, tables):
                run = self._executor.run(*arguments, is_inline=True)
            else:
                run = await self._workers.run(self._executor.run, *arguments)
            outputs = [self._udf_output(name, meta, request.inline_max_bytes) for name, meta in run.outputs]
            response = node_service_pb2.ExecuteUDFResponse(outputs=outputs)
            response.compute_duration.FromNanoseconds(int(run.compute_s * 1e9))
            UDF_SECONDS.labels(udf=request.udf_name).observe(run.compute_s)
            self._record_udf(request, run)
            await self._remember(request.request_id, response)
            log.info(
                "udf ran",
                extra={"fields": {"udf": request.udf_name, "compute_s": round(run.compute_s, 6)}},
            )
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
        async with self._once(request.request_id) as cached:
            if cached is not None:
                return node_service_pb2.CreateDataViewResponse.FromString(cached)
            response = await self._workers.run(self._create_view, request)
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
            await self._remember(request.request_id, response)
            return response

    def _create_view(self, request: node_service_pb2.CreateDataViewRequest) -> node_service_pb2.CreateDataViewResponse:
        inputdata = request.inputdata
        spec = self._data_model(inputdata.data_model)
        held = {d.code for d in self._catalogue()[1] if d.data_model == spec.key}
        datasets = [d for d in inputdata.datasets if d in held]
        if not datasets:
            raise NotFoundError(f"this node holds none of the datasets {list(inputdata.datasets)[:20]}")
        columns = list(dict.fromkeys([*inputdata.y, *inputdata.x]))
        filters = struct_to_python(inputdata.filters, "filters") if inputdata.HasField("filters") else None
        sql, params = compile_selection(
            spec.table_name, spec.filter_variables(), datasets, columns, filters, request.keep_missing
        )
        rows = self._db.query(sql, params)
        if rows.num_rows < self._config.min_rows:
            self._audit.record("selection_refused", experiment_id=request.experiment_id, rule="min_rows")
            raise TooFewRowsError(f"the selection has fewer rows than this node's minimum of {self._config.min_rows}")
        if filters is not None:
            self._check_selection_difference(request.experiment_id, spec, datasets, filters)
        meta = TableMeta(
            new_table_name(request.experiment_id, "data"),
            Privacy.PRIVATE,
            request.experiment_id,
            private_rows=rows.num_rows,
        )
        stored = self._store.put(meta, rows, is_durable=False)
        counts = rows.column(_DATASET).value_counts().to_pylist()
        return node_service_pb2.CreateDataViewResponse(
            table=_table_info(stored, rows.schema),
            dataset_row_counts={c["values"]: c["counts"] for c in counts if c["counts"] >= self._config.min_rows},
            min_rows=self._config.min_rows,
        )

    def _check_selection_difference(
        self, experiment_id: str, spec: DataModelSpec, datasets: list[str], filters: dict[str, Any]
    ) -> None:
        """The selection rule: filters leave out of the named datasets no rows or at least ``min_rows``.

        Otherwise two requests that differ by a filter on one person (``NOT subject = X``) would
        give that person's values by subtraction.
        """
        variables = spec.filter_variables()
        everyone = self._count(compile_selection(spec.table_name, variables, datasets, [], None, True))
        chosen = self._count(compile_selection(spec.table_name, variables, datasets, [], filters, True))
        left_out = everyone - chosen
        if 0 < left_out < self._config.min_rows:
            self._audit.record("selection_refused", experiment_id=experiment_id, rule="selection_difference")
            raise SelectionRuleError(
                "selection rule (min_rows): the filters leave out of the chosen datasets some rows, but fewer than "
                "this node's minimum; a selection must leave out none or at least that many (widen or drop the "
                "filter, or choose datasets instead)"
            )

    def _count(self, selection: tuple[str, list[Any]]) -> int:
        sql, params = selection
        return int(self._db.query(f"SELECT count(*) AS n FROM ({sql}) AS chosen", params).column(0)[0].as_py())

    async def GetDataCatalogue(
        self,
        request: node_service_pb2.GetDataCatalogueRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.GetDataCatalogueResponse:
        specs, datasets = await self._workers.run(self._catalogue)
        return node_service_pb2.GetDataCatalogueResponse(
            data_models=[_data_model_proto(s) for s in specs],
            datasets=[_dataset_proto(d) for d in datasets],
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
            self._cached_catalogue = None
        await self._record(
            "data_loaded", data_model=spec.key, folder=str(folder), dataset_rows={d.code: d.row_count for d in loaded}
        )
        return node_service_pb2.LoadDataModelResponse(
            data_model=spec.key,
            datasets=[_dataset_proto(d) for d in loaded],
            warnings=warnings,
        )

    async def Heartbeat(
        self,
        request: node_service_pb2.HeartbeatRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> node_service_pb2.HeartbeatResponse:
        database_status = await self._workers.run(self._db.status)
        try:
            _, datasets = await self._workers.run(self._catalogue)
            table_count = len(await self._workers.run(self._store.experiment_tables, None))
        except NodeUnavailableError:  # the database is away: database_status says so, the heartbeat still answers
            datasets = self._cached_catalogue[1] if self._cached_catalogue else []
            table_count = 0
        response = node_service_pb2.HeartbeatResponse(
            node_id=self._config.node_id,
            role=common_pb2.NODE_ROLE_GLOBAL if self._config.is_global else common_pb2.NODE_ROLE_LOCAL,
            version=VERSION,
            running_tasks=self._workers.running,
            queued_tasks=self._workers.queued,
            database_status=database_status,
            data_models=sorted({d.data_model for d in datasets}),
            datasets=[_dataset_proto(d) for d in datasets],
            free_disk_bytes=shutil.disk_usage(self._config.data_dir).free,
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
            schema = decode_schema(inline.arrow_schema)
            table = pa.Table.from_batches([decode_batch(schema, b) for b in inline.arrow_batches], schema)
            meta = TableMeta(new_table_name(request.experiment_id, "inline"), Privacy.SHAREABLE, request.experiment_id)
            stored = self._store.put(meta, normalize_table(table))
            self._audit.record(
                "table_received",
                experiment_id=request.experiment_id,
                table=stored.name,
                rows=stored.row_count,
                is_inline=True,
            )
            names[argument] = stored.name
        return names

    def _secure_round(self, request: node_service_pb2.ExecuteUDFRequest) -> SecureRound | None:
        if not request.HasField("secure_aggregation"):
            return None
        secure = request.secure_aggregation
        if not secure.round_id or not secure.public_keys:
            raise InvalidRequestError("secure_aggregation needs a round_id and the public keys of the round's nodes")
        return SecureRound(secure.round_id, dict(secure.public_keys), self._masking_keys.get(request.experiment_id))

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
            parts = [_inline_bundle(p) for p in summed.parts]
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
        output = node_service_pb2.UDFOutput(output_name=output_name, table=_table_info(meta, stored.arrow.schema))
        if meta.privacy is Privacy.SHAREABLE and 0 < stored.nbytes <= inline_max_bytes:
            batches = list(encode_batches(stored.arrow.to_batches(), self._config.chunk_bytes))
            output.inline_table.arrow_schema = encode_schema(stored.arrow.schema)
            output.inline_table.arrow_batches.extend(batches)
            self._record_sent(meta, sum(map(len, batches)), is_complete=True)
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

    def _data_model(self, key: str) -> DataModelSpec:
        specs, _ = self._catalogue()
        for spec in specs:
            if spec.key == key:
                return spec
        raise NotFoundError(f"no data model {key!r} on this node; loaded: {sorted(s.key for s in specs)}")

    def _catalogue(self) -> tuple[list[DataModelSpec], list[DatasetRecord]]:
        """The node's data models and datasets, read once and again after each load."""
        if self._cached_catalogue is None:
            self._cached_catalogue = data_catalogue(self._db)
        return self._cached_catalogue

    def _once(self, request_id: str) -> _RequestOnce:
        return _RequestOnce(self, request_id)

    async def _remember(self, request_id: str, response: Any) -> None:
        if request_id:
            self._store.remember_response(request_id, response.SerializeToString())


class _RequestOnce:
    """Runs a mutating request once per request id; a retry gets the stored response."""

    def __init__(self, servicer: NodeServicer, request_id: str) -> None:
        self._servicer = servicer
        self._request_id = request_id
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> bytes | None:
        if not self._request_id:
            return None
        locks = self._servicer._request_locks
        self._lock = locks.setdefault(self._request_id, asyncio.Lock())
        await self._lock.acquire()
        cached = self._servicer._store.cached_response(self._request_id)
        if cached is not False:
            return cached  # type: ignore[return-value]
        return await self._servicer._workers.run(self._servicer._store.remembered_response, self._request_id)

    async def __aexit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
            if not self._lock.locked():
                self._servicer._request_locks.pop(self._request_id, None)


async def _drain(request_iterator: AsyncIterator[Any]) -> None:
    """Read a refused stream to its end without keeping it, so the client gets the refusal's status."""
    async for _ in request_iterator:
        pass


def _inline_bundle(inline: node_service_pb2.InlineTable) -> ArrayBundle:
    schema = decode_schema(inline.arrow_schema)
    return arrow_to_bundle(pa.Table.from_batches([decode_batch(schema, b) for b in inline.arrow_batches], schema))


def _table_info(meta: TableMeta, schema: pa.Schema) -> common_pb2.TableInfo:
    privacy = {
        Privacy.PRIMARY: common_pb2.TABLE_PRIVACY_PRIMARY,
        Privacy.PRIVATE: common_pb2.TABLE_PRIVACY_PRIVATE,
        Privacy.SHAREABLE: common_pb2.TABLE_PRIVACY_SHAREABLE,
    }[meta.privacy]
    return common_pb2.TableInfo(
        name=meta.name, columns=table_columns(schema), row_count=meta.row_count, privacy=privacy
    )


def _dataset_proto(record: DatasetRecord) -> common_pb2.Dataset:
    return common_pb2.Dataset(
        code=record.code, data_model=record.data_model, row_count=record.row_count, label=record.label
    )


def _data_model_proto(spec: DataModelSpec) -> common_pb2.DataModel:
    return common_pb2.DataModel(
        code=spec.code,
        version=spec.version,
        label=spec.label,
        variables=[
            common_pb2.Variable(
                code=v.code,
                label=v.label,
                sql_type=v.sql_type,
                is_categorical=v.is_categorical,
                enumerations=[common_pb2.Enumeration(code=c, label=lbl) for c, lbl in v.enumerations],
                min_value=v.min_value,
                max_value=v.max_value,
                description=v.description,
                units=v.units,
            )
            for v in spec.variables.values()
        ],
    )
