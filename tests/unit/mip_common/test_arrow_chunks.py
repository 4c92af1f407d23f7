"""The Arrow chunk codec: tables survive being cut into IPC chunks and put back together."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mip_common.arrow_chunks import (
    arrow_to_bundle,
    bundle_to_arrow,
    decode_batch,
    decode_schema,
    encode_batches,
    encode_schema,
)
from mip_common.errors import InvalidRequestError
from udf_library import ArrayBundle


def _round_trip(table: pa.Table, chunk_bytes: int) -> tuple[pa.Table, list[bytes]]:
    schema = decode_schema(encode_schema(table.schema))
    chunks = list(encode_batches(table.to_batches(), chunk_bytes))
    return pa.Table.from_batches([decode_batch(schema, c) for c in chunks], schema), chunks


def test_every_type_round_trips_across_chunk_boundaries() -> None:
    rows = 50_000
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "i": pa.array(np.arange(rows, dtype=np.int64)),
            "r": pa.array(rng.normal(size=rows)),
            "t": pa.array([None if i % 7 == 0 else f"value-{i}-é" for i in range(rows)]),
            "b": pa.array([i % 3 == 0 for i in range(rows)]),
            "n": pa.array([None if i % 5 == 0 else float(i) for i in range(rows)]),
        }
    )

    copied, chunks = _round_trip(table, chunk_bytes=64 * 1024)

    assert len(chunks) > 10
    assert max(len(c) for c in chunks) < 4 * 64 * 1024
    assert copied.equals(table)


def test_empty_table_sends_schema_and_no_chunks() -> None:
    table = pa.table({"i": pa.array([], pa.int64()), "t": pa.array([], pa.string())})

    copied, chunks = _round_trip(table, chunk_bytes=1 << 20)

    assert chunks == []
    assert copied.schema.equals(table.schema)
    assert copied.num_rows == 0


def test_garbage_chunk_is_invalid_request() -> None:
    schema = pa.schema([("i", pa.int64())])

    with pytest.raises(InvalidRequestError):
        decode_batch(schema, b"not arrow at all")


def test_bundle_round_trip_keeps_types_and_missing_values() -> None:
    bundle = ArrayBundle(
        {
            "i": np.array([1, 2, 3]),
            "r": np.array([1.5, np.nan, 3.0]),
            "t": np.array(["a", None, "c"], dtype=object),
            "b": np.array([True, False, True]),
        }
    )

    back = arrow_to_bundle(bundle_to_arrow(bundle))

    assert back["i"].dtype == np.int64
    assert back["i"].tolist() == [1, 2, 3]
    assert np.isnan(back["r"][1])
    assert back["r"][2] == 3.0
    assert back["t"].tolist() == ["a", None, "c"]
    assert back["b"].tolist() == [True, False, True]


def test_integer_column_with_nulls_becomes_float_with_nan() -> None:
    table = pa.table({"age": pa.array([40, None, 60], pa.int64())})

    bundle = arrow_to_bundle(table)

    assert bundle["age"].dtype == np.float64
    assert np.isnan(bundle["age"][1])
