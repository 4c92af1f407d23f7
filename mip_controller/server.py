"""Starts the controller: node clients, catalogue, health polling, and ControllerService."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from algorithm_flows import discover_flows
from mip_common._proto import controller_service_pb2, controller_service_pb2_grpc
from mip_common.auth import AuthInterceptor, channel_credentials, read_tokens
from mip_common.auth import server_credentials as tls_server_credentials
from mip_common.channels import ServingServer, is_loopback, start_server, wait_for_stop
from mip_common.metrics import start_metrics_server
from mip_controller.catalogue import CatalogueCache
from mip_controller.cleanup import CleanupJournal
from mip_controller.config import ControllerConfig
from mip_controller.experiment_store import ExperimentStore
from mip_controller.experiments import ExperimentRunner
from mip_controller.health import HealthMonitor
from mip_controller.node_client import NodeClient
from mip_controller.servicer import ControllerServicer

__all__ = ["serve"]

log = logging.getLogger(__name__)

SERVICE_NAME = controller_service_pb2.DESCRIPTOR.services_by_name["ControllerService"].full_name


async def serve(config: ControllerConfig, *, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop``)."""
    if not config.is_tls and not is_loopback(config.listen_address):
        log.warning(
            "listening on a non-loopback address without TLS: anyone on the network can run "
            "experiments through this controller; enable TLS and client_auth before deploying",
            extra={"fields": {"address": config.listen_address}},
        )
    node_credentials = (
        channel_credentials(config.tls_ca_file, config.tls_cert_file, config.tls_key_file) if config.is_tls else None
    )
    server_credentials, interceptors = _security(config)
    clients = {
        n.node_id: NodeClient(
            n.node_id,
            n.address,
            concurrency=config.node_concurrency,
            chunk_bytes=config.chunk_bytes,
            credentials=node_credentials,
            call_timeout_s=config.node_call_timeout_s,
        )
        for n in [config.global_node_address, *config.local_node_addresses]
    }
    global_node = clients[config.global_node_address.node_id]
    local_nodes = {n.node_id: clients[n.node_id] for n in config.local_node_addresses}
    flows = discover_flows()
    catalogue = CatalogueCache(list(local_nodes.values()), config.catalogue_ttl_s)
    journal = CleanupJournal(config.state_dir / "pending_cleanups.json")
    runner = ExperimentRunner(
        global_node=global_node,
        local_nodes=local_nodes,
        catalogue=catalogue,
        flows=flows,
        default_timeout_s=config.experiment_timeout_s,
        secure_aggregation=config.secure_aggregation,
        journal=journal,
    )
    store = ExperimentStore(runner, config.state_dir, config.experiment_retention_s)
    await asyncio.to_thread(store.load)
    serving_ref: list[ServingServer] = []
    status_updates: set[asyncio.Task[None]] = set()

    def follow_health(is_serving: bool) -> None:
        """The controller's grpc.health status follows the global node's reachability."""
        if serving_ref:
            status = (
                health_pb2.HealthCheckResponse.SERVING if is_serving else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            task = asyncio.create_task(serving_ref[0].health.set(SERVICE_NAME, status))
            status_updates.add(task)
            task.add_done_callback(status_updates.discard)

    monitor = HealthMonitor(
        global_node,
        list(local_nodes.values()),
        config.health_interval_s,
        follow_health,
        journal=journal,
        is_running=runner.running.__contains__,
        canary_interval_s=config.canary_interval_s,
    )
    servicer = ControllerServicer(store, catalogue, flows, monitor)
    serving = await start_server(
        config.listen_address,
        [
            (
                servicer,
                controller_service_pb2_grpc.add_ControllerServiceServicer_to_server,
                SERVICE_NAME,
            )
        ],
        credentials=server_credentials,
        interceptors=interceptors,
    )
    serving_ref.append(serving)
    monitor.start()
    metrics = start_metrics_server(config.metrics_address)
    host = config.listen_address.rsplit(":", 1)[0]
    if config.port_file:
        Path(config.port_file).write_text(str(serving.port))
    log.info(
        "controller serving",
        extra={
            "fields": {
                "address": f"{host}:{serving.port}",
                "nodes": len(clients),
                "algorithms": len(flows),
                "tls": config.is_tls,
                "client_auth": config.client_auth,
            }
        },
    )
    print(f"MIP_CONTROLLER_READY {host}:{serving.port}", flush=True)
    try:
        await wait_for_stop(stop)
    finally:
        await store.close()
        await monitor.stop()
        if metrics is not None:
            metrics.stop()
        await serving.stop(5.0)
        for client in clients.values():
            await client.close()


def _security(config: ControllerConfig) -> tuple[grpc.ServerCredentials | None, list[AuthInterceptor]]:
    """TLS credentials for ControllerService and the client check its ``client_auth`` asks for."""
    if not config.is_tls:
        return None, []
    is_mtls = config.client_auth == "mtls"
    credentials = tls_server_credentials(
        config.tls_cert_file,
        config.tls_key_file,
        (config.client_ca_file or config.tls_ca_file) if is_mtls else None,
        require_client_auth=is_mtls,
    )
    if is_mtls:
        return credentials, [AuthInterceptor("mtls", allowed_identities=config.allowed_client_identities)]
    if config.client_auth == "token":
        return credentials, [AuthInterceptor("token", tokens=read_tokens(config.token_file, config.tokens))]
    return credentials, []
