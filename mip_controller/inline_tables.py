"""Small tables the controller holds itself, so they travel inside UDF calls instead of streams.

Three kinds, each in its own map rather than told apart by a name prefix: outputs a node
sent back inline (by node and table name), virtual tables that exist only here (shared or
merged small tables), and merged secure-sum tables the global node sums when a UDF takes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from mip_common._proto import node_service_pb2
from mip_common.errors import InvalidRequestError

__all__ = ["InlineTable", "InlineTables", "TableKey"]


@dataclass(frozen=True, slots=True)
class InlineTable:
    """A small table's bytes, as a node sent them inline."""

    arrow_schema: bytes
    arrow_batches: list[bytes]

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.arrow_batches))


class TableKey(NamedTuple):
    """A table on one node."""

    node_id: str
    table_name: str


@dataclass
class InlineTables:
    """The small tables of one step."""

    _sent: dict[TableKey, InlineTable] = field(default_factory=dict)
    _virtual: dict[str, InlineTable] = field(default_factory=dict)
    _summed: dict[str, node_service_pb2.SummedTable] = field(default_factory=dict)

    def keep_sent(self, node_id: str, outputs: Iterable[node_service_pb2.UDFOutput]) -> None:
        """Keep the rows of the outputs a node sent back with the call that made them."""
        for output in outputs:
            if output.HasField("inline_table"):
                inline = output.inline_table
                self._sent[TableKey(node_id, output.table.name)] = InlineTable(
                    inline.arrow_schema, list(inline.arrow_batches)
                )

    def copied(self, source: TableKey, targets: Iterable[TableKey]) -> None:
        """``targets`` now hold a copy of ``source``: keep its rows for them too."""
        if (table := self._sent.get(source)) is not None:
            for target in targets:
                self._sent[target] = table

    def add_virtual(self, table: InlineTable) -> str:
        """A name for a table that exists only here; it travels inside the next UDF call that takes it."""
        name = f"inline:{len(self._virtual)}"  # ':' is never in a node's table names
        self._virtual[name] = table
        return name

    def add_summed(self, message: node_service_pb2.SummedTable) -> str:
        """A name for a merged secure-sum table."""
        name = f"summed:{len(self._summed)}"
        self._summed[name] = message
        return name

    def is_here(self, table_name: str) -> bool:
        """Whether ``table_name`` exists only on the controller (no node has it)."""
        return table_name in self._virtual or table_name in self._summed

    def small(self, key: TableKey) -> InlineTable | None:
        """The bytes of a small table held here (virtual or sent inline), else None."""
        if key.table_name in self._summed:
            raise InvalidRequestError("a merged secure-sum table can only be passed to a global UDF")
        if (virtual := self._virtual.get(key.table_name)) is not None:
            return virtual
        return self._sent.get(key)

    def virtual_arguments(self, arguments: Mapping[str, str]) -> dict[str, tuple[bytes, list[bytes]]]:
        """The virtual tables among ``arguments`` (parameter to table name), as (schema, batches)."""
        return {
            k: (self._virtual[v].arrow_schema, self._virtual[v].arrow_batches)
            for k, v in arguments.items()
            if v in self._virtual
        }

    def summed_arguments(self, arguments: Mapping[str, str]) -> dict[str, node_service_pb2.SummedTable]:
        """The merged secure-sum tables among ``arguments``."""
        return {k: self._summed[v] for k, v in arguments.items() if v in self._summed}
