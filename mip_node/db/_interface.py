"""The node's one storage interface; DuckDB and MonetDB implement it.

Narrow on purpose: Arrow in (one batched write of tables, drops and remembered
responses, for the table store), Arrow out (reads and read-only SELECTs), and a small
catalogue of tables with their privacy. Everything a node stores goes through
here, so a backend is a few hundred lines and the contract suite covers it whole.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pyarrow as pa

from mip_common.errors import InvalidRequestError

__all__ = ["Database", "DatasetRecord", "Privacy", "TableMeta", "quote_identifier", "quote_table"]

TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}")


class Privacy(str, Enum):
    """Whether a table may leave the node."""

    PRIMARY = "primary"
    PRIVATE = "private"
    SHAREABLE = "shareable"


@dataclass(frozen=True, slots=True)
class TableMeta:
    """What the node records about a table besides its rows."""

    name: str
    privacy: Privacy
    experiment_id: str = ""
    private_rows: int | None = None
    """Rows of the row-level data the table derives from (None: derives from aggregates)."""
    row_count: int = 0


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """A loaded dataset."""

    data_model: str
    code: str
    row_count: int
    label: str = ""


def quote_table(name: str) -> str:
    """``name`` validated against the table-name pattern, then quoted."""
    if not TABLE_NAME.fullmatch(name):
        raise InvalidRequestError(f"table name {name!r} must match {TABLE_NAME.pattern}")
    return f'"{name}"'


def quote_identifier(name: str) -> str:
    """A column name validated and quoted; never a value spliced into SQL."""
    if not _IDENTIFIER.fullmatch(name):
        raise InvalidRequestError(f"column name {name!r} must match {_IDENTIFIER.pattern}")
    return '"' + name.replace('"', '""') + '"'


class Database(ABC):
    """Storage of one node. Methods are blocking and thread-safe; call them from a worker pool."""

    @abstractmethod
    def close(self) -> None:
        """Release the database; pending writes are committed or rolled back, never half done."""

    @abstractmethod
    def status(self) -> str:
        """ "ok", or what is wrong."""

    @abstractmethod
    def query(self, select_sql: str, params: Sequence[Any]) -> pa.Table:
        """Run a read-only SELECT with bound ``params``."""

    @abstractmethod
    def read_table(self, name: str) -> pa.Table:
        """All rows of a table, as Arrow."""

    @abstractmethod
    def table_meta(self, name: str) -> TableMeta:
        """What the node recorded of a table; ``NotFoundError`` when it does not exist."""

    @abstractmethod
    def experiment_tables(self, experiment_id: str | None = None) -> list[TableMeta]:
        """Tables experiments made (all, or one experiment's)."""

    @abstractmethod
    def remembered_response(self, request_id: str) -> bytes | None:
        """The stored response of a mutating request already done, for idempotent retries."""

    @abstractmethod
    def write_batch(
        self,
        creates: Sequence[tuple[TableMeta, pa.Table]],
        drops: Sequence[str],
        responses: Sequence[tuple[str, bytes]],
    ) -> None:
        """Create, drop and remember many things in one transaction: all of it, or none if any part fails."""

    @abstractmethod
    def request_ids(self) -> set[str]:
        """Ids of every request whose response is stored (read once at start)."""

    @abstractmethod
    def forget_responses(self, request_ids: Sequence[str]) -> None:
        """Delete stored responses (those past the node's memo time), in one transaction."""

    @abstractmethod
    def save_data_model(self, key: str, cdes_json: str, table_name: str, column_types: dict[str, str]) -> None:
        """Record a data model and create its empty primary-data table if new."""

    @abstractmethod
    def data_models(self) -> dict[str, tuple[str, str]]:
        """Loaded data models: key -> (CDE JSON, primary table name)."""

    @abstractmethod
    def load_dataset(self, data_model: str, table_name: str, datasets: Sequence[DatasetRecord], rows: pa.Table) -> None:
        """Append one or more whole datasets' rows and record them, in one transaction."""

    @abstractmethod
    def datasets(self) -> list[DatasetRecord]:
        """Every loaded dataset."""
