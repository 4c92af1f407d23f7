"""Experiments as resources: id in the first message, Get/List/Cancel/Watch, kept across a controller restart."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from mip_client.client import Controller, ExperimentCancelledError, Progress, experiment_step
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common._proto import (
    controller_service_pb2,
    controller_service_pb2_grpc,
    node_service_pb2,
    node_service_pb2_grpc,
)
from tests.integration.conftest import demo_datasets
from tests.integration.test_cli import mip

Y = ["hippocampus", "entorhinal"]


def _kmeans(controller: Controller, iterations: int = 5) -> controller_service_pb2.ExperimentStep:
    return experiment_step(
        "kmeans",
        "demo:1.0",
        demo_datasets(controller),
        y=Y,
        parameters={"numOfClusters": 3, "numOfIterations": iterations},
    )


def _experiment_tables(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        beat = node_service_pb2_grpc.NodeServiceStub(channel).Heartbeat(node_service_pb2.HeartbeatRequest(), timeout=5)
    return int(beat.experiment_table_count)


def _wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
def stub(federation: LocalFederation) -> Iterator[controller_service_pb2_grpc.ControllerServiceStub]:
    with grpc.insecure_channel(federation.controller_address) as channel:
        yield controller_service_pb2_grpc.ControllerServiceStub(channel)


def test_first_message_names_the_experiment_and_get_returns_its_result(controller: Controller) -> None:
    # Arrange
    events: list[Progress] = []

    # Act
    outcome = controller.run_pipeline([_kmeans(controller)], on_progress=events.append)[0]
    kept = controller.get_experiment(outcome.experiment_id)

    # Assert
    assert events[0].kind == "accepted"
    assert events[0].experiment_id == outcome.experiment_id != ""
    assert kept.state == "succeeded"
    assert kept.algorithms == ["kmeans"]
    assert kept.end_time is not None
    assert kept.end_time >= kept.create_time
    assert kept.steps[0].result == outcome.result


def test_progress_off_streams_only_the_accepted_message_and_the_result(
    controller: Controller, stub: controller_service_pb2_grpc.ControllerServiceStub
) -> None:
    # Arrange
    request = controller_service_pb2.RunExperimentRequest(steps=[_kmeans(controller, 20)], is_progress_off=True)

    # Act
    kinds = [e.WhichOneof("event") for e in stub.RunExperiment(request, timeout=60)]

    # Assert
    assert kinds == ["accepted", "result"]


def test_list_pages_newest_first_through_every_experiment(controller: Controller) -> None:
    # Arrange
    ids = [controller.run_pipeline([_kmeans(controller, 1)])[0].experiment_id for _ in range(3)]

    # Act
    listed = [e.experiment_id for e in controller.list_experiments(page_size=1)]

    # Assert
    positions = [listed.index(i) for i in ids]
    assert positions == sorted(positions, reverse=True)
    assert len(listed) == len(set(listed))


def test_list_refuses_a_token_it_did_not_make(stub: controller_service_pb2_grpc.ControllerServiceStub) -> None:
    # Act
    with pytest.raises(grpc.RpcError) as error:
        stub.ListExperiments(controller_service_pb2.ListExperimentsRequest(page_token="nonsense"), timeout=10)

    # Assert
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in error.value.details()


def test_get_of_an_unknown_experiment_is_not_found(stub: controller_service_pb2_grpc.ControllerServiceStub) -> None:
    # Act
    with pytest.raises(grpc.RpcError) as error:
        stub.GetExperiment(controller_service_pb2.GetExperimentRequest(name="experiments/nosuchone"), timeout=10)

    # Assert
    assert error.value.code() is grpc.StatusCode.NOT_FOUND


def test_cancel_stops_the_rounds_and_deletes_the_tables(federation: LocalFederation, controller: Controller) -> None:
    # Arrange: a k-means of 10000 iterations, cancelled after its third
    errors: list[Exception] = []
    accepted = threading.Event()
    ids: list[str] = []

    def on_progress(event: Progress) -> None:
        if event.kind == "progress" and event.iteration >= 3 and not accepted.is_set():
            ids.append(event.experiment_id)
            accepted.set()

    def run() -> None:
        try:
            controller.run_pipeline([_kmeans(controller, 10_000)], on_progress=on_progress)
        except Exception as exc:
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    assert accepted.wait(60)

    # Act
    cancelled = controller.cancel_experiment(ids[0])
    runner.join(30)

    # Assert
    assert cancelled.state == "cancelled"
    assert "cancelled" in cancelled.error
    assert 3 <= cancelled.iteration < 10_000
    assert len(errors) == 1
    assert isinstance(errors[0], ExperimentCancelledError)
    for node_id in ["global", *federation.local_ids]:
        _wait_until(lambda n=node_id: _experiment_tables(federation.node_address(n)) == 0)


def test_a_dropped_stream_leaves_the_experiment_running_and_watch_reattaches(
    controller: Controller, stub: controller_service_pb2_grpc.ControllerServiceStub
) -> None:
    # Arrange: start, read the first message, hang up
    request = controller_service_pb2.RunExperimentRequest(steps=[_kmeans(controller, 30)])
    call = stub.RunExperiment(request, timeout=60)
    experiment_id = next(call).experiment_id
    call.cancel()
    events: list[Progress] = []

    # Act
    outcomes = controller.watch_experiment(experiment_id, on_progress=events.append)

    # Assert
    iterations = outcomes[0].result["iterations"]  # 30, or fewer once the centroids stopped moving
    assert iterations == 30 or outcomes[0].result["is_converged"]
    assert events[0].kind == "accepted"
    assert [e.iteration for e in events if e.kind == "progress"] == list(range(1, iterations + 1))


def test_experiments_survive_a_controller_restart_and_stay_private_to_their_caller(tmp_path: Path) -> None:
    # Arrange: token auth, two researchers
    folders = write_demo_federation(tmp_path / "data", num_locals=1, rows_per_dataset=40, seed=3)
    federation = LocalFederation(
        tmp_path, [folders], tls=True, controller_settings={"client_auth": "token", "tokens": ["alice", "bob"]}
    ).start()
    try:
        ca = federation.cert_files().ca
        address = federation.controller_address
        with Controller(address, ca_file=ca, token="alice") as alice:
            outcome = alice.run(
                "kmeans", data_model="demo:1.0", datasets=["demo_site1_a"], y=Y, parameters={"numOfClusters": 2}
            )

        # Act
        federation.restart("controller")
        with (
            Controller(address, ca_file=ca, token="alice") as alice,
            Controller(address, ca_file=ca, token="bob") as bob,
        ):
            kept = alice.get_experiment(outcome.experiment_id)
            listed_by_bob = list(bob.list_experiments())
            with pytest.raises(Exception, match="no experiment") as error:
                bob.get_experiment(outcome.experiment_id)

        # Assert
        assert kept.state == "succeeded"
        assert kept.steps[0].result == outcome.result
        assert listed_by_bob == []
        assert error.value.reason == "NOT_FOUND"  # type: ignore[attr-defined]
    finally:
        federation.stop()


def test_a_result_the_client_received_survives_a_controller_crash_right_after(tmp_path: Path) -> None:
    # Arrange: the controller deletes the experiment's tables after it sent the result
    folders = write_demo_federation(tmp_path / "data", num_locals=1, rows_per_dataset=40, seed=3)
    federation = LocalFederation(tmp_path, [folders]).start()
    try:
        with Controller(federation.controller_address) as client:
            outcome = client.run(
                "kmeans", data_model="demo:1.0", datasets=["demo_site1_a"], y=Y, parameters={"numOfClusters": 2}
            )
            federation.kill("controller")  # at once, before that cleanup can end

        # Act
        federation.start_again("controller")
        with Controller(federation.controller_address) as client:
            kept = client.get_experiment(outcome.experiment_id)

        # Assert
        assert kept.state == "succeeded", kept.error
        assert kept.steps[0].result == outcome.result
    finally:
        federation.stop()


def test_cli_lists_gets_and_watches_an_experiment_run_with_mip_run(federation: LocalFederation) -> None:
    # Arrange
    address = ["--controller", federation.controller_address]
    run = mip(
        "run",
        "pca",
        *address,
        "--data-model",
        "demo:1.0",
        "--datasets",
        "demo_site1_a",
        "-y",
        "hippocampus,entorhinal",
        "--json",
    )
    experiment_id = json.loads(run.stdout)["experiment_id"]

    # Act
    listed = mip("experiments", "list", *address)
    kept = mip("experiments", "get", experiment_id, *address, "--json")
    watched = mip("experiments", "watch", experiment_id, *address, "--json")
    unknown = mip("experiments", "cancel", "nosuchexperiment", *address)

    # Assert
    assert experiment_id in listed.stdout
    assert json.loads(kept.stdout)["state"] == "succeeded"
    assert json.loads(kept.stdout)["steps"][0]["result"] == json.loads(run.stdout)["result"]
    assert json.loads(watched.stdout)[0]["result"] == json.loads(run.stdout)["result"]
    assert unknown.returncode == 1
    assert "no experiment 'experiments/nosuchexperiment'" in unknown.stderr
