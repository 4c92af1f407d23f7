"""A UDF that raises, never ends or allocates without bound gets a clear error; the node serves on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from mip_client.federation import LocalFederation
from mip_common.errors import DeadlineError, InternalError
from mip_controller.node_client import NodeClient
from tests.integration.conftest import PROBE_SETTINGS

EXPERIMENT = "limits"


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    settings = {"udf_isolation": "process", "udf_timeout_s": 4.0, "udf_memory_bytes": 64 * 2**20} | PROBE_SETTINGS
    federation = LocalFederation(tmp_path_factory.mktemp("limits"), [[]], node_settings=settings)
    with federation:
        yield federation


@pytest.fixture
async def node(sandboxed: LocalFederation) -> AsyncIterator[NodeClient]:
    client = NodeClient("local1", sandboxed.node_address("local1"), concurrency=4, chunk_bytes=1 << 20)
    yield client
    await client.delete_experiment_tables(time.monotonic() + 10, EXPERIMENT)
    await client.close()


async def _run(node: NodeClient, udf: str, **literals: object) -> object:
    return await node.execute_udf(time.monotonic() + 30, EXPERIMENT, udf, {}, dict(literals))


async def test_raising_udf_gives_its_message(node: NodeClient) -> None:
    with pytest.raises(InternalError, match="RuntimeError: boom"):
        await _run(node, "fault_probe.raise_error", message="boom")


@pytest.mark.slow
async def test_endless_udf_is_stopped_at_the_limit(node: NodeClient) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineError, match="limit of 4 s"):
        await _run(node, "fault_probe.sleep_forever", seconds=600.0)

    assert time.monotonic() - started < 15


@pytest.mark.slow
async def test_memory_hungry_udf_fails_alone(node: NodeClient) -> None:
    with pytest.raises(InternalError, match="limit of 64 MiB"):
        await _run(node, "fault_probe.allocate_forever", step_bytes=16 * 2**20)

    beat = await node.heartbeat(time.monotonic() + 5)
    assert beat.database_status == "ok"
    response = await _run(node, "health.local_ping")
    assert response.outputs[0].table.row_count == 1  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def threaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    settings = {"udf_isolation": "thread", "udf_workers": 2, "udf_timeout_s": 2.0} | PROBE_SETTINGS
    federation = LocalFederation(tmp_path_factory.mktemp("threaded"), [[]], node_settings=settings)
    with federation:
        yield federation


@pytest.mark.slow
async def test_endless_udfs_in_threads_fail_at_the_limit_and_free_the_node(threaded: LocalFederation) -> None:
    # Arrange: as many endless calls as the node has workers
    client = NodeClient("local1", threaded.node_address("local1"), concurrency=4, chunk_bytes=1 << 20)
    try:
        calls = [_run(client, "fault_probe.sleep_forever", seconds=600.0) for _ in range(2)]

        # Act
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        beat = await client.heartbeat(time.monotonic() + 5)
        response = await _run(client, "health.local_ping")

        # Assert
        for outcome in outcomes:
            assert isinstance(outcome, DeadlineError)
            assert "limit of 2 s" in outcome.message
        assert beat.database_status == "ok"
        assert response.outputs[0].table.row_count == 1  # type: ignore[attr-defined]
    finally:
        await client.delete_experiment_tables(time.monotonic() + 10, EXPERIMENT)
        await client.close()
