"""The UDF call contract is one: a literal a node refuses, the in-memory runtime refuses in the same words."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf import struct_pb2

from algorithm_flows.runtime import InputData
from algorithm_flows.testing import InMemoryRuntime
from mip_common.arrow_chunks import bundle_to_arrow
from mip_common.errors import InvalidRequestError
from mip_common.naming import new_table_name
from mip_common.structs import struct_to_python
from mip_node.audit import AuditLog
from mip_node.config import NodeConfig
from mip_node.db import DuckDBDatabase, Privacy, TableMeta
from mip_node.table_store import TableStore
from mip_node.udf_executor import UdfExecutor
from udf_library import ArrayBundle, plain_json, private, udf, udf_spec, wire_literal

_EXPERIMENT = "contract"
_ROWS = ArrayBundle({"dataset": np.array(["a"] * 20, dtype=object), "x": np.arange(20.0)})


@udf(outputs=(private("scaled"),))
def scale(data: ArrayBundle, factor: float, times: int) -> ArrayBundle:
    """``x`` times ``factor``, ``times`` over."""
    return ArrayBundle({"x": np.tile(data["x"] * factor, times)})


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[UdfExecutor, str]]:
    config = NodeConfig(node_id="local1", role="local", data_dir=tmp_path)
    db = DuckDBDatabase(tmp_path / "n.duckdb")
    store = TableStore(db, cache_bytes=1 << 24)
    audit = AuditLog(tmp_path / "audit.jsonl", node_id="local1")
    name = new_table_name(_EXPERIMENT, "data")
    store.put(TableMeta(name, Privacy.PRIVATE, _EXPERIMENT, private_rows=_ROWS.num_rows), bundle_to_arrow(_ROWS))
    spec = udf_spec(scale)
    yield UdfExecutor(store, config, {spec.name: spec}, audit), name
    store.close()
    audit.close()
    db.close()


def _on_node(node: tuple[UdfExecutor, str], literals: dict[str, Any]) -> str:
    """The error a node answers when the controller sends ``literals``, Struct and all."""
    executor, table = node
    struct = struct_pb2.Struct()
    struct.update(plain_json(literals))
    with pytest.raises(InvalidRequestError) as error:
        executor.run(_EXPERIMENT, udf_spec(scale).name, {"data": table}, struct_to_python(struct, "literal_arguments"))
    return str(error.value.message)


def _in_memory(literals: dict[str, Any]) -> str:
    rt = InMemoryRuntime({"local1": _ROWS}, InputData("test:1", ("a",), (), ("x",)), {})
    with pytest.raises(TypeError) as error:
        asyncio.run(rt.execute_udf_locals(scale, data=rt.data, **literals))
    return str(error.value)


@pytest.mark.parametrize(
    "literals",
    [
        {"factor": float("inf"), "times": 1},
        {"factor": float("-inf"), "times": 1},
        {"factor": "2", "times": 1},
        {"factor": True, "times": 1},
        {"factor": 2.0, "times": 1.5},
        {"factor": 2.0, "times": np.int64(1), "extra": 1},
        {"factor": 2.0},
    ],
)
def test_a_bad_literal_fails_in_memory_as_on_a_node(node: tuple[UdfExecutor, str], literals: dict[str, Any]) -> None:
    assert _in_memory(literals) == _on_node(node, literals)


@pytest.mark.parametrize(
    "value",
    [1, 2.5, True, None, "Infinity", float("inf"), float("nan"), np.float64(3), np.arange(3), {"a": [1, {"b": 2}]}],
)
def test_wire_literal_is_the_struct_round_trip(value: Any) -> None:
    struct = struct_pb2.Struct()
    struct.update(plain_json({"v": value}))
    assert repr(struct_to_python(struct, "literal_arguments")["v"]) == repr(wire_literal(value))  # 1 arrives as 1.0
