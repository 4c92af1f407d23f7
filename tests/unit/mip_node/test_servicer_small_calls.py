"""Library UDF calls on small tables run on the node's event loop; larger ones, and UDFs from
outside the library (which no timeout could stop there), go to a worker thread."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mip_common._proto import node_service_pb2
from mip_common.naming import new_table_name
from mip_node import servicer as servicer_module
from mip_node.audit import AuditLog
from mip_node.config import NodeConfig
from mip_node.db import DuckDBDatabase, Privacy, TableMeta
from mip_node.servicer import SMALL_CALL_BYTES, NodeServicer
from mip_node.table_store import TableStore
from mip_node.workers import WorkerPool
from udf_library import ArrayBundle, private, udf, udf_spec

_EXPERIMENT = "small_calls"


@udf(outputs=(private("where"),))
def where_run(table: ArrayBundle) -> ArrayBundle:
    """1 when the call ran on the thread of the event loop (the main thread here), else 0."""
    return ArrayBundle({"on_loop": [int(threading.current_thread() is threading.main_thread())]})


@pytest.fixture
def servicer(tmp_path: Path) -> Iterator[tuple[NodeServicer, TableStore]]:
    config = NodeConfig(node_id="g", role="global", data_dir=tmp_path)
    db = DuckDBDatabase(tmp_path / "g.duckdb")
    store = TableStore(db, cache_bytes=1 << 28)
    workers = WorkerPool(2)
    spec = udf_spec(where_run)
    audit = AuditLog(tmp_path / "audit.jsonl", node_id="g")
    yield NodeServicer(config, db, store, {spec.name: spec}, workers, audit=audit), store
    workers.shutdown()
    store.close()
    audit.close()
    db.close()


async def _where(servicer: NodeServicer, store: TableStore, rows: int) -> int:
    name = new_table_name(_EXPERIMENT, "input")
    store.put(TableMeta(name, Privacy.SHAREABLE, _EXPERIMENT), pa.table({"x": np.zeros(rows)}))
    request = node_service_pb2.ExecuteUDFRequest(
        request_id=str(uuid.uuid4()),
        experiment_id=_EXPERIMENT,
        udf_name=udf_spec(where_run).name,
        table_arguments={"table": name},
    )
    response = await servicer.ExecuteUDF(request, None)  # type: ignore[arg-type]
    output = store.get(response.outputs[0].table.name)
    return int(output.arrow.column("on_loop")[0].as_py())


@pytest.fixture
def as_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat this test module's UDF as one of the library's."""
    monkeypatch.setattr(servicer_module, "LIBRARY_PACKAGE", where_run.__module__)


@pytest.mark.usefixtures("as_library")
async def test_udf_on_a_small_table_runs_on_the_event_loop(servicer: tuple[NodeServicer, TableStore]) -> None:
    assert await _where(*servicer, rows=10) == 1


@pytest.mark.usefixtures("as_library")
async def test_udf_on_a_large_table_runs_on_a_worker_thread(servicer: tuple[NodeServicer, TableStore]) -> None:
    assert await _where(*servicer, rows=SMALL_CALL_BYTES // 8 + 1) == 0


async def test_udf_from_outside_the_library_runs_on_a_worker_thread_even_on_a_small_table(
    servicer: tuple[NodeServicer, TableStore],
) -> None:
    assert await _where(*servicer, rows=10) == 0
