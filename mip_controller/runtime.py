"""The flows' runtime interface over real nodes: UDF calls fan out to the nodes, tables move between them.

Small tables stay on the controller (``inline_tables``); larger ones stream through it (``table_relay``).
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from algorithm_flows import Column, GlobalTable, InputData, LocalTables, Runtime, Variable
from mip_common._proto import common_pb2, node_service_pb2
from mip_common.arrow_chunks import arrow_to_bundle, decode_schema, type_name
from mip_common.errors import InvalidRequestError, NodeUnavailableError
from mip_common.metrics import BYTES_COPIED, ROUND_SECONDS
from mip_common.naming import new_table_name
from mip_controller.inline_tables import InlineTable, InlineTables, TableKey
from mip_controller.node_client import NodeClient
from mip_controller.table_relay import collect, fan_out, gather_first_error, in_order, open_table
from udf_library import DEFAULT_MIN_ROWS, ArrayBundle, Output, udf_spec

T = TypeVar("T")

__all__ = ["NodeRuntime", "ProgressEvent", "StepTimings"]

INLINE_MAX_BYTES = 256 * 1024
"""Shareable outputs up to this size come back inline with ExecuteUDF (no GetTableData round trip)."""
_SOURCE_GRACE_S = 1.0


@dataclass
class StepTimings:
    """Time spent in calls to each node during a step."""

    per_node_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, node_id: str, seconds: float) -> None:
        """Count ``seconds`` against ``node_id``."""
        self.per_node_s[node_id] += seconds


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """A flow's progress report, on its way to the RunExperiment stream."""

    message: str
    iteration: int
    total: int
    nodes_done: int


class NodeRuntime(Runtime):
    """Runs one step of one experiment on the global node and the participating locals."""

    def __init__(
        self,
        *,
        experiment_id: str,
        deadline: float,
        global_node: NodeClient,
        local_nodes: Mapping[str, NodeClient],
        data: LocalTables,
        inputdata: InputData,
        variables: Mapping[str, Variable],
        on_progress: Callable[[ProgressEvent], None],
        min_rows: int = DEFAULT_MIN_ROWS,
        secure_aggregation: bool = False,
    ) -> None:
        self._min_rows = min_rows
        self._is_secure = secure_aggregation
        self._public_keys: dict[str, bytes] = {}
        self._summed_outputs: dict[tuple[tuple[str, str], ...], Output] = {}
        """Local outputs declared merge="secure_sum", by their parts."""
        self.secure_aggregation_outputs: list[str] = []
        """The outputs of this step merged by secure aggregation, as "udf/output"."""
        self._experiment_id = experiment_id
        self._deadline = deadline
        self._global = global_node
        self._locals = dict(local_nodes)
        self._data = data
        self._inputdata = inputdata
        self._variables = dict(variables)
        self._on_progress = on_progress
        self.timings = StepTimings()
        self._small_tables = InlineTables()
        self.exposed: dict[str, LocalTables] = {}

    @property
    def inputdata(self) -> InputData:
        return self._inputdata

    @property
    def variables(self) -> Mapping[str, Variable]:
        return self._variables

    @property
    def min_rows(self) -> int:
        """The strictest privacy threshold of the participating nodes."""
        return self._min_rows

    @property
    def data(self) -> LocalTables:
        return self._data

    async def execute_udf_global(self, udf: Callable[..., Any], /, **args: Any) -> GlobalTable:
        return _single(udf, await self.execute_udf_global_outputs(udf, **args))

    async def execute_udf_global_outputs(self, udf: Callable[..., Any], /, **args: Any) -> dict[str, GlobalTable]:
        tables, literals = _split_arguments(args, GlobalTable, LocalTables, "global")
        names = {k: v.name for k, v in tables.items()}
        started = time.monotonic()
        response = await self._timed(
            self._global,
            self._global.execute_udf(
                self._deadline,
                self._experiment_id,
                udf_spec(udf).name,
                {k: v for k, v in names.items() if not self._small_tables.is_here(v)},
                literals,
                inline_max_bytes=INLINE_MAX_BYTES,
                inline_tables=self._small_tables.virtual_arguments(names),
                summed_tables=self._small_tables.summed_arguments(names),
            ),
        )
        ROUND_SECONDS.labels(move="execute_udf_global").observe(time.monotonic() - started)
        self._small_tables.keep_sent(self._global.node_id, response.outputs)
        return {o.output_name: GlobalTable(o.table.name, _columns(o.table)) for o in response.outputs}

    async def execute_udf_locals(self, udf: Callable[..., Any], /, **args: Any) -> LocalTables:
        return _single(udf, await self.execute_udf_locals_outputs(udf, **args))

    async def execute_udf_locals_outputs(self, udf: Callable[..., Any], /, **args: Any) -> dict[str, LocalTables]:
        tables, literals = _split_arguments(args, LocalTables, GlobalTable, "local")
        spec = udf_spec(udf)
        name = spec.name
        node_ids = self._data.node_ids
        summed = [o for o in spec.outputs if o.is_secure_sum]
        secure = await self._secure_round(node_ids) if summed and self._is_secure else None

        async def on(node_id: str) -> Any:
            node = self._locals[node_id]
            arguments = {k: _part(v, node_id) for k, v in tables.items()}
            return await self._timed(
                node,
                node.execute_udf(
                    self._deadline,
                    self._experiment_id,
                    name,
                    {k: v for k, v in arguments.items() if not self._small_tables.is_here(v)},
                    literals,
                    inline_max_bytes=INLINE_MAX_BYTES,
                    inline_tables=self._small_tables.virtual_arguments(arguments),
                    secure=secure,
                ),
            )

        started = time.monotonic()
        responses = await gather_first_error(on(n) for n in node_ids)
        ROUND_SECONDS.labels(move="execute_udf_locals").observe(time.monotonic() - started)
        for node_id, response in zip(node_ids, responses, strict=True):
            self._small_tables.keep_sent(node_id, response.outputs)
        outputs: dict[str, LocalTables] = {}
        for index, output in enumerate(responses[0].outputs):
            parts = {n: r.outputs[index].table.name for n, r in zip(node_ids, responses, strict=True)}
            outputs[output.output_name] = LocalTables(parts, _columns(output.table))
        for declared in summed:
            self._summed_outputs[_parts_key(outputs[declared.name])] = declared
            if secure is not None:
                self.secure_aggregation_outputs.append(f"{name}/{declared.name}")
        return outputs

    async def _secure_round(self, node_ids: list[str]) -> node_service_pb2.SecureAggregation:
        """A new round over ``node_ids``, with their public masking keys (asked for once per step)."""
        missing = [n for n in node_ids if n not in self._public_keys]
        if missing:
            keys = await gather_first_error(
                self._timed(self._locals[n], self._locals[n].create_masking_key(self._deadline, self._experiment_id))
                for n in missing
            )
            self._public_keys.update(zip(missing, keys, strict=True))
        return node_service_pb2.SecureAggregation(
            round_id=uuid.uuid4().hex, public_keys={n: self._public_keys[n] for n in node_ids}
        )

    async def create_remote_global_to_locals(self, table: GlobalTable) -> LocalTables:
        node_ids = self._data.node_ids
        source = TableKey(self._global.node_id, table.name)
        small = self._small_tables.small(source)
        if small is not None:  # travels with the next UDF call on each local instead of a copy now
            BYTES_COPIED.labels(direction="global_to_locals").inc(small.nbytes * len(node_ids))
            name = self._small_tables.add_virtual(small)
            return LocalTables(dict.fromkeys(node_ids, name), table.columns)
        target = new_table_name(self._experiment_id, "shared")
        started = time.monotonic()
        arrow_schema, messages = await self._open(self._global, table.name, grace_s=_SOURCE_GRACE_S)

        def create(node: NodeClient) -> Callable[[AsyncIterator[bytes]], Any]:
            return lambda framed: self._timed(
                node, node.create_table_framed(self._deadline, self._experiment_id, target, arrow_schema, framed)
            )

        await fan_out(messages, [create(self._locals[n]) for n in node_ids])
        self.timings.add(self._global.node_id, time.monotonic() - started)
        ROUND_SECONDS.labels(move="create_remote_global_to_locals").observe(time.monotonic() - started)
        self._small_tables.copied(source, [TableKey(n, target) for n in node_ids])
        return LocalTables({n: target for n in node_ids}, table.columns)

    async def create_remote_and_merge_global(self, tables: LocalTables) -> GlobalTable:
        node_ids = tables.node_ids
        declared = self._summed_outputs.get(_parts_key(tables))
        if declared is not None:
            return self._merge_summed(tables, declared)
        parts = [self._small_tables.small(TableKey(n, tables.tables[n])) for n in node_ids]
        if all(p is not None for p in parts) and sum(p.nbytes for p in parts if p) <= INLINE_MAX_BYTES:
            small = [p for p in parts if p is not None]
            if any(p.arrow_schema != small[0].arrow_schema for p in small):  # equal bytes: equal schemas
                _check_same_schema(node_ids, [decode_schema(p.arrow_schema) for p in small])
            merged = InlineTable(small[0].arrow_schema, [b for p in small for b in p.arrow_batches])
            BYTES_COPIED.labels(direction="locals_to_global").inc(merged.nbytes)
            return GlobalTable(self._small_tables.add_virtual(merged), tables.columns)
        target = new_table_name(self._experiment_id, "merged")
        started = time.monotonic()
        heads = await gather_first_error(self._open(self._locals[n], tables.tables[n]) for n in node_ids)
        _check_same_schema(node_ids, [decode_schema(arrow_schema) for arrow_schema, _ in heads])
        response = await self._global.create_table_framed(
            self._deadline, self._experiment_id, target, heads[0][0], in_order([m for _, m in heads])
        )
        elapsed = time.monotonic() - started
        ROUND_SECONDS.labels(move="create_remote_and_merge_global").observe(elapsed)
        for node_id in node_ids:
            self.timings.add(node_id, elapsed)
        return GlobalTable(response.table.name, _columns(response.table))

    def _merge_summed(self, tables: LocalTables, declared: Output) -> GlobalTable:
        """A secure-sum output's parts, kept here until a global UDF takes them: the global node sums them."""
        parts = []
        for node_id in tables.node_ids:
            part = self._small_tables.small(TableKey(node_id, tables.tables[node_id]))
            if part is None:
                raise InvalidRequestError(
                    f"output {declared.name!r} is merged by summing, but the part on {node_id} is larger than "
                    f"{INLINE_MAX_BYTES} bytes; summed outputs must be small aggregates"
                )
            parts.append(part)
        _check_same_schema(tables.node_ids, [decode_schema(p.arrow_schema) for p in parts])
        message = node_service_pb2.SummedTable(key_columns=declared.keys, is_masked=self._is_secure)
        for part in parts:
            message.parts.add(arrow_schema=part.arrow_schema, arrow_batches=part.arrow_batches)
        BYTES_COPIED.labels(direction="locals_to_global").inc(sum(p.nbytes for p in parts))
        name = self._small_tables.add_summed(message)
        columns = tuple(c if c.name in declared.keys else Column(c.name, "real") for c in tables.columns)
        return GlobalTable(name, columns)

    async def read_global(self, table: GlobalTable) -> ArrayBundle:
        started = time.monotonic()
        collected = await collect(*await self._open(self._global, table.name))
        self.timings.add(self._global.node_id, time.monotonic() - started)
        return arrow_to_bundle(collected)

    def report_progress(self, message: str, *, iteration: int | None = None, total: int | None = None) -> None:
        self._on_progress(ProgressEvent(message, iteration or 0, total or 0, len(self._data.tables)))

    def expose(self, name: str, tables: LocalTables) -> None:
        if any(self._small_tables.is_here(t) for t in tables.tables.values()):
            raise TypeError(f"{name!r}: only tables that UDFs made on the local nodes can be exposed")
        self.exposed[name] = tables

    async def _open(
        self, node: NodeClient, table_name: str, *, grace_s: float = 0.0
    ) -> tuple[bytes, AsyncIterator[bytes]]:
        """A table's schema and its record batches as framed messages: from the copy held here, else streamed."""
        small = self._small_tables.small(TableKey(node.node_id, table_name))
        return await open_table(node, table_name, self._deadline, small=small, grace_s=grace_s)

    async def _timed(self, node: NodeClient, call: Any) -> Any:
        started = time.monotonic()
        try:
            return await call
        finally:
            self.timings.add(node.node_id, time.monotonic() - started)


def _parts_key(tables: LocalTables) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(tables.tables.items()))


def _check_same_schema(node_ids: list[str], schemas: list[pa.Schema]) -> None:
    for node_id, schema in zip(node_ids[1:], schemas[1:], strict=True):
        if not schema.equals(schemas[0]):
            raise InvalidRequestError(
                f"cannot merge: the table on {node_id} has columns {schema.names} of other "
                f"types than on {node_ids[0]} ({schemas[0].names})"
            )


def _columns(info: common_pb2.TableInfo) -> tuple[Column, ...]:
    return tuple(Column(c.name, type_name(c.type)) for c in info.columns)


def _part(tables: LocalTables, node_id: str) -> str:
    try:
        return tables.tables[node_id]
    except KeyError:
        raise NodeUnavailableError(f"no table part on node {node_id}") from None


def _split_arguments(
    args: Mapping[str, Any], table_type: type, foreign: type, where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    tables, literals = {}, {}
    for key, value in args.items():
        if isinstance(value, table_type):
            tables[key] = value
        elif isinstance(value, foreign):
            raise TypeError(
                f"argument {key!r} is a {foreign.__name__}; a UDF on the {where} node needs "
                f"a {table_type.__name__} (share or merge it first)"
            )
        else:
            literals[key] = value
    return tables, literals


def _single(udf: Callable[..., Any], outputs: dict[str, T]) -> T:
    if len(outputs) != 1:
        raise TypeError(f"{udf_spec(udf).name} has {len(outputs)} outputs; use the *_outputs call")
    return next(iter(outputs.values()))
