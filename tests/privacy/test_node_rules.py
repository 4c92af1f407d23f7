"""The node's own rules, called directly as a compromised controller would: the node decides, not the caller."""

from __future__ import annotations

import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

from mip_client.federation import LocalFederation
from mip_common._proto import common_pb2
from mip_common.arrow_chunks import encode_batches, encode_schema
from mip_common.errors import InvalidRequestError, PrivacyError, ResourceLimitError, SmallCellError
from mip_common.naming import new_table_name
from mip_controller.node_client import NodeClient, frame_batch
from mip_node.audit import AUDIT_FILE, read_audit
from tests.integration.conftest import PROBE_SETTINGS
from tests.privacy.conftest import SITE1

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_caps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    from mip_client.demo_data import write_demo_federation

    workdir = tmp_path_factory.mktemp("caps")
    [folder] = write_demo_federation(workdir / "data", num_locals=1, rows_per_dataset=60, seed=3)
    settings = PROBE_SETTINGS | {"max_table_bytes": 4096, "max_experiment_bytes": 6000}
    with LocalFederation(workdir, [[folder]], node_settings=settings) as federation:
        yield federation


def _node(federation: LocalFederation) -> NodeClient:
    return NodeClient("local1", federation.node_address("local1"), concurrency=2, chunk_bytes=1 << 20)


async def _view(node: NodeClient, experiment_id: str, datasets: list[str], y: list[str]) -> str:
    view = await node.create_data_view(
        time.monotonic() + 60,
        experiment_id,
        common_pb2.InputData(data_model="demo:1.0", datasets=datasets, y=y),
        keep_missing=False,
    )
    return str(view.table.name)


def _audit(federation: LocalFederation, experiment_id: str) -> list[dict[str, object]]:
    time.sleep(0.3)  # lines reach the file at once; give the OS a moment on a loaded machine
    return list(read_audit(federation.workdir / "local1" / AUDIT_FILE, experiment_id=experiment_id))


async def test_an_undeclared_shared_output_is_refused_and_audited(attacked: LocalFederation) -> None:
    node = _node(attacked)
    try:
        data = await _view(node, "undeclared", SITE1, ["age"])
        with pytest.raises(PrivacyError, match="does not declare its cells"):
            await node.execute_udf(
                time.monotonic() + 60, "undeclared", "privacy_probe.undeclared_count", {"data": data}, {}
            )
    finally:
        await node.delete_experiment_tables(time.monotonic() + 30, "undeclared")
        await node.close()
    refused = [e for e in _audit(attacked, "undeclared") if e["event"] == "udf_output_refused"]
    assert [(e["udf"], e["rule"]) for e in refused] == [("privacy_probe.undeclared_count", "row rule")]


async def test_a_small_cell_is_refused_before_it_exists_and_audited(attacked: LocalFederation) -> None:
    node = _node(attacked)
    try:
        data = await _view(node, "smallcell", SITE1, ["age"])
        # two datasets of 200 rows: allowed; ages: some held by fewer than 10 people
        ok = await node.execute_udf(
            time.monotonic() + 60, "smallcell", "privacy_probe.group_counts", {"data": data}, {"column": "dataset"}
        )
        with pytest.raises(SmallCellError) as error:
            await node.execute_udf(
                time.monotonic() + 60,
                "smallcell",
                "privacy_probe.group_counts",
                {"data": data},
                {"column": "diagnosis"} | {"column": "age"},
            )
        tables = await node.delete_experiment_tables(time.monotonic() + 30, "smallcell")
    finally:
        await node.close()
    assert ok.outputs[0].table.privacy == common_pb2.TABLE_PRIVACY_SHAREABLE
    assert "cell rule" in error.value.message
    assert "(group " in error.value.message
    assert tables == 2  # the view and the allowed output: the refused one was never stored
    events = [e["event"] for e in _audit(attacked, "smallcell")]
    assert "udf_output_refused" in events
    assert "udf" in events


async def test_the_caller_cannot_set_the_privacy_policy(attacked: LocalFederation) -> None:
    node = _node(attacked)
    try:
        data = await _view(node, "policy", SITE1, ["hippocampus"])
        with pytest.raises(InvalidRequestError, match="set by the node"):
            await node.execute_udf(
                time.monotonic() + 60,
                "policy",
                "histograms.local_range",
                {"data": data},
                {"column": "hippocampus", "policy": {"min_rows": 1, "min_cell_rows": 1, "extremes": "exact"}},
            )
    finally:
        await node.delete_experiment_tables(time.monotonic() + 30, "policy")
        await node.close()


def _one_table(rows: int) -> tuple[bytes, list[bytes]]:
    table = pa.table({"value": pa.array(range(rows), type=pa.int64())})
    return encode_schema(table.schema), list(encode_batches(table.to_batches(), 1 << 20))


async def _send(node: NodeClient, experiment_id: str, name: str, rows: int) -> None:
    schema, batches = _one_table(rows)

    async def stream() -> AsyncIterator[bytes]:
        for batch in batches:
            yield frame_batch(batch)

    await node.create_table_framed(time.monotonic() + 30, experiment_id, name, schema, stream())


async def test_create_table_cannot_take_a_reserved_name(small_caps: LocalFederation) -> None:
    node = _node(small_caps)
    try:
        for reserved in ("primary_demo_1_0", "tables", new_table_name("someone_else", "t")):
            with pytest.raises(InvalidRequestError, match="reserved"):
                await _send(node, "mine", reserved, 3)
    finally:
        await node.close()


async def test_create_table_caps_table_and_experiment_size(small_caps: LocalFederation) -> None:
    node = _node(small_caps)
    try:
        with pytest.raises(ResourceLimitError, match="max_table_bytes"):
            await _send(node, "big", new_table_name("big", "t"), 2000)
        await _send(node, "big", new_table_name("big", "a"), 300)
        await _send(node, "big", new_table_name("big", "b"), 300)
        with pytest.raises(ResourceLimitError, match="max_experiment_bytes"):
            await _send(node, "big", new_table_name("big", "c"), 300)
    finally:
        await node.delete_experiment_tables(time.monotonic() + 30, "big")
        await node.close()


def test_database_and_audit_files_are_private(small_caps: LocalFederation) -> None:
    folder = Path(small_caps.workdir / "local1")
    files = [folder / "local1.duckdb", folder / AUDIT_FILE]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0


def test_grpc_status_of_a_small_cell_is_failed_precondition() -> None:
    from mip_common.status import code_of

    assert code_of(SmallCellError("x")) is grpc.StatusCode.FAILED_PRECONDITION
