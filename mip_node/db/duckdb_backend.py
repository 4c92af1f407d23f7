"""The default storage: one embedded DuckDB file per node."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from mip_common.arrow_chunks import normalize_table
from mip_common.errors import AlreadyExistsError, InvalidRequestError, NotFoundError
from mip_node.db._interface import (
    Database,
    DatasetRecord,
    Privacy,
    TableMeta,
    quote_identifier,
    quote_table,
)

__all__ = ["DuckDBDatabase"]

_INSERT_GROUP_BYTES = 64 << 20
_SQL_TYPES = {"int64": "BIGINT", "double": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN"}
_CDE_TYPES = {"int": "BIGINT", "real": "DOUBLE", "text": "VARCHAR"}

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS mip_meta;
CREATE TABLE IF NOT EXISTS mip_meta.tables (
    name VARCHAR PRIMARY KEY, privacy VARCHAR NOT NULL, experiment_id VARCHAR NOT NULL,
    private_rows BIGINT, created_at TIMESTAMP DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS mip_meta.requests (request_id VARCHAR PRIMARY KEY, response BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS mip_meta.data_models (
    key VARCHAR PRIMARY KEY, cdes VARCHAR NOT NULL, table_name VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS mip_meta.datasets (
    data_model VARCHAR NOT NULL, code VARCHAR NOT NULL, row_count BIGINT NOT NULL,
    label VARCHAR NOT NULL, PRIMARY KEY (data_model, code));
"""


class DuckDBDatabase(Database):
    """A node's tables in one DuckDB file; one cursor per call, so threads never share one."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._connection = duckdb.connect(str(path))
        path.chmod(0o600)  # patient rows: the node's user only, whatever the umask
        self._lock = threading.Lock()  # serializes catalogue changes that check-then-write
        with self._cursor() as cur:
            cur.execute(_SCHEMA)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        return self._connection.cursor()

    def close(self) -> None:
        self._connection.close()

    def status(self) -> str:
        try:
            with self._cursor() as cur:
                cur.execute("SELECT 1").fetchall()
        except duckdb.Error as exc:
            return f"error: {exc}"
        return "ok"

    def _create_in(
        self, cur: duckdb.DuckDBPyConnection, meta: TableMeta, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> None:
        """Create and fill a table inside the caller's transaction."""
        quoted = quote_table(meta.name)
        columns = ", ".join(f"{quote_identifier(f.name)} {_sql_type(f.name, f.type)}" for f in schema)
        self._claim_name(cur, meta)
        cur.execute(f"CREATE TABLE {quoted} ({columns})")
        for group in _grouped(batches):
            cur.register("incoming_chunk", pa.Table.from_batches(group, schema))
            cur.execute(f"INSERT INTO {quoted} SELECT * FROM incoming_chunk")
            cur.unregister("incoming_chunk")

    def _claim_name(self, cur: duckdb.DuckDBPyConnection, meta: TableMeta) -> None:
        """Record the table; the catalogue's primary key refuses a name that is taken."""
        try:
            cur.execute(
                "INSERT INTO mip_meta.tables (name, privacy, experiment_id, private_rows) VALUES (?, ?, ?, ?)",
                [meta.name, meta.privacy.value, meta.experiment_id, meta.private_rows],
            )
        except duckdb.ConstraintException:
            raise AlreadyExistsError(f"table {meta.name!r} already exists") from None

    def query(self, select_sql: str, params: Sequence[Any]) -> pa.Table:
        with self._cursor() as cur:
            return normalize_table(cur.sql(select_sql, params=list(params)).to_arrow_table())

    def read_table(self, name: str) -> pa.Table:
        self.table_meta(name)
        with self._cursor() as cur:
            return normalize_table(cur.sql(f"SELECT * FROM {quote_table(name)}").to_arrow_table())

    def table_meta(self, name: str) -> TableMeta:
        quoted = quote_table(name)
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT privacy, experiment_id, private_rows FROM mip_meta.tables WHERE name = ?",
                [name],
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no table {name!r} on this node")
            count = cur.execute(f"SELECT count(*) FROM {quoted}").fetchone()
        return TableMeta(name, Privacy(row[0]), row[1], row[2], int(count[0]) if count else 0)

    def _drop_in(self, cur: duckdb.DuckDBPyConnection, name: str) -> int:
        """Drop one experiment table inside the caller's transaction; 0 if it did not exist."""
        quoted = quote_table(name)
        row = cur.execute("SELECT privacy FROM mip_meta.tables WHERE name = ?", [name]).fetchone()
        if row is None:
            return 0
        if row[0] == Privacy.PRIMARY.value:
            raise InvalidRequestError(f"table {name!r} holds primary data and cannot be deleted")
        cur.execute(f"DROP TABLE IF EXISTS {quoted}")
        cur.execute("DELETE FROM mip_meta.tables WHERE name = ?", [name])
        return 1

    def experiment_tables(self, experiment_id: str | None = None) -> list[TableMeta]:
        sql = "SELECT name, privacy, experiment_id, private_rows FROM mip_meta.tables WHERE privacy <> 'primary'"
        params: list[Any] = []
        if experiment_id is not None:
            sql += " AND experiment_id = ?"
            params.append(experiment_id)
        with self._cursor() as cur:
            rows = cur.execute(sql + " ORDER BY name", params).fetchall()
        return [TableMeta(r[0], Privacy(r[1]), r[2], r[3]) for r in rows]

    def remembered_response(self, request_id: str) -> bytes | None:
        with self._cursor() as cur:
            row = cur.execute("SELECT response FROM mip_meta.requests WHERE request_id = ?", [request_id]).fetchone()
        return bytes(row[0]) if row else None

    def write_batch(
        self,
        creates: Sequence[tuple[TableMeta, pa.Table]],
        drops: Sequence[str],
        responses: Sequence[tuple[str, bytes]],
    ) -> None:
        with self._lock, self._cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                for meta, table in creates:
                    self._create_in(cur, meta, table.schema, table.to_batches())
                for name in drops:
                    self._drop_in(cur, name)
                if responses:  # one statement: an INSERT per response took ~3 ms each
                    ids, blobs = zip(*responses, strict=True)
                    incoming = pa.table(
                        {"request_id": pa.array(ids, pa.string()), "response": pa.array(blobs, pa.binary())}
                    )
                    cur.register("incoming_responses", incoming)
                    cur.execute("INSERT OR REPLACE INTO mip_meta.requests SELECT * FROM incoming_responses")
                    cur.unregister("incoming_responses")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def request_ids(self) -> set[str]:
        with self._cursor() as cur:
            return {str(r[0]) for r in cur.execute("SELECT request_id FROM mip_meta.requests").fetchall()}

    def forget_responses(self, request_ids: Sequence[str]) -> None:
        with self._lock, self._cursor() as cur:
            cur.execute("DELETE FROM mip_meta.requests WHERE list_contains(?, request_id)", [list(request_ids)])

    def save_data_model(self, key: str, cdes_json: str, table_name: str, column_types: dict[str, str]) -> None:
        columns = ", ".join(
            f"{quote_identifier(name)} {_CDE_TYPES[sql_type]}" for name, sql_type in column_types.items()
        )
        with self._lock, self._cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(
                    "INSERT OR REPLACE INTO mip_meta.data_models VALUES (?, ?, ?)",
                    [key, cdes_json, table_name],
                )
                cur.execute(f"CREATE TABLE IF NOT EXISTS {quote_table(table_name)} ({columns})")
                cur.execute(
                    "INSERT OR IGNORE INTO mip_meta.tables (name, privacy, experiment_id) VALUES (?, 'primary', '')",
                    [table_name],
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def data_models(self) -> dict[str, tuple[str, str]]:
        with self._cursor() as cur:
            rows = cur.execute("SELECT key, cdes, table_name FROM mip_meta.data_models").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def load_dataset(self, data_model: str, table_name: str, datasets: Sequence[DatasetRecord], rows: pa.Table) -> None:
        quoted = quote_table(table_name)
        names = ", ".join(quote_identifier(n) for n in rows.column_names)
        with self._lock, self._cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                for record in datasets:
                    exists = cur.execute(
                        "SELECT count(*) FROM mip_meta.datasets WHERE data_model = ? AND code = ?",
                        [data_model, record.code],
                    ).fetchone()
                    if exists and exists[0]:
                        raise AlreadyExistsError(
                            f"dataset {record.code!r} of {data_model} is already loaded on this node"
                        )
                    cur.execute(
                        "INSERT INTO mip_meta.datasets VALUES (?, ?, ?, ?)",
                        [data_model, record.code, record.row_count, record.label],
                    )
                cur.register("incoming_rows", rows)
                cur.execute(f"INSERT INTO {quoted} ({names}) SELECT {names} FROM incoming_rows")
                cur.unregister("incoming_rows")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def datasets(self) -> list[DatasetRecord]:
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT data_model, code, row_count, label FROM mip_meta.datasets ORDER BY data_model, code"
            ).fetchall()
        return [DatasetRecord(r[0], r[1], int(r[2]), r[3]) for r in rows]


def _sql_type(name: str, data_type: pa.DataType) -> str:
    try:
        return _SQL_TYPES[str(data_type)]
    except KeyError:
        raise InvalidRequestError(f"column {name!r} has unsupported type {data_type}") from None


def _grouped(batches: Iterable[pa.RecordBatch]) -> Iterator[list[pa.RecordBatch]]:
    group: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        group.append(batch)
        size += batch.nbytes
        if size >= _INSERT_GROUP_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group
