"""An in-memory runtime: runs a flow over numpy partitions, with the node's privacy rules.

Flow tests use it to compare a federated result with a pooled reference without
starting processes; the integration tests run the same flows over real nodes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from algorithm_flows._errors import AlgorithmError
from algorithm_flows._params import parse_params
from algorithm_flows._validation import validate_variables
from algorithm_flows.runtime import (
    DATASET_COLUMN,
    AlgorithmFlow,
    Column,
    GlobalTable,
    InputData,
    LocalTables,
    Runtime,
    Variable,
)
from udf_library import (
    DEFAULT_MIN_ROWS,
    ArrayBundle,
    CellRuleError,
    DisclosurePolicy,
    Output,
    RowRuleError,
    SecureSumError,
    TableArgument,
    TooFewInputRowsError,
    UdfArgumentError,
    UdfInputError,
    UdfReturnError,
    check_outputs,
    encode_fixed,
    kind_of,
    prepare_call,
    returned_tables,
    sum_masked_parts,
    sum_parts,
    udf_spec,
    value_matrix,
    wire_literal,
    words_bundle,
)

T = TypeVar("T")

__all__ = [
    "InMemoryRuntime",
    "PrivacyViolationError",
    "SmallCellRefusedError",
    "TooFewRowsLocallyError",
    "run_flow",
    "struct_order",
]

GLOBAL = "global"


class PrivacyViolationError(AssertionError):
    """A flow tried to move a private table, or a UDF tried to share row-level data."""


class TooFewRowsLocallyError(AssertionError):
    """Every local node had fewer rows than the minimum."""


class SmallCellRefusedError(AlgorithmError):
    """A local UDF output had a cell under the minimum; a node refuses it with FAILED_PRECONDITION."""


@dataclass
class _Stored:
    bundle: ArrayBundle
    is_shared: bool
    private_rows: int | None  # rows of the private data it derives from, if any
    output: Output | None = None  # the declaration of the UDF output it is
    is_summed: bool = False  # a merged secure-sum output: on a real global node only a global UDF reads it


@dataclass
class InMemoryRuntime(Runtime):
    """Runs UDFs in this process on per-node ``ArrayBundle`` partitions."""

    partitions: Mapping[str, ArrayBundle]
    input_selection: InputData
    variable_specs: Mapping[str, Variable]
    min_rows: int = DEFAULT_MIN_ROWS
    max_shareable_rows: int = 100_000
    extremes: str = "coded"
    min_cell_rows: int = 0
    """0: the same as ``min_rows``, as on a node."""
    secure_aggregation: bool = False
    """Sum secure-sum outputs as the nodes' fixed-point words, as under secure aggregation (masks
    cancel in the sum, so they are left out here)."""
    progress: list[str] = field(default_factory=list)
    exposed: dict[str, LocalTables] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    _tables: dict[tuple[str, str], _Stored] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self._policy = DisclosurePolicy(self.min_rows, self.min_cell_rows or self.min_rows, self.extremes)
        parts = {}
        for node_id, bundle in self.partitions.items():
            if bundle.num_rows < self.min_rows:
                self.left_out[node_id] = f"fewer than {self.min_rows} rows"
                continue
            name = self._new_name("data")
            self._tables[(node_id, name)] = _Stored(bundle, False, bundle.num_rows)
            parts[node_id] = name
        if not parts:
            raise TooFewRowsLocallyError("no local node has enough rows")
        self._data = LocalTables(parts)

    @property
    def inputdata(self) -> InputData:
        return self.input_selection

    @property
    def variables(self) -> Mapping[str, Variable]:
        return self.variable_specs

    @property
    def data(self) -> LocalTables:
        return self._data

    async def execute_udf_global(self, udf: Callable[..., Any], /, **args: Any) -> GlobalTable:
        outputs = await self.execute_udf_global_outputs(udf, **args)
        return _single(udf, outputs)

    async def execute_udf_global_outputs(self, udf: Callable[..., Any], /, **args: Any) -> dict[str, GlobalTable]:
        tables = {k: v.name for k, v in args.items() if isinstance(v, GlobalTable)}
        _reject_foreign(args, LocalTables, "global")
        names = self._run(GLOBAL, udf, tables, args)
        return {out: GlobalTable(name, self._columns(GLOBAL, name)) for out, name in names.items()}

    async def execute_udf_locals(self, udf: Callable[..., Any], /, **args: Any) -> LocalTables:
        outputs = await self.execute_udf_locals_outputs(udf, **args)
        return _single(udf, outputs)

    async def execute_udf_locals_outputs(self, udf: Callable[..., Any], /, **args: Any) -> dict[str, LocalTables]:
        _reject_foreign(args, GlobalTable, "local")
        per_node: dict[str, dict[str, str]] = {}
        for node_id in self._data.node_ids:
            tables = {k: v.tables[node_id] for k, v in args.items() if isinstance(v, LocalTables)}
            await asyncio.sleep(0)
            for out, name in self._run(node_id, udf, tables, args).items():
                per_node.setdefault(out, {})[node_id] = name
        first = self._data.node_ids[0]
        return {out: LocalTables(parts, self._columns(first, parts[first])) for out, parts in per_node.items()}

    async def create_remote_global_to_locals(self, table: GlobalTable) -> LocalTables:
        stored = self._shareable(GLOBAL, table.name)
        parts = {}
        for node_id in self._data.node_ids:
            name = self._new_name("copy")
            self._tables[(node_id, name)] = _Stored(stored.bundle, True, None)
            parts[node_id] = name
        return LocalTables(parts, table.columns)

    async def create_remote_and_merge_global(self, tables: LocalTables) -> GlobalTable:
        stored = [self._shareable(n, tables.tables[n]) for n in tables.node_ids]
        bundles = [s.bundle for s in stored]
        declared = stored[0].output
        if declared is not None and declared.is_secure_sum:
            merged = self._sum(bundles, declared)
        else:
            merged = ArrayBundle({c: np.concatenate([b[c] for b in bundles]) for c in bundles[0].names})
        name = self._new_name("merged")
        self._tables[(GLOBAL, name)] = _Stored(
            merged, True, None, is_summed=declared is not None and declared.is_secure_sum
        )
        return GlobalTable(name, self._columns(GLOBAL, name))

    async def read_global(self, table: GlobalTable) -> ArrayBundle:
        return self._shareable(GLOBAL, table.name).bundle

    def _sum(self, bundles: list[ArrayBundle], declared: Output) -> ArrayBundle:
        """What the global node makes of a secure-sum output's parts (words under secure aggregation)."""
        try:
            if not self.secure_aggregation:
                return sum_parts(bundles, declared.keys)
            words = []
            for bundle in bundles:
                names, values = value_matrix(bundle, declared.keys)
                words.append(words_bundle(bundle, declared.keys, names, encode_fixed(values, len(bundles))))
            return sum_masked_parts(words, declared.keys)
        except SecureSumError as exc:
            raise AlgorithmError(str(exc)) from exc

    def report_progress(self, message: str, *, iteration: int | None = None, total: int | None = None) -> None:
        self.progress.append(message)

    def expose(self, name: str, tables: LocalTables) -> None:
        self.exposed[name] = tables

    def _run(
        self, node_id: str, udf: Callable[..., Any], tables: dict[str, str], args: dict[str, Any]
    ) -> dict[str, str]:
        """One UDF call under the node's call contract, its errors mapped to this runtime's."""
        spec = udf_spec(udf)
        inputs = {}
        for key, name in tables.items():
            stored = self._tables[(node_id, name)]
            inputs[key] = TableArgument(stored.bundle, name, stored.private_rows)
        literals = {k: struct_order(wire_literal(v)) for k, v in args.items() if k not in tables}
        try:
            call = prepare_call(spec, inputs, literals, self._policy)
            try:
                result = spec.func(**call.kwargs)
            except UdfInputError as exc:
                raise AlgorithmError(str(exc)) from exc
            checked = check_outputs(
                spec, returned_tables(spec, result), call.lineage_rows, self._policy, self.max_shareable_rows
            )
        except (UdfArgumentError, UdfReturnError) as exc:
            raise TypeError(str(exc)) from exc
        except (TooFewInputRowsError, RowRuleError) as exc:
            raise PrivacyViolationError(str(exc)) from exc
        except CellRuleError as exc:
            raise SmallCellRefusedError(str(exc)) from exc
        names = {}
        for item in checked:
            name = self._new_name(item.output.name)
            self._tables[(node_id, name)] = _Stored(item.bundle, item.output.shared, item.private_rows, item.output)
            names[item.output.name] = name
        return names

    def _shareable(self, node_id: str, name: str) -> _Stored:
        stored = self._tables[(node_id, name)]
        if not stored.is_shared:
            raise PrivacyViolationError(f"table {name!r} on {node_id} is private")
        if stored.is_summed:
            raise TypeError(f"table {name!r} is a merged secure-sum table: only a global UDF can take it")
        return stored

    def _columns(self, node_id: str, name: str) -> tuple[Column, ...]:
        bundle = self._tables[(node_id, name)].bundle
        return tuple(Column(c, kind_of(bundle[c])) for c in bundle.names)

    def _new_name(self, hint: str) -> str:
        return f"t{next(self._names)}_{hint}"


def run_flow(
    flow_type: type[AlgorithmFlow[Any]],
    partitions: Mapping[str, ArrayBundle],
    variables: Mapping[str, Variable],
    *,
    y: tuple[str, ...] = (),
    x: tuple[str, ...] = (),
    parameters: Mapping[str, Any] | None = None,
    min_rows: int = DEFAULT_MIN_ROWS,
    extremes: str = "coded",
    min_cell_rows: int = 0,
    secure_aggregation: bool = False,
) -> dict[str, Any]:
    """Run a flow in memory the way the controller would, and return its result.

    ``min_rows``, ``min_cell_rows`` and ``extremes`` play the nodes' disclosure settings;
    ``secure_aggregation`` the federation's.

    ``partitions`` hold each local node's rows (a ``dataset`` column plus the
    variables); like a node, this drops rows with a missing x or y value unless the
    flow keeps them.
    """
    datasets = sorted({str(d) for b in partitions.values() for d in b[DATASET_COLUMN]})
    inputdata = InputData("test:1", tuple(datasets), y, x)
    validate_variables(flow_type, inputdata, variables)
    params = parse_params(flow_type.params_type, struct_order(dict(parameters or {})))
    columns = [DATASET_COLUMN, *y, *x]
    selected = {
        node: _drop_missing(b.select(columns)) if flow_type.drop_missing else b.select(columns)
        for node, b in partitions.items()
    }
    rt = InMemoryRuntime(
        selected,
        inputdata,
        variables,
        min_rows=min_rows,
        extremes=extremes,
        min_cell_rows=min_cell_rows,
        secure_aggregation=secure_aggregation,
    )
    return asyncio.run(flow_type().run(rt, params))


def struct_order(value: Any) -> Any:
    """``value`` with every mapping's keys in reverse order.

    Literals and parameters reach a node or the controller as a protobuf ``Struct``,
    which keeps no key order; reversing the keys makes code that relies on the order
    the flow wrote them in fail here as it would there.
    """
    if isinstance(value, dict):
        return {k: struct_order(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [struct_order(v) for v in value]
    return value


def _drop_missing(bundle: ArrayBundle) -> ArrayBundle:
    keep = np.ones(bundle.num_rows, dtype=bool)
    for name in bundle.names:
        column = bundle[name]
        if column.dtype == object:
            keep &= np.array([v is not None for v in column], dtype=bool)
        elif column.dtype.kind == "f":
            keep &= ~np.isnan(column)
    return bundle.take(keep)


def _single(udf: Callable[..., Any], outputs: dict[str, T]) -> T:
    if len(outputs) != 1:
        raise TypeError(f"{udf_spec(udf).name} has {len(outputs)} outputs; use the *_outputs call")
    return next(iter(outputs.values()))


def _reject_foreign(args: dict[str, Any], foreign: type, where: str) -> None:
    for key, value in args.items():
        if isinstance(value, foreign):
            raise TypeError(f"argument {key!r} is a {foreign.__name__}, not usable on the {where} node")
