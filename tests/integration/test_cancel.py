"""A client that goes away mid-experiment: the controller still deletes every table the experiment made."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest

from mip_client.client import experiment_step
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common._proto import (
    controller_service_pb2,
    controller_service_pb2_grpc,
    node_service_pb2,
    node_service_pb2_grpc,
)

VARIABLES = ["hippocampus", "entorhinal", "ventricles"]


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    # health polls (which also retry the cleanup journal) far apart: only the experiment's own cleanup counts
    workdir = tmp_path_factory.mktemp("cancel")
    folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=400, seed=5)
    settings: dict[str, object] = {"health_interval_s": 120.0, "canary_interval_s": 0}
    with LocalFederation(workdir, [[f] for f in folders], controller_settings=settings) as federation:
        yield federation


def _experiment_tables(federation: LocalFederation, node_id: str) -> int:
    with grpc.insecure_channel(federation.node_address(node_id)) as channel:
        beat = node_service_pb2_grpc.NodeServiceStub(channel).Heartbeat(node_service_pb2.HeartbeatRequest(), timeout=5)
    return int(beat.experiment_table_count)


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.parametrize("moment", ["mid_run", "on_result"])
def test_cancelled_client_leaves_no_tables(federation: LocalFederation, moment: str, attempt: int) -> None:
    # Arrange
    step = experiment_step(
        "kmeans",
        "demo:1.0",
        ["demo_site1_a", "demo_site2_a", "demo_site3_a"],
        y=VARIABLES,
        parameters={
            "numOfClusters": 8,
            "numOfIterations": 10_000 if moment == "mid_run" else 3,
            "initialMax": 500.0,
            "seed": attempt,
        },
    )
    request = controller_service_pb2.RunExperimentRequest(steps=[step])

    # Act: go away after the second iteration, or as soon as the result is in (the controller cleans up then)
    with grpc.insecure_channel(federation.controller_address) as channel:
        call = controller_service_pb2_grpc.ControllerServiceStub(channel).RunExperiment(request, timeout=60)
        for event in call:
            is_mid_run = event.HasField("step_progress") and event.step_progress.iteration >= 2
            if event.HasField("result") or (moment == "mid_run" and is_mid_run):
                call.cancel()
                break
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        left = {n: _experiment_tables(federation, n) for n in ["global", "local1", "local2", "local3"]}
        if not any(left.values()):
            break
        time.sleep(0.1)

    # Assert
    assert not any(left.values()), left
