"""The node's table store: memory first, to disk when memory runs short and at stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mip_common.errors import AlreadyExistsError, NotFoundError
from mip_node.db import DuckDBDatabase, Privacy, TableMeta
from mip_node.table_store import TableStore


def _table(rows: int) -> pa.Table:
    return pa.table({"x": np.arange(rows, dtype=np.float64)})


def _meta(name: str) -> TableMeta:
    return TableMeta(name, Privacy.SHAREABLE, "e1")


def test_tables_written_at_stop_come_back_after_reopening(tmp_path: Path) -> None:
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30)
    store.put(_meta("kept"), _table(5))
    store.put(_meta("view"), _table(5), is_durable=False)
    store.close()

    reopened = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30)

    assert reopened.get("kept").arrow.column("x").to_pylist() == [0, 1, 2, 3, 4]
    with pytest.raises(NotFoundError):
        reopened.get("view")


def test_over_budget_tables_go_to_disk_and_are_read_back(tmp_path: Path) -> None:
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=100_000)
    for index in range(10):
        store.put(_meta(f"t{index}"), _table(10_000))  # 80 kB each
    store.flush()

    assert store.cached("t0") is None
    assert store.bundle("t0")["x"][-1] == 9_999
    assert store.cached("t9") is not None


def test_drop_removes_from_memory_and_disk(tmp_path: Path) -> None:
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30)
    store.put(_meta("gone"), _table(3))
    store.close()
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30)

    assert store.drop(["gone", "never_was"]) == 1
    store.flush()
    assert store.experiment_tables("e1") == []


def test_a_name_cannot_be_taken_twice_and_bundles_are_read_only(tmp_path: Path) -> None:
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30)
    store.put(_meta("once"), _table(3))

    with pytest.raises(AlreadyExistsError):
        store.put(_meta("once"), _table(3))
    with pytest.raises(ValueError, match="read-only"):
        store.bundle("once")["x"][0] = 42.0


def test_tables_of_an_experiment_written_to_disk_and_forgotten_are_still_listed(tmp_path: Path) -> None:
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=100_000)
    for index in range(10):
        store.put(TableMeta(f"s{index}", Privacy.SHAREABLE, "spilled"), _table(10_000))  # 80 kB each
    store.put(TableMeta("m0", Privacy.SHAREABLE, "in_memory"), _table(5))
    store.flush()

    spilled = store.experiment_tables("spilled")
    in_memory = store.experiment_tables("in_memory")

    assert [m.name for m in spilled] == [f"s{i}" for i in range(10)]
    assert [m.name for m in in_memory] == ["m0"]
