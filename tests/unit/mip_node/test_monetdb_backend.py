"""The MonetDB backend's pieces that need no server: placeholders, types, the binary column format.

The whole backend runs against a real server in ``tests/contract/test_db_backends.py``
when ``MIP_MONETDB_URL`` is set.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pymonetdb.sql import monetize

from mip_common.errors import InvalidRequestError
from mip_node import server
from mip_node.config import NodeConfig, load_node_config
from mip_node.db import monetdb_backend
from mip_node.db.monetdb_backend import (
    MonetDBSettings,
    arrow_type_of,
    decode_column,
    encode_column,
    monetdb_type_of,
    rows_to_batch,
    to_pyformat,
)


def as_pymonetdb_sends(sql: str, params: list[Any]) -> str:
    """What pymonetdb puts on the wire for ``cursor.execute(sql, params)`` (its own code path)."""
    return sql % tuple(monetize.convert(p) for p in params) if params else sql


# -- placeholders -------------------------------------------------------------------------


def test_question_marks_become_pyformat_placeholders() -> None:
    sql = 'SELECT "a" FROM "t" WHERE "a" IN (?, ?) AND "b" >= ?'
    assert to_pyformat(sql, 3) == 'SELECT "a" FROM "t" WHERE "a" IN (%s, %s) AND "b" >= %s'


def test_question_marks_in_literals_identifiers_and_comments_stay() -> None:
    # Arrange
    sql = "SELECT '?', 'it''s ?', 'a\\'?', \"col?\" -- why?\nFROM t /* ? */ WHERE x = ?"

    # Act
    translated = to_pyformat(sql, 1)

    # Assert
    assert translated == "SELECT '?', 'it''s ?', 'a\\'?', \"col?\" -- why?\nFROM t /* ? */ WHERE x = %s"


def test_percent_signs_survive_pymonetdb_formatting() -> None:
    # Arrange
    sql = "SELECT 7 % 3, '100%' FROM t WHERE s LIKE 'a%' AND x = ?"

    # Act
    sent = as_pymonetdb_sends(to_pyformat(sql, 1), [5])

    # Assert
    assert sent == "SELECT 7 % 3, '100%' FROM t WHERE s LIKE 'a%' AND x = 5"


def test_without_parameters_the_statement_is_sent_unchanged() -> None:
    sql = "SELECT '100%' FROM t"
    assert as_pymonetdb_sends(to_pyformat(sql, 0), []) == sql


@pytest.mark.parametrize("hostile", ["x' OR '1'='1", "x\\' OR 1=1 --", "%s", "%(a)s", "a\x00b"])
def test_a_hostile_value_stays_one_literal(hostile: str) -> None:
    # Act
    sent = as_pymonetdb_sends(to_pyformat('SELECT 1 FROM t WHERE "s" = ?', 1), [hostile])

    # Assert: one literal, every quote inside it escaped
    literal = sent.removeprefix('SELECT 1 FROM t WHERE "s" = ')
    assert literal.startswith("'")
    assert literal.endswith("'")
    inner = literal[1:-1]
    assert "'" not in inner.replace("\\'", "")


@pytest.mark.parametrize(("sql", "count"), [("SELECT ?", 0), ("SELECT ?, ?", 1), ("SELECT 1", 1)])
def test_a_placeholder_count_mismatch_is_refused(sql: str, count: int) -> None:
    with pytest.raises(InvalidRequestError, match="placeholders"):
        to_pyformat(sql, count)


def test_an_unterminated_literal_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="unterminated"):
        to_pyformat("SELECT 'abc WHERE x = ?", 1)


def test_none_and_bool_and_float_parameters_render_as_monetdb_literals() -> None:
    sent = as_pymonetdb_sends(to_pyformat("VALUES (?, ?, ?, ?)", 4), [None, True, 0.1, -(2**62)])
    assert sent == f"VALUES (NULL, true, 0.1, {-(2**62)})"


# -- types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrow", "monetdb"),
    [(pa.int64(), "BIGINT"), (pa.float64(), "DOUBLE"), (pa.string(), "CLOB"), (pa.bool_(), "BOOLEAN")],
)
def test_each_wire_type_maps_to_a_monetdb_type_and_back(arrow: pa.DataType, monetdb: str) -> None:
    assert monetdb_type_of("c", arrow) == monetdb
    assert arrow_type_of("c", monetdb.lower()) == arrow


@pytest.mark.parametrize(
    ("type_code", "arrow"),
    [
        ("int", pa.int64()),
        ("hugeint", pa.int64()),
        ("tinyint", pa.int64()),
        ("decimal", pa.float64()),
        ("real", pa.float64()),
        ("varchar", pa.string()),
        ("char", pa.string()),
        ("void", pa.string()),
    ],
)
def test_other_result_types_read_as_the_nearest_wire_type(type_code: str, arrow: pa.DataType) -> None:
    assert arrow_type_of("c", type_code) == arrow


def test_an_unsupported_type_is_refused_both_ways() -> None:
    with pytest.raises(InvalidRequestError, match="'d'"):
        monetdb_type_of("d", pa.date32())
    with pytest.raises(InvalidRequestError, match="timestamp"):
        arrow_type_of("t", "timestamp")


def test_rows_become_arrow_columns_with_decimals_as_doubles() -> None:
    # Arrange
    schema = pa.schema([("n", pa.int64()), ("x", pa.float64()), ("s", pa.string()), ("b", pa.bool_())])
    rows = [(1, Decimal("1.25"), "a", True), (None, None, None, None), (3, 2.5, "", False)]

    # Act
    batch = rows_to_batch(rows, schema)

    # Assert
    assert batch.schema == schema
    assert batch.to_pylist() == [
        {"n": 1, "x": 1.25, "s": "a", "b": True},
        {"n": None, "x": None, "s": None, "b": None},
        {"n": 3, "x": 2.5, "s": "", "b": False},
    ]


def test_no_rows_make_an_empty_batch_of_the_schema() -> None:
    schema = pa.schema([("n", pa.int64()), ("s", pa.string())])
    assert rows_to_batch([], schema).num_rows == 0


# -- COPY BINARY column format ---------------------------------------------------------------


def oracle_decode(data: bytes, data_type: pa.DataType, rows: int) -> list[Any]:
    """The documented COPY BINARY format read back (the server's side, as a test oracle)."""
    if data_type == pa.int64():
        return [None if v == -(2**63) else v for v in struct.unpack(f"<{rows}q", data)]
    if data_type == pa.float64():
        return [None if math.isnan(v) else v for v in struct.unpack(f"<{rows}d", data)]
    if data_type == pa.bool_():
        return [None if v == 0x80 else bool(v) for v in data]
    values = data.split(b"\x00")
    assert values[-1] == b""
    return [None if v == b"\x80" else v.decode("utf-8") for v in values[:-1]]


@pytest.mark.parametrize(
    ("data_type", "values"),
    [
        (pa.int64(), [1, None, -(2**63) + 1, 2**63 - 1, 0]),
        (pa.float64(), [0.1, None, -1.5e300, 5e-324, math.inf]),
        (pa.bool_(), [True, None, False]),
        (pa.string(), ["a", None, "", "ünï\n\t'\"\\%", "\x80"]),
    ],
)
def test_a_column_encodes_to_the_documented_binary_format(data_type: pa.DataType, values: list[Any]) -> None:
    # Arrange
    array = pa.array(values, type=data_type)

    # Act
    data = encode_column("c", array)

    # Assert
    assert oracle_decode(data, data_type, len(values)) == values


def test_a_chunked_column_encodes_like_one_chunk() -> None:
    chunked = pa.chunked_array([[1, 2], [], [3]], type=pa.int64())
    assert encode_column("c", chunked) == np.array([1, 2, 3], dtype="<i8").tobytes()


def test_nan_is_stored_as_monetdbs_null_of_double() -> None:
    data = encode_column("x", pa.array([float("nan")], type=pa.float64()))
    assert oracle_decode(data, pa.float64(), 1) == [None]


def test_values_monetdb_cannot_hold_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="-2\\*\\*63"):
        encode_column("n", pa.array([-(2**63)], type=pa.int64()))
    with pytest.raises(InvalidRequestError, match="NUL"):
        encode_column("s", pa.array(["a\x00b"]))


@pytest.mark.parametrize(
    ("data_type", "type_code", "values"),
    [
        (pa.int64(), "bigint", [1, None, -(2**63) + 1, 2**63 - 1, 0]),
        (pa.float64(), "double", [0.1, None, -1.5e300, 5e-324, math.inf]),
        (pa.bool_(), "boolean", [True, None, False]),
        (pa.string(), "clob", ["a", None, "", "ünï\n\t'\"\\%", "\x80", "x" * 1000]),
        (pa.string(), "varchar", []),
    ],
)
def test_a_binary_column_decodes_to_its_values(data_type: pa.DataType, type_code: str, values: list[Any]) -> None:
    # Arrange: the server writes result columns in the format it reads them in
    data = encode_column("c", pa.array(values, type=data_type))

    # Act
    decoded = decode_column("c", type_code, data)

    # Assert
    assert decoded.type == data_type
    assert decoded.to_pylist() == values


@pytest.mark.parametrize(
    ("type_code", "data", "values"),
    [
        ("int", struct.pack("<3i", 7, -(2**31), -2), [7, None, -2]),
        ("smallint", struct.pack("<2h", -(2**15), 300), [None, 300]),
        ("tinyint", struct.pack("<2b", 5, -(2**7)), [5, None]),
        ("real", struct.pack("<2f", 1.5, math.nan), [1.5, None]),
    ],
)
def test_narrower_numbers_decode_to_the_wire_types(type_code: str, data: bytes, values: list[Any]) -> None:
    assert decode_column("c", type_code, data).to_pylist() == values


def test_text_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="UTF-8"):
        decode_column("s", "clob", b"ok\x00\xff\xfe\x00")


class FakeDownload:
    def __init__(self, data: bytes) -> None:
        self.error: str | None = None
        self._chunks = [data[i : i + 3] for i in range(0, len(data), 3)]

    def send_error(self, message: str) -> None:
        self.error = message

    def binary_reader(self) -> FakeDownload:
        return self

    def read(self, n: int) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


def test_the_downloader_keeps_only_the_files_it_expects() -> None:
    # Arrange
    downloader = monetdb_backend._ColumnDownloader()
    downloader.expect(["mip_upload_1"])
    expected, other, again = FakeDownload(b"abcdefgh"), FakeDownload(b"x"), FakeDownload(b"y")

    # Act
    downloader.handle_download(expected, "mip_upload_1", False)
    downloader.handle_download(other, "/home/node/.ssh/id_rsa", False)
    downloader.handle_download(again, "mip_upload_1", False)

    # Assert
    assert downloader.take() == {"mip_upload_1": b"abcdefgh"}
    assert expected.error is None
    assert other.error is not None
    assert again.error is not None


class FakeUpload:
    def __init__(self) -> None:
        self.error: str | None = None
        self.written = b""

    def send_error(self, message: str) -> None:
        self.error = message

    def binary_writer(self) -> FakeUpload:
        return self

    def write(self, data: bytes) -> int:
        self.written += data
        return len(data)


def test_the_uploader_serves_registered_columns_once() -> None:
    # Arrange
    uploader = monetdb_backend._ColumnUploader()
    uploader.serve({"mip_upload_0": b"abc"})
    first, second = FakeUpload(), FakeUpload()

    # Act
    uploader.handle_upload(first, "mip_upload_0", False, 0)
    uploader.handle_upload(second, "mip_upload_0", False, 0)

    # Assert
    assert (first.written, first.error) == (b"abc", None)
    assert second.written == b""
    assert second.error is not None


@pytest.mark.parametrize(("name", "text_mode"), [("/etc/passwd", False), ("mip_upload_0", True)])
def test_the_uploader_refuses_any_other_file(name: str, text_mode: bool) -> None:
    # Arrange
    uploader = monetdb_backend._ColumnUploader()
    uploader.serve({"mip_upload_0": b"abc"})
    upload = FakeUpload()

    # Act
    uploader.handle_upload(upload, name, text_mode, 0)

    # Assert
    assert upload.written == b""
    assert upload.error is not None


# -- configuration -------------------------------------------------------------------------------


def test_monetdb_settings_come_from_the_file_and_the_password_from_the_environment(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "node.toml"
    path.write_text(
        '[node]\nnode_id = "Hospital-A"\ndb_backend = "monetdb"\nmonetdb_host = "db.local"\nmonetdb_port = 50001\n'
    )

    # Act
    config = load_node_config(path, {"MIP_NODE_MONETDB_PASSWORD": "s3cret"})

    # Assert
    assert (config.monetdb_host, config.monetdb_port, config.monetdb_password) == ("db.local", 50001, "s3cret")
    assert config.monetdb_schema_name == "mip_hospital_a"
    assert "s3cret" not in repr(config)


def test_db_backend_monetdb_opens_a_monetdb_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    opened: list[MonetDBSettings] = []

    class Recorder:
        def __init__(self, settings: MonetDBSettings) -> None:
            opened.append(settings)

    monkeypatch.setattr(server, "MonetDBDatabase", Recorder)
    config = NodeConfig(node_id="n1", db_backend="monetdb", monetdb_database="hospital", monetdb_schema="site_a")

    # Act
    server.open_database(config)

    # Assert
    assert opened == [MonetDBSettings(host="127.0.0.1", port=50000, database="hospital", schema="site_a")]


def test_a_bad_schema_name_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="schema"):
        monetdb_backend.MonetDBDatabase(MonetDBSettings(schema='x"; DROP'))
