"""Experiment ids travel as x-mip-experiment-id metadata and tag the node's log lines."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
from google.protobuf import json_format

from mip_client.client import experiment_step
from mip_client.federation import LocalFederation
from mip_common._proto import controller_service_pb2, controller_service_pb2_grpc


def test_experiment_id_reaches_every_node_log(federation: LocalFederation) -> None:
    # Arrange
    experiment_id = f"logcheck-{uuid.uuid4().hex[:12]}"
    step = experiment_step(
        "pearson_correlation",
        "demo:1.0",
        ["demo_site1_a", "demo_site2_a", "demo_site3_a"],
        y=["hippocampus", "entorhinal"],
    )
    request = controller_service_pb2.RunExperimentRequest(steps=[step], experiment_id=experiment_id)

    # Act
    with grpc.insecure_channel(federation.controller_address) as channel:
        events = list(controller_service_pb2_grpc.ControllerServiceStub(channel).RunExperiment(request, timeout=120))

    # Assert
    assert {e.experiment_id for e in events} == {experiment_id}
    assert json_format.MessageToDict(events[-1].result.steps[0].result)["n_obs"] > 0
    for name in ["controller", "global", "local1", "local2", "local3"]:
        lines = [
            line for line in Path(federation.processes[name].log).read_text().splitlines() if experiment_id in line
        ]
        assert lines, f"no log line of {name} names experiment {experiment_id}"
        assert all(f"[{name}|{experiment_id}]" in line for line in lines)
