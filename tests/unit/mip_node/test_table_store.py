"""The node's table store: memory first, to disk when memory runs short and at stop."""

from __future__ import annotations

import contextvars
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mip_common.errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from mip_node.db import DuckDBDatabase, Privacy, TableMeta
from mip_node.table_store import CALL_STARTED, TableStore


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


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_remembered_responses_are_forgotten_after_their_time(tmp_path: Path) -> None:
    # Arrange
    clock = FakeClock()
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30, memo_s=60.0, clock=clock)
    store.remember_response("old", b"a")
    clock.now += 61.0

    # Act
    store.remember_response("new", b"b")

    # Assert
    assert store.remembered_response("old") is None
    assert store.remembered_response("new") == b"b"
    store.close()


def test_remembered_responses_are_capped_oldest_first(tmp_path: Path) -> None:
    # Arrange
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30, memo_entries=3)

    # Act
    for i in range(5):
        store.remember_response(f"r{i}", b"x")

    # Assert
    assert [store.remembered_response(f"r{i}") for i in range(5)] == [None, None, b"x", b"x", b"x"]
    store.close()


def test_stop_keeps_only_live_responses_and_later_starts_prune_expired_ones(tmp_path: Path) -> None:
    # Arrange: a node that remembered many responses stops, then starts again much later
    clock = FakeClock()
    store = TableStore(
        DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30, memo_s=60.0, memo_entries=10, clock=clock
    )
    for i in range(1000):
        store.remember_response(f"r{i}", b"x" * 100)
    store.close()
    db = DuckDBDatabase(tmp_path / "n.duckdb")
    kept = db.request_ids()

    # Act
    later = FakeClock()
    reopened = TableStore(db, cache_bytes=1 << 30, memo_s=60.0, memo_entries=10, clock=later)
    later.now += 61.0
    reopened.remember_response("fresh", b"y")
    reopened.flush()

    # Assert
    assert kept == {f"r{i}" for i in range(990, 1000)}
    assert reopened.remembered_response("r999") is None
    assert db.request_ids() <= {"fresh"}
    reopened.close()


def test_a_call_that_outlived_its_experiments_cleanup_stores_nothing(tmp_path: Path) -> None:
    # Arrange: a call the controller gave up on finishes after the experiment's tables were deleted
    clock = FakeClock()
    store = TableStore(DuckDBDatabase(tmp_path / "n.duckdb"), cache_bytes=1 << 30, clock=clock)
    late_call = contextvars.copy_context()
    late_call.run(CALL_STARTED.set, clock.now)
    clock.now += 1.0
    store.end_experiment("e1")
    clock.now += 1.0
    new_call = contextvars.copy_context()
    new_call.run(CALL_STARTED.set, clock.now)

    # Act / Assert: the late call's table is refused; a call started after the cleanup may reuse the id
    with pytest.raises(FailedPreconditionError, match="e1 has ended"):
        late_call.run(store.put, _meta("t_late"), _table(3))
    new_call.run(store.put, _meta("t_new"), _table(3))
    assert [m.name for m in store.experiment_tables("e1")] == ["t_new"]
    store.close()


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
