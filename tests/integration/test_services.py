"""Standard gRPC services on every process, and the node's service contract, called for real."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mip_client.federation import LocalFederation
from mip_common._proto import node_service_pb2, node_service_pb2_grpc


def _services(address: str) -> set[str]:
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        return {s.name for r in responses for s in r.list_services_response.service}


@pytest.mark.parametrize("process", ["controller", "global", "local1"])
def test_health_says_serving(federation: LocalFederation, process: str) -> None:
    with grpc.insecure_channel(federation.processes[process].address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)

    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_both_services(federation: LocalFederation) -> None:
    assert "mip.v1.ControllerService" in _services(federation.controller_address)
    assert "mip.v1.NodeService" in _services(federation.node_address("local1"))


def test_list_udfs_shows_typed_signatures(federation: LocalFederation) -> None:
    with grpc.insecure_channel(federation.node_address("global")) as channel:
        udfs = node_service_pb2_grpc.NodeServiceStub(channel).ListUDFs(node_service_pb2.ListUDFsRequest(), timeout=5)

    by_name = {u.name: u for u in udfs.udfs}
    local_calc = by_name["kmeans.local_calc"]
    assert [(i.name, i.type) for i in local_calc.inputs] == [
        ("data", "table"),
        ("centroids", "table"),
        ("variables", "list[text]"),
    ]
    assert [(o.name, o.is_shareable) for o in local_calc.outputs] == [("sums", True)]
    assert "nearest centroid" in local_calc.doc


def test_unknown_udf_is_not_found(federation: LocalFederation) -> None:
    with (
        grpc.insecure_channel(federation.node_address("local1")) as channel,
        pytest.raises(grpc.RpcError) as error,
    ):
        node_service_pb2_grpc.NodeServiceStub(channel).ExecuteUDF(
            node_service_pb2.ExecuteUDFRequest(udf_name="kmeans.nope", experiment_id="e1"),
            timeout=5,
        )

    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    assert "kmeans.local_calc" in error.value.details()
