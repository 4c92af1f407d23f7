"""TLS, caller authentication and the audit log, on a real federation of processes on 127.0.0.1.

gRPC Python can only require client certificates or not ask for them, so a TLS node requires
one at the handshake: a client without a certificate, or with one another CA signed or that
has expired, never gets a connection (UNAVAILABLE, "handshake failed"). A client whose
certificate verifies but names another identity gets PERMISSION_DENIED from the node's
interceptor, before any handler runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common._proto import node_service_pb2, node_service_pb2_grpc
from mip_common.auth import channel_credentials
from mip_common.certs import CertFiles, create_ca, issue_cert, write_cert
from mip_common.errors import NodeUnavailableError, UnauthenticatedError
from mip_node.audit import AUDIT_FILE, read_audit

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token-for-tests"
KMEANS_PARAMS = {"numOfClusters": 2, "numOfIterations": 5, "initialMin": 0.0, "initialMax": 10.0, "seed": 3}


@pytest.fixture(scope="module")
def tls_federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    workdir = tmp_path_factory.mktemp("tls-federation")
    folders = write_demo_federation(workdir / "data", num_locals=2, rows_per_dataset=120, seed=5)
    federation = LocalFederation(workdir, [[f] for f in folders], tls=True)
    federation.start()
    try:
        yield federation
    finally:
        federation.stop()


@pytest.fixture(scope="module")
def client(tls_federation: LocalFederation) -> Iterator[Controller]:
    files = tls_federation.cert_files("client")
    with Controller(
        tls_federation.controller_address, ca_file=files.ca, cert_file=files.cert, key_file=files.key
    ) as controller:
        yield controller


@pytest.fixture(scope="module")
def token_controller(tls_federation: LocalFederation) -> Iterator[str]:
    """A second controller process over the same nodes, whose clients authenticate with a token."""
    workdir = tls_federation.workdir
    files = tls_federation.cert_files("controller")
    settings = {
        "global_node": f"global@{tls_federation.node_address('global')}",
        "local_nodes": [f"{n}@{tls_federation.node_address(n)}" for n in tls_federation.local_ids],
        "port_file": str(workdir / "token-controller.port"),
        "tls_cert_file": str(files.cert),
        "tls_key_file": str(files.key),
        "tls_ca_file": str(files.ca),
        "client_auth": "token",
        "token_file": str(workdir / "tokens.txt"),
        "state_dir": str(workdir / "token-controller-state"),
    }
    (workdir / "tokens.txt").write_text(f"# researchers\n{TOKEN}\nanother-token\n")
    config = workdir / "token-controller.toml"
    config.write_text("[controller]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    port_file = workdir / "token-controller.port"
    with (workdir / "token-controller.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mip_controller", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, (workdir / "token-controller.log").read_text()
            assert time.monotonic() < deadline, "token controller did not start"
            time.sleep(0.05)
        yield f"127.0.0.1:{port_file.read_text().strip()}"
    finally:
        process.terminate()
        process.wait(10)


def _node_call(address: str, credentials: grpc.ChannelCredentials) -> grpc.RpcError:
    """A Heartbeat call that must fail; returns its error."""
    with grpc.secure_channel(address, credentials) as channel:
        stub = node_service_pb2_grpc.NodeServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Heartbeat(node_service_pb2.HeartbeatRequest(), timeout=10)
    return info.value


def _other_ca_cert(tmp_path: Path, identity: str, **validity: dt.datetime) -> CertFiles:
    ca = create_ca("some other CA")
    ca_file = tmp_path / "other-ca.pem"
    ca_file.write_bytes(ca.cert_pem())
    key, cert = issue_cert(ca, identity, **validity)
    return write_cert(tmp_path, identity, key, cert, ca_file)


def _experiments(path: Path) -> dict[str, list[dict[str, object]]]:
    grouped: dict[str, list[dict[str, object]]] = {}
    for event in read_audit(path):
        grouped.setdefault(str(event["experiment_id"]), []).append(event)
    return grouped


def _events_after_cleanup(path: Path, experiment_id: str, timeout_s: float = 10.0) -> list[dict[str, object]]:
    """The controller deletes an experiment's tables after answering, so wait for that record."""
    deadline = time.monotonic() + timeout_s
    while True:
        events = _experiments(path)[experiment_id]
        if any(e["event"] == "tables_deleted" for e in events) or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


# --- end to end -----------------------------------------------------------------------------


def test_kmeans_and_linear_regression_over_tls(client: Controller) -> None:
    # Arrange
    datasets = [d.code for d in client.datasets()]

    # Act
    kmeans = client.run("kmeans", data_model="demo:1.0", datasets=datasets, y=["hippocampus"], parameters=KMEANS_PARAMS)
    regression = client.run(
        "linear_regression", data_model="demo:1.0", datasets=datasets, y=["cognition"], x=["age", "hippocampus"]
    )

    # Assert
    assert len(kmeans.result["centroids"]) == 2
    assert regression.result["n_obs"] == sum(regression.participants.values()) > 0
    assert set(regression.participants) == {"local1", "local2"}


def test_token_client_runs_kmeans(tls_federation: LocalFederation, token_controller: str) -> None:
    files = tls_federation.cert_files("client")
    with Controller(token_controller, ca_file=files.ca, token=TOKEN) as controller:
        outcome = controller.run(
            "kmeans",
            data_model="demo:1.0",
            datasets=[d.code for d in controller.datasets()],
            y=["hippocampus"],
            parameters=KMEANS_PARAMS,
        )
    assert len(outcome.result["centroids"]) == 2


# --- refused callers ------------------------------------------------------------------------


def test_node_refuses_client_without_certificate(tls_federation: LocalFederation) -> None:
    error = _node_call(tls_federation.node_address("local1"), channel_credentials(tls_federation.cert_files().ca))
    assert error.code() is grpc.StatusCode.UNAVAILABLE


def test_node_refuses_plaintext_client(tls_federation: LocalFederation) -> None:
    with grpc.insecure_channel(tls_federation.node_address("local1")) as channel:
        stub = node_service_pb2_grpc.NodeServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Heartbeat(node_service_pb2.HeartbeatRequest(), timeout=10)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


def test_node_refuses_certificate_from_another_ca(tls_federation: LocalFederation, tmp_path: Path) -> None:
    impostor = _other_ca_cert(tmp_path, "controller")
    credentials = channel_credentials(tls_federation.cert_files().ca, impostor.cert, impostor.key)
    error = _node_call(tls_federation.node_address("local1"), credentials)
    assert error.code() is grpc.StatusCode.UNAVAILABLE


def test_node_refuses_expired_certificate(tls_federation: LocalFederation) -> None:
    # Arrange: a "controller" certificate from the federation's own CA that expired yesterday
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from mip_common.certs import CertificateAuthority

    certs = tls_federation.certs_dir
    ca_key = serialization.load_pem_private_key((certs / "ca.key").read_bytes(), password=None)
    ca = CertificateAuthority(ca_key, x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes()))  # type: ignore[arg-type]
    now = dt.datetime.now(dt.UTC)
    key, cert = issue_cert(
        ca, "controller", not_valid_before=now - dt.timedelta(days=30), not_valid_after=now - dt.timedelta(days=1)
    )
    expired = write_cert(certs / "expired", "controller", key, cert, certs / "ca.pem")

    # Act
    error = _node_call(
        tls_federation.node_address("local1"), channel_credentials(expired.ca, expired.cert, expired.key)
    )

    # Assert
    assert error.code() is grpc.StatusCode.UNAVAILABLE


def test_node_refuses_another_node(tls_federation: LocalFederation) -> None:
    # Arrange: local1's own certificate, used as a client of local2
    local1 = tls_federation.cert_files("local1")

    # Act
    error = _node_call(tls_federation.node_address("local2"), channel_credentials(local1.ca, local1.cert, local1.key))

    # Assert
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    refused = [e for e in read_audit(tls_federation.workdir / "local2" / AUDIT_FILE) if e["event"] == "call_refused"]
    assert refused
    assert "local1" in str(refused[-1]["caller"])


def test_node_health_needs_only_a_certificate_of_the_ca(tls_federation: LocalFederation) -> None:
    # Arrange: the client certificate verifies, but "client" may not call NodeService
    files = tls_federation.cert_files("client")
    credentials = channel_credentials(files.ca, files.cert, files.key)

    # Act
    with grpc.secure_channel(tls_federation.node_address("local1"), credentials) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    error = _node_call(tls_federation.node_address("local1"), credentials)

    # Assert
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


def test_controller_refuses_client_without_certificate(tls_federation: LocalFederation) -> None:
    # the controller requires client certificates (client_auth = "mtls"): the handshake fails,
    # and the message says so rather than asking whether the controller runs
    with (
        Controller(tls_federation.controller_address, ca_file=tls_federation.cert_files().ca) as controller,
        pytest.raises(NodeUnavailableError) as caught,
    ):
        controller.datasets()

    assert "TLS handshake" in caught.value.message
    assert "is it running" not in caught.value.message


def test_token_controller_refuses_missing_and_wrong_tokens(
    tls_federation: LocalFederation, token_controller: str
) -> None:
    ca = tls_federation.cert_files().ca
    for token in ("", "wrong-token"):
        with Controller(token_controller, ca_file=ca, token=token) as controller, pytest.raises(UnauthenticatedError):
            controller.datasets()


def test_token_controller_health_needs_no_token(tls_federation: LocalFederation, token_controller: str) -> None:
    credentials = channel_credentials(tls_federation.cert_files().ca)
    with grpc.secure_channel(token_controller, credentials) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


# --- only the installed library runs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"udf_name": "__import__('os').system('id')"}, grpc.StatusCode.NOT_FOUND),
        ({"udf_name": "os.system"}, grpc.StatusCode.NOT_FOUND),
        (
            {"udf_name": "kmeans.local_calc", "table_arguments": {"data": 'x"; DROP TABLE datasets; --'}},
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
)
def test_node_runs_only_installed_udfs_on_valid_tables(
    tls_federation: LocalFederation, request_fields: dict[str, object], code: grpc.StatusCode
) -> None:
    files = tls_federation.cert_files("controller")
    credentials = channel_credentials(files.ca, files.cert, files.key)
    request = node_service_pb2.ExecuteUDFRequest(
        experiment_id="securitytest", request_id=str(uuid.uuid4()), **request_fields
    )
    with grpc.secure_channel(tls_federation.node_address("local1"), credentials) as channel:
        stub = node_service_pb2_grpc.NodeServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ExecuteUDF(request, timeout=10)
    assert info.value.code() is code


# --- audit ------------------------------------------------------------------------------------


# restarts local1 (its port changes), so it runs last in this module
def test_audit_log_records_experiment_and_survives_restart(tls_federation: LocalFederation, client: Controller) -> None:
    # Arrange
    audit = tls_federation.workdir / "local1" / AUDIT_FILE
    before = set(_experiments(audit))

    # Act
    client.run(
        "kmeans",
        data_model="demo:1.0",
        datasets=[d.code for d in client.datasets()],
        y=["hippocampus"],
        parameters=KMEANS_PARAMS,
    )
    new = set(_experiments(audit)) - before - {""}
    (experiment_id,) = {e for e in new if not e.startswith("canary-")}  # the health canary may run meanwhile
    recorded = _events_after_cleanup(audit, experiment_id)
    tls_federation.restart("local1")
    after_restart = _experiments(audit)[experiment_id]

    # Assert
    kinds = {str(e["event"]) for e in recorded}
    assert {"data_view", "udf", "table_sent", "tables_deleted"} <= kinds
    assert all(e["caller"] == "cert:controller" for e in recorded)
    view = next(e for e in recorded if e["event"] == "data_view")
    assert isinstance(view["rows"], int)
    assert view["rows"] > 0
    sent = [e for e in recorded if e["event"] == "table_sent"]
    assert all(isinstance(e["bytes"], int) and e["bytes"] > 0 and e["is_complete"] for e in sent)
    assert after_restart == recorded
