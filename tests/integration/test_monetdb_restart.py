"""A node on MonetDB whose server restarts: DEGRADED and UNAVAILABLE while it is down, then back by itself.

The test starts a MonetDB server of its own (the prebuilt one in ../shared/monetdb), so
stopping it disturbs no other test.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common._proto import common_pb2, node_service_pb2, node_service_pb2_grpc
from tests.helpers.monetdb import SHARED_MONETDB, OwnServer, free_port, node_settings, skip_or_fail

pytestmark = pytest.mark.slow


@pytest.fixture
def own_monetdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnServer]:
    """A MonetDB server of the test's own, on a free port, stopped and removed afterwards."""
    if not (SHARED_MONETDB / "start.sh").exists():
        skip_or_fail(f"needs the prebuilt MonetDB server in {SHARED_MONETDB} (../shared beside the checkout)")
    server = OwnServer(tmp_path_factory.mktemp("monetdb"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture
def federation(own_monetdb: OwnServer, tmp_path: Path) -> Iterator[LocalFederation]:
    folders = write_demo_federation(tmp_path / "data", num_locals=1, rows_per_dataset=60, seed=2)
    federation = LocalFederation(
        tmp_path / "run",
        [[f] for f in folders],
        node_settings=node_settings(own_monetdb.settings),
        controller_settings={"health_interval_s": 0.3, "canary_interval_s": 0},
    )
    federation.start()
    try:
        yield federation
    finally:
        federation.stop()


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def heartbeat(federation: LocalFederation) -> node_service_pb2.HeartbeatResponse:
    with grpc.insecure_channel(federation.node_address("local1")) as channel:
        response: node_service_pb2.HeartbeatResponse = node_service_pb2_grpc.NodeServiceStub(channel).Heartbeat(
            node_service_pb2.HeartbeatRequest(), timeout=10
        )
        return response


def create_view(federation: LocalFederation, datasets: list[str]) -> node_service_pb2.CreateDataViewResponse:
    request = node_service_pb2.CreateDataViewRequest(
        request_id=str(uuid.uuid4()),
        experiment_id=f"restart{uuid.uuid4().hex[:8]}",
        inputdata=common_pb2.InputData(data_model="demo:1.0", datasets=datasets, y=["hippocampus"]),
    )
    with grpc.insecure_channel(federation.node_address("local1")) as channel:
        response: node_service_pb2.CreateDataViewResponse = node_service_pb2_grpc.NodeServiceStub(
            channel
        ).CreateDataView(request, timeout=20)
        return response


def local_state(controller: Controller) -> str:
    nodes = {n.node_id: json_format.MessageToDict(n) for n in controller.health().nodes}
    return str(nodes["local1"].get("state", ""))


def test_a_node_survives_its_monetdb_restarting(federation: LocalFederation, own_monetdb: OwnServer) -> None:
    # Arrange
    with Controller(federation.controller_address) as controller:
        datasets = [d.code for d in controller.datasets()]
        rows_before = create_view(federation, datasets).table.row_count
        wait_until(lambda: local_state(controller) == "NODE_STATE_UP")

        # Act 1: the server goes away
        own_monetdb.stop()

        # Assert 1: the node answers its heartbeat, degraded, and refuses work with UNAVAILABLE
        wait_until(lambda: heartbeat(federation).database_status != "ok")
        assert "MonetDB" in heartbeat(federation).database_status
        wait_until(lambda: local_state(controller) == "NODE_STATE_DEGRADED")
        with pytest.raises(grpc.RpcError) as refused:
            create_view(federation, datasets)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "reconnects" in (refused.value.details() or "")

        # Act 2: the server is back (same data directory)
        own_monetdb.start()

        # Assert 2: the node reconnects by itself and works as before
        wait_until(lambda: heartbeat(federation).database_status == "ok")
        wait_until(lambda: local_state(controller) == "NODE_STATE_UP")
        assert create_view(federation, datasets).table.row_count == rows_before
