"""mip-gateway: the MIP HTTP/JSON API over a real controller (Exaflow's routes, payloads and status codes)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest

from mip_client.client import experiment_step
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common._proto import controller_service_pb2, controller_service_pb2_grpc
from tests.integration.test_reference_cases import post_json


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
            return int(response.status), json.loads(text) if text else ""
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def _grpc_refusal(
    federation: LocalFederation, algorithm: str, inputdata: dict[str, Any], parameters: dict[str, Any]
) -> str:
    """The message gRPC gives for the same request."""
    step = experiment_step(
        algorithm,
        inputdata["data_model"],
        inputdata["datasets"],
        inputdata.get("y", []),
        inputdata.get("x", []),
        None,
        parameters,
    )
    with grpc.insecure_channel(federation.controller_address) as channel:
        stub = controller_service_pb2_grpc.ControllerServiceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            list(stub.RunExperiment(controller_service_pb2.RunExperimentRequest(steps=[step]), timeout=60))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    return str(error.value.details())


INPUT = {"data_model": "demo:1.0", "datasets": ["demo_site1_a", "demo_site2_a"], "y": ["hippocampus", "entorhinal"]}


@pytest.mark.parametrize(
    ("algorithm", "inputdata", "parameters"),
    [
        pytest.param("no_such_algorithm", INPUT, {}, id="unknown-algorithm"),
        pytest.param("kmeans", INPUT | {"y": ["nosuchvariable"]}, {"k": 2}, id="unknown-variable"),
        pytest.param("kmeans", INPUT | {"datasets": ["nosuchdataset"]}, {"k": 2}, id="unknown-dataset"),
        pytest.param("kmeans", INPUT, {"k": 0}, id="k-below-minimum"),
        pytest.param("kmeans", INPUT, {}, id="k-missing"),
        pytest.param("linear_regression", INPUT, {}, id="two-y-for-one"),
    ],
)
def test_a_bad_request_is_400_with_the_grpc_message(
    federation: LocalFederation, algorithm: str, inputdata: dict[str, Any], parameters: dict[str, Any]
) -> None:
    # Arrange
    expected = _grpc_refusal(
        federation, algorithm, inputdata, {"numOfClusters": parameters["k"]} if "k" in parameters else parameters
    )

    # Act
    status, text = post_json(
        f"{federation.gateway_url}/algorithms/{algorithm}", {"inputdata": inputdata, "parameters": parameters}
    )

    # Assert
    assert status == 400
    assert text == expected


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(b"{not json", "not JSON", id="not-json"),
        pytest.param([1, 2], "must be", id="not-an-object"),
        pytest.param({"parameters": {}}, "'inputdata' must be an object", id="no-inputdata"),
        pytest.param({"inputdata": INPUT | {"y": "hippocampus"}}, "inputdata.y must be a list", id="y-not-a-list"),
        pytest.param({"inputdata": INPUT, "parameters": {"k": 2, "numOfClusters": 3}}, "given twice", id="both-names"),
    ],
)
def test_a_malformed_body_is_400_saying_what_is_wrong(federation: LocalFederation, body: Any, words: str) -> None:
    # Act
    status, text = post_json(f"{federation.gateway_url}/algorithms/kmeans", body)

    # Assert
    assert status == 400
    assert words in text


def test_kmeans_spec_and_request_use_the_mip_parameter_names(federation: LocalFederation) -> None:
    # Act
    _, specs = get_json(f"{federation.gateway_url}/algorithms")
    status, text = post_json(
        f"{federation.gateway_url}/algorithms/kmeans",
        {"inputdata": INPUT, "parameters": {"k": 3, "maxiter": 1, "tol": 0.0}},
    )

    # Assert
    kmeans = next(s for s in specs if s["name"] == "kmeans")
    assert {"k", "maxiter", "tol"} <= set(kmeans["parameters"])
    assert kmeans["parameters"]["k"]["types"] == ["int"]
    assert kmeans["parameters"]["maxiter"]["default"] == 100
    assert isinstance(kmeans["parameters"]["maxiter"]["default"], int)
    assert kmeans["inputdata"]["y"]["stattypes"] == ["numerical"]
    assert "x" not in kmeans["inputdata"]
    assert status == 200, text
    result = json.loads(text)
    assert len(result["centroids"]) == 3
    assert result["iterations"] == 1  # maxiter reached numOfIterations


def test_catalogue_endpoints_follow_the_exaflow_shapes(federation: LocalFederation) -> None:
    # Act
    _, datasets = get_json(f"{federation.gateway_url}/datasets")
    _, locations = get_json(f"{federation.gateway_url}/datasets_locations")
    _, cdes = get_json(f"{federation.gateway_url}/cdes_metadata")
    _, attributes = get_json(f"{federation.gateway_url}/data_models_attributes")
    health, _ = get_json(f"{federation.gateway_url}/healthcheck")

    # Assert
    assert "demo_site1_a" in datasets["demo:1.0"]
    assert locations["demo:1.0"]["demo_site1_a"] == "local1"
    assert cdes["demo:1.0"]["gender"]["enumerations"] == {"F": "Female", "M": "Male"}
    assert cdes["demo:1.0"]["hippocampus"]["is_categorical"] is False
    assert "hippocampus" in attributes["demo:1.0"]["properties"]["variables"]
    assert health == 200


def test_an_experiment_run_over_http_can_be_read_back(federation: LocalFederation) -> None:
    # Arrange
    request = urllib.request.Request(
        f"{federation.gateway_url}/algorithms/pca",
        data=json.dumps({"inputdata": INPUT}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        experiment_id = response.headers["x-mip-experiment-id"]
        result = json.loads(response.read())

    # Act
    status, kept = get_json(f"{federation.gateway_url}/experiments/{experiment_id}")
    missing, _ = get_json(f"{federation.gateway_url}/experiments/nosuchexperiment")

    # Assert
    assert status == 200
    assert kept["state"] == "EXPERIMENT_STATE_SUCCEEDED"
    assert kept["result"]["steps"][0]["result"] == result
    assert missing == 404


def test_the_bearer_token_is_forwarded_to_a_tls_controller(tmp_path: Path) -> None:
    # Arrange: a TLS federation whose controller wants tokens; the gateway calls it over TLS
    folders = write_demo_federation(tmp_path / "data", num_locals=1, rows_per_dataset=30, seed=4)
    federation = LocalFederation(
        tmp_path,
        [folders],
        tls=True,
        is_gateway=True,
        controller_settings={"client_auth": "token", "tokens": ["s3cret"]},
    ).start()
    try:
        url = f"{federation.gateway_url}/datasets"

        # Act
        refused, message = get_json(url)
        wrong, _ = get_json(url, {"authorization": "Bearer nope"})
        allowed, datasets = get_json(url, {"authorization": "Bearer s3cret"})

        # Assert
        assert refused == 401
        assert "bearer token" in message
        assert wrong == 401
        assert allowed == 200
        assert datasets == {"demo:1.0": ["demo_site1_a", "demo_site1_b"]}
    finally:
        federation.stop()
