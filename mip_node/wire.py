"""The node's proto <-> domain conversions, in one place.

The servicer decodes a request here, hands domain values to the node's parts and encodes
their answer here; no other module of the node builds or reads a message, so a change of
the wire touches this file and the servicer's handler signatures only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa
from google.protobuf import struct_pb2

from mip_common._proto import common_pb2, node_service_pb2
from mip_common.arrow_chunks import decode_batch, decode_schema, encode_batches, encode_schema, table_columns
from mip_common.errors import InvalidRequestError
from mip_common.masking import MaskingKey
from mip_common.structs import struct_to_python
from mip_node.data_models import DataModelSpec
from mip_node.data_views import DataView, ViewRequest
from mip_node.db import DatasetRecord, Privacy, TableMeta
from mip_node.udf_executor import SecureRound
from udf_library import UdfSpec

__all__ = [
    "data_model_proto",
    "data_view_response",
    "dataset_proto",
    "decode_inline",
    "decode_table",
    "inline_bytes",
    "inline_table",
    "secure_round",
    "struct_values",
    "table_header",
    "table_info",
    "udf_info",
    "view_request",
]

_PRIVACY = {
    Privacy.PRIMARY: common_pb2.TABLE_PRIVACY_PRIMARY,
    Privacy.PRIVATE: common_pb2.TABLE_PRIVACY_PRIVATE,
    Privacy.SHAREABLE: common_pb2.TABLE_PRIVACY_SHAREABLE,
}


def struct_values(struct: struct_pb2.Struct, what: str) -> dict[str, Any]:
    """Literal arguments or filters as Python values; ``what`` names them in error messages."""
    return struct_to_python(struct, what)


def decode_table(schema: pa.Schema, chunks: Iterable[bytes]) -> pa.Table:
    """A table from its Arrow schema and IPC batches (CreateTable's stream, an inline table)."""
    return pa.Table.from_batches([decode_batch(schema, chunk) for chunk in chunks], schema)


def decode_inline(inline: node_service_pb2.InlineTable) -> pa.Table:
    """A table sent inside a message."""
    return decode_table(decode_schema(inline.arrow_schema), inline.arrow_batches)


def inline_bytes(inlines: Iterable[node_service_pb2.InlineTable]) -> int:
    """Encoded size of inline tables: what decoding them costs."""
    return sum(len(i.arrow_schema) + sum(map(len, i.arrow_batches)) for i in inlines)


def inline_table(table: pa.Table, chunk_bytes: int) -> node_service_pb2.InlineTable:
    """A table to send inside a message, in batches of about ``chunk_bytes``."""
    return node_service_pb2.InlineTable(
        arrow_schema=encode_schema(table.schema), arrow_batches=list(encode_batches(table.to_batches(), chunk_bytes))
    )


def table_header(schema: pa.Schema, row_count: int) -> node_service_pb2.TableHeader:
    """The first message of GetTableData's stream."""
    return node_service_pb2.TableHeader(arrow_schema=encode_schema(schema), row_count=row_count)


def table_info(meta: TableMeta, schema: pa.Schema) -> common_pb2.TableInfo:
    """What the controller learns of a stored table."""
    return common_pb2.TableInfo(
        name=meta.name, columns=table_columns(schema), row_count=meta.row_count, privacy=_PRIVACY[meta.privacy]
    )


def secure_round(request: node_service_pb2.ExecuteUDFRequest, key: MaskingKey | None) -> SecureRound | None:
    """The call's secure-aggregation round, if it is one; ``key`` is this node's for the experiment."""
    if not request.HasField("secure_aggregation"):
        return None
    secure = request.secure_aggregation
    if not secure.round_id or not secure.public_keys:
        raise InvalidRequestError("secure_aggregation needs a round_id and the public keys of the round's nodes")
    return SecureRound(secure.round_id, dict(secure.public_keys), key)


def udf_info(spec: UdfSpec) -> node_service_pb2.UDFInfo:
    """A UDF as ListUDFs describes it."""
    return node_service_pb2.UDFInfo(
        name=spec.name,
        signature=spec.signature_text(),
        doc=spec.doc,
        inputs=[
            node_service_pb2.UDFParameter(name=i.name, type=i.type, is_optional=i.is_optional) for i in spec.inputs
        ],
        outputs=[
            node_service_pb2.UDFOutputSpec(name=o.name, is_shareable=o.shared, merge=o.merge, key_columns=o.keys)
            for o in spec.outputs
        ],
    )


def view_request(request: node_service_pb2.CreateDataViewRequest) -> ViewRequest:
    """CreateDataView's request as the data-view part takes it."""
    inputdata = request.inputdata
    return ViewRequest(
        experiment_id=request.experiment_id,
        data_model=inputdata.data_model,
        datasets=list(inputdata.datasets),
        columns=list(dict.fromkeys([*inputdata.y, *inputdata.x])),
        filters=struct_values(inputdata.filters, "filters") if inputdata.HasField("filters") else None,
        keep_missing=request.keep_missing,
    )


def data_view_response(view: DataView, min_rows: int) -> node_service_pb2.CreateDataViewResponse:
    """CreateDataView's answer: the view and its datasets' row counts (those of at least ``min_rows``)."""
    return node_service_pb2.CreateDataViewResponse(
        table=table_info(view.meta, view.schema), dataset_row_counts=view.dataset_rows, min_rows=min_rows
    )


def dataset_proto(record: DatasetRecord) -> common_pb2.Dataset:
    """A loaded dataset as the catalogue, the heartbeat and LoadDataModel list it."""
    return common_pb2.Dataset(
        code=record.code, data_model=record.data_model, row_count=record.row_count, label=record.label
    )


def data_model_proto(spec: DataModelSpec) -> common_pb2.DataModel:
    """A data model with its variables, as the catalogue lists it."""
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
