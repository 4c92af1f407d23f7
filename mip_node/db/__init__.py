"""Storage behind one interface: DuckDB by default, MonetDB for sites that run it."""

from mip_node.db._interface import (
    Database,
    DatasetRecord,
    Privacy,
    TableMeta,
    quote_identifier,
    quote_table,
)
from mip_node.db.duckdb_backend import DuckDBDatabase
from mip_node.db.monetdb_backend import MonetDBDatabase, MonetDBSettings

__all__ = [
    "Database",
    "DatasetRecord",
    "DuckDBDatabase",
    "MonetDBDatabase",
    "MonetDBSettings",
    "Privacy",
    "TableMeta",
    "quote_identifier",
    "quote_table",
]
