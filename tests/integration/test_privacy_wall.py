"""The node, not the flow, keeps rows in: primary data, views and leaking UDFs are refused."""

from __future__ import annotations

import csv
import time

import grpc
import pytest

from mip_client.client import Controller
from mip_client.federation import LocalFederation
from mip_common._proto import common_pb2, node_service_pb2, node_service_pb2_grpc
from mip_common.errors import PrivacyError, TooFewRowsError
from mip_controller.node_client import NodeClient
from tests.integration.conftest import data_folder, demo_datasets

EXPERIMENT = "privacytest"


def _stub(federation: LocalFederation, node_id: str) -> tuple[grpc.Channel, node_service_pb2_grpc.NodeServiceStub]:
    channel = grpc.insecure_channel(federation.node_address(node_id))
    return channel, node_service_pb2_grpc.NodeServiceStub(channel)


def test_get_table_data_on_primary_data_is_permission_denied(federation: LocalFederation) -> None:
    channel, stub = _stub(federation, "local1")
    with channel, pytest.raises(grpc.RpcError) as error:
        list(stub.GetTableData(node_service_pb2.GetTableDataRequest(table_name="primary_demo_1_0"), timeout=5))

    assert error.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_data_view_cannot_leave_and_leaking_udf_is_stopped(
    federation: LocalFederation,
) -> None:
    node = NodeClient("local1", federation.node_address("local1"), concurrency=2, chunk_bytes=1 << 20)
    deadline = time.monotonic() + 60
    try:
        view = await node.create_data_view(
            deadline,
            EXPERIMENT,
            common_pb2.InputData(data_model="demo:1.0", datasets=["demo_site1_a"], y=["hippocampus"]),
            keep_missing=False,
        )
        call = node.stream_table_framed(deadline, view.table.name)
        with pytest.raises(grpc.RpcError) as refused_view:
            await call.read()
        with pytest.raises(PrivacyError, match="row-level"):
            await node.execute_udf(deadline, EXPERIMENT, "privacy_probe.leak_rows", {"data": view.table.name}, {})
        copied = await node.execute_udf(deadline, EXPERIMENT, "privacy_probe.select_all", {"data": view.table.name}, {})
        with pytest.raises(grpc.RpcError) as refused_copy:
            await node.stream_table_framed(deadline, copied.outputs[0].table.name).read()
        count = await node.execute_udf(deadline, EXPERIMENT, "privacy_probe.row_count", {"data": view.table.name}, {})

        assert refused_view.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert refused_copy.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert count.outputs[0].table.privacy == common_pb2.TABLE_PRIVACY_SHAREABLE
    finally:
        await node.delete_experiment_tables(time.monotonic() + 30, EXPERIMENT)
        await node.close()


def test_node_below_minimum_rows_is_left_out(federation: LocalFederation, controller: Controller) -> None:
    # Arrange: five rows of local1 (under its minimum of 10) and all of demo_site2_a on local2
    with (data_folder(federation, "local1") / "demo_site1_a.csv").open(newline="") as handle:
        volumes = [float(row["hippocampus"]) for row in csv.DictReader(handle) if row["hippocampus"]][:5]
    filters = {
        "condition": "OR",
        "rules": [
            *[
                {"id": "hippocampus", "field": "hippocampus", "type": "double", "operator": "equal", "value": v}
                for v in volumes
            ],
            {
                "id": "dataset",
                "field": "dataset",
                "type": "string",
                "operator": "equal",
                "value": "demo_site2_a",
            },
        ],
    }

    # Act
    outcome = controller.run(
        "kmeans",
        data_model="demo:1.0",
        datasets=["demo_site1_a", "demo_site2_a"],
        y=["hippocampus", "entorhinal"],
        filters=filters,
        parameters={"numOfClusters": 2},
    )

    # Assert
    assert list(outcome.participants) == ["local2"]
    assert "minimum of 10" in outcome.exclusions["local1"]
    assert "5" not in outcome.exclusions["local1"]


def test_selection_with_no_node_above_minimum_fails_clearly(controller: Controller) -> None:
    filters = {
        "condition": "AND",
        "rules": [
            {
                "id": "gender",
                "field": "gender",
                "type": "string",
                "operator": "equal",
                "value": "F",
            },
            {
                "id": "gender",
                "field": "gender",
                "type": "string",
                "operator": "equal",
                "value": "M",
            },
        ],
    }
    with pytest.raises(TooFewRowsError, match="no local node can take part"):
        controller.run(
            "kmeans",
            data_model="demo:1.0",
            datasets=demo_datasets(controller),
            y=["hippocampus"],
            filters=filters,
            parameters={"numOfClusters": 2},
        )
