"""Tables as streams of Arrow IPC chunks, and Arrow <-> ArrayBundle conversion.

A table travels as its IPC-serialized schema (sent once) followed by encapsulated
record-batch messages of about ``chunk_bytes`` each, so no gRPC message nears the
4 MiB default limit and no side holds more than a chunk it has not yet stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from mip_common._proto import common_pb2
from mip_common.errors import InvalidRequestError
from udf_library import ArrayBundle

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "arrow_to_bundle",
    "bundle_to_arrow",
    "column_type",
    "decode_batch",
    "decode_schema",
    "encode_batches",
    "encode_schema",
    "normalize_table",
    "table_columns",
    "type_name",
]

DEFAULT_CHUNK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 4 << 20

_TYPES: dict[pa.DataType, int] = {
    pa.int64(): common_pb2.COLUMN_TYPE_INT,
    pa.float64(): common_pb2.COLUMN_TYPE_REAL,
    pa.string(): common_pb2.COLUMN_TYPE_TEXT,
    pa.bool_(): common_pb2.COLUMN_TYPE_BOOL,
}
_NAMES: dict[int, str] = {
    common_pb2.COLUMN_TYPE_INT: "int",
    common_pb2.COLUMN_TYPE_REAL: "real",
    common_pb2.COLUMN_TYPE_TEXT: "text",
    common_pb2.COLUMN_TYPE_BOOL: "bool",
}


def encode_schema(schema: pa.Schema) -> bytes:
    """The schema as IPC bytes, sent once before the batches."""
    return bytes(schema.serialize())


def decode_schema(data: bytes) -> pa.Schema:
    """A schema from ``encode_schema`` bytes; ``InvalidRequestError`` when they are not one."""
    try:
        return pa.ipc.read_schema(pa.py_buffer(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidRequestError(f"not an Arrow IPC schema: {exc}") from exc


def encode_batches(batches: Iterable[pa.RecordBatch], chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
    """Re-slice ``batches`` into IPC record-batch messages of about ``chunk_bytes`` each."""
    chunk_bytes = max(1024, min(chunk_bytes, MAX_MESSAGE_BYTES // 2))
    for batch in batches:
        if batch.num_rows == 0:
            continue
        rows_per_chunk = max(1, int(batch.num_rows * chunk_bytes / max(batch.nbytes, 1)))
        for start in range(0, batch.num_rows, rows_per_chunk):
            yield from _serialize(batch.slice(start, rows_per_chunk))


def _serialize(batch: pa.RecordBatch) -> Iterator[bytes]:
    data = batch.serialize()
    if data.size > MAX_MESSAGE_BYTES - 1024 and batch.num_rows > 1:
        half = batch.num_rows // 2
        yield from _serialize(batch.slice(0, half))
        yield from _serialize(batch.slice(half))
    else:
        yield data.to_pybytes()


def decode_batch(schema: pa.Schema, data: bytes) -> pa.RecordBatch:
    """One record batch of ``schema``; ``InvalidRequestError`` when the bytes are not one."""
    try:
        return pa.ipc.read_record_batch(pa.py_buffer(data), schema)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidRequestError(f"chunk is not an Arrow record batch of the header's schema: {exc}") from exc


def normalize_table(table: pa.Table) -> pa.Table:
    """Cast to the four wire types (int64, float64, string, bool); reject anything else."""
    if all(f.nullable and f.type in _TYPES for f in table.schema):
        return table  # already wire types: the common case, checked without building a schema
    fields = []
    for field in table.schema:
        fields.append(pa.field(field.name, _wire_type(field.name, field.type), nullable=True))
    target = pa.schema(fields)
    return table if table.schema == target else table.cast(target)


def _wire_type(name: str, data_type: pa.DataType) -> pa.DataType:
    if pa.types.is_integer(data_type):
        return pa.int64()
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return pa.float64()
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
        or pa.types.is_null(data_type)
    ):
        return pa.string()
    if pa.types.is_boolean(data_type):
        return pa.bool_()
    raise InvalidRequestError(f"column {name!r} has unsupported type {data_type}")


def column_type(data_type: pa.DataType) -> int:
    """The ``ColumnType`` of a wire type."""
    return _TYPES.get(data_type, common_pb2.COLUMN_TYPE_UNSPECIFIED)


def table_columns(schema: pa.Schema) -> list[common_pb2.Column]:
    """Columns of a schema as proto messages."""
    return [common_pb2.Column(name=f.name, type=column_type(f.type)) for f in schema]  # type: ignore[arg-type]


def type_name(column_type_value: int) -> str:
    """int, real, text or bool for a ``ColumnType`` value."""
    return _NAMES.get(int(column_type_value), "unspecified")


def bundle_to_arrow(bundle: ArrayBundle) -> pa.Table:
    """An ArrayBundle as an Arrow table of wire types (NaN stays NaN in real columns)."""
    arrays = []
    for name in bundle.names:
        column = bundle[name]
        if column.dtype == object:
            arrays.append(pa.array(column, type=pa.string()))
        else:
            arrays.append(pa.array(column))
    return normalize_table(pa.Table.from_arrays(arrays, names=bundle.names))


def arrow_to_bundle(table: pa.Table) -> ArrayBundle:
    """An Arrow table as an ArrayBundle: nulls in numbers become NaN, in text ``None``."""
    columns: dict[str, Any] = {}
    for field, chunked in zip(table.schema, table.columns, strict=True):
        array = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        columns[field.name] = _to_numpy(field.name, array)
    return ArrayBundle(columns)


def _to_numpy(name: str, array: pa.Array) -> Any:
    data_type = array.type
    if pa.types.is_integer(data_type):
        if array.null_count:
            return array.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return array.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return array.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(data_type):
        if array.null_count:
            return np.array(array.to_pylist(), dtype=object)
        return array.to_numpy(zero_copy_only=False)
    if pa.types.is_null(data_type):
        return np.array([None] * len(array), dtype=object)
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return np.array(array.to_pylist(), dtype=object)
    raise InvalidRequestError(f"column {name!r} has unsupported type {data_type}")
