"""What a flow sees: the AlgorithmFlow base class and the runtime interface.

A flow reads like the algorithm and never touches gRPC, SQL or threads. The
controller implements :class:`Runtime` over real nodes; ``algorithm_flows.testing``
implements it in memory over numpy partitions, so a flow runs unchanged in both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from udf_library import DEFAULT_MIN_ROWS, ArrayBundle

__all__ = [
    "AlgorithmFlow",
    "Column",
    "GlobalTable",
    "InputData",
    "LocalTables",
    "Runtime",
    "Variable",
    "VariableRule",
]

P = TypeVar("P")

DATASET_COLUMN = "dataset"


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a table on a node: its name and mip type (int, real, bool, text)."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class GlobalTable:
    """A table on the global node."""

    name: str
    columns: tuple[Column, ...] = ()


@dataclass(frozen=True, slots=True)
class LocalTables:
    """One table per participating local node, all with the same columns."""

    tables: Mapping[str, str]
    columns: tuple[Column, ...] = ()

    @property
    def node_ids(self) -> list[str]:
        """The local nodes that hold a part, in a stable order."""
        return sorted(self.tables)


@dataclass(frozen=True, slots=True)
class Variable:
    """A variable (CDE) of the data model, as the flow needs to know it."""

    code: str
    sql_type: str
    is_categorical: bool
    label: str = ""
    enumerations: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True, slots=True)
class InputData:
    """The rows and variables a step works on, in the MIP shape."""

    data_model: str
    datasets: tuple[str, ...]
    y: tuple[str, ...] = ()
    x: tuple[str, ...] = ()
    filters: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class VariableRule:
    """What an algorithm accepts for ``y`` or ``x``: types, categorical or not, and how many."""

    types: frozenset[str] = frozenset({"int", "real", "text"})
    is_categorical: bool | None = None
    min_count: int = 0
    max_count: int | None = None
    doc: str = ""


class Runtime(ABC):
    """The runtime interface: run UDFs on nodes and move aggregate tables between them."""

    @property
    @abstractmethod
    def inputdata(self) -> InputData:
        """The step's input selection."""

    @property
    @abstractmethod
    def variables(self) -> Mapping[str, Variable]:
        """The data model's variables named in ``inputdata`` (x and y), by code."""

    @property
    @abstractmethod
    def data(self) -> LocalTables:
        """The step's input table on each participating local node.

        Columns: ``dataset`` (text), then the ``y`` and ``x`` variables, holding the
        selected rows (listwise complete unless the flow sets ``drop_missing = False``).
        The table is private: it can be fed to local UDFs, never read or copied.
        """

    @property
    def min_rows(self) -> int:
        """The privacy threshold: the fewest rows a node aggregates over, and the smallest
        count a result may report (smaller counts are suppressed)."""
        return DEFAULT_MIN_ROWS

    @abstractmethod
    async def execute_udf_global(self, udf: Callable[..., Any], /, **args: Any) -> GlobalTable:
        """Run a one-output UDF on the global node; table arguments are ``GlobalTable``."""

    @abstractmethod
    async def execute_udf_global_outputs(self, udf: Callable[..., Any], /, **args: Any) -> dict[str, GlobalTable]:
        """Run a UDF with several outputs on the global node; outputs by name."""

    @abstractmethod
    async def execute_udf_locals(self, udf: Callable[..., Any], /, **args: Any) -> LocalTables:
        """Run a one-output UDF on every participating local node at once.

        Table arguments are ``LocalTables`` (each node gets its own part); literal
        arguments go to every node alike.
        """

    @abstractmethod
    async def execute_udf_locals_outputs(self, udf: Callable[..., Any], /, **args: Any) -> dict[str, LocalTables]:
        """Run a UDF with several outputs on every participating local node."""

    @abstractmethod
    async def create_remote_global_to_locals(self, table: GlobalTable) -> LocalTables:
        """Copy a shareable global table to every participating local node."""

    @abstractmethod
    async def create_remote_and_merge_global(self, tables: LocalTables) -> GlobalTable:
        """Copy each local node's shareable table to the global node, merged in node order."""

    @abstractmethod
    async def read_global(self, table: GlobalTable) -> ArrayBundle:
        """The rows of a shareable global table, for the flow's result."""

    @abstractmethod
    def report_progress(self, message: str, *, iteration: int | None = None, total: int | None = None) -> None:
        """Tell the researcher how far the flow is (shown as a live progress bar)."""

    @abstractmethod
    def expose(self, name: str, tables: LocalTables) -> None:
        """Offer a local table to later steps of the experiment as ``<step>.<name>``."""


class AlgorithmFlow(ABC, Generic[P]):
    """One algorithm: its published spec and the steps it runs.

    Subclasses set ``name``, ``label``, ``params_type`` (a frozen dataclass built with
    ``param``), ``y`` and ``x`` rules, and implement ``run``.
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    params_type: ClassVar[type[Any]]
    y: ClassVar[VariableRule] = VariableRule()
    x: ClassVar[VariableRule] = VariableRule(max_count=0)
    drop_missing: ClassVar[bool] = True
    """Drop rows missing any requested variable before the flow sees them (listwise)."""

    @abstractmethod
    async def run(self, rt: Runtime, params: P) -> dict[str, Any]:
        """Compute the result (JSON-like) through ``rt``."""
