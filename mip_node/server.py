"""Starts a node: opens its database, loads its data folders, serves NodeService until stopped."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import grpc

from mip_common._proto import node_service_pb2, node_service_pb2_grpc
from mip_common.auth import AuthInterceptor, server_credentials
from mip_common.channels import is_loopback, start_server, wait_for_stop
from mip_common.errors import AlreadyExistsError, MipError
from mip_common.metrics import start_metrics_server
from mip_node.audit import AUDIT_FILE, AuditLog
from mip_node.config import NodeConfig
from mip_node.data_models import load_folder
from mip_node.db import Database, DuckDBDatabase, MonetDBDatabase, MonetDBSettings
from mip_node.sandbox import start_fork_server
from mip_node.servicer import NodeServicer
from mip_node.table_store import TableStore
from mip_node.workers import WorkerPool
from udf_library import discover_udfs

__all__ = ["open_database", "serve"]

log = logging.getLogger(__name__)

SERVICE_NAME = node_service_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name


def open_database(config: NodeConfig) -> Database:
    """The node's database, as its config chooses."""
    if config.db_backend == "duckdb":
        return DuckDBDatabase(config.data_dir / f"{config.node_id}.duckdb")
    if config.db_backend == "monetdb":
        return MonetDBDatabase(
            MonetDBSettings(
                host=config.monetdb_host,
                port=config.monetdb_port,
                database=config.monetdb_database,
                user=config.monetdb_user,
                password=config.monetdb_password,
                schema=config.monetdb_schema_name,
            )
        )
    raise MipError(f"database backend {config.db_backend!r} is not available in this build")


def _load_start_folders(config: NodeConfig, db: Database) -> None:
    for folder in config.data_folders:
        try:
            spec, loaded = load_folder(
                db, Path(folder), config.exclude_globs, missing_cde_columns=config.missing_cde_columns
            )
            log.info("data loaded", extra={"fields": {"data_model": spec.key, "datasets": len(loaded)}})
        except AlreadyExistsError as exc:
            log.info(
                "data already loaded, skipped",
                extra={"fields": {"folder": folder, "why": exc.message}},
            )


async def serve(config: NodeConfig, *, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop``), then drain calls and close the database."""
    if not config.is_tls and not is_loopback(config.listen_address):
        log.warning(
            "listening on a non-loopback address without TLS: anyone on the network can call "
            "this node; enable TLS before deploying",
            extra={"fields": {"address": config.listen_address}},
        )
    audit = AuditLog(config.data_dir / AUDIT_FILE, node_id=config.node_id, is_fsync=config.audit_fsync)
    if config.udf_isolation == "process":
        start_fork_server()
    db = open_database(config)
    workers = WorkerPool(config.udf_workers)
    if not config.is_global:
        _load_start_folders(config, db)
    udfs = discover_udfs()
    for package in config.extra_udf_packages:
        extra = discover_udfs(package)
        if clash := sorted(extra.keys() & udfs.keys()):
            raise MipError(f"extra_udf_packages: {package!r} redefines UDFs {clash[:5]}")
        log.warning("loading UDFs from outside the library", extra={"fields": {"package": package}})
        udfs |= extra
    store = TableStore(
        db,
        cache_bytes=config.table_cache_bytes,
        memo_s=config.request_memo_s,
        memo_entries=config.request_memo_entries,
    )
    servicer = NodeServicer(config, db, store, udfs, workers, audit=audit)
    credentials, interceptors = _security(config, audit)
    serving = await start_server(
        config.listen_address,
        [(servicer, node_service_pb2_grpc.add_NodeServiceServicer_to_server, SERVICE_NAME)],
        credentials=credentials,
        interceptors=interceptors,
    )
    metrics = start_metrics_server(config.metrics_address)
    host = config.listen_address.rsplit(":", 1)[0]
    if config.port_file:
        Path(config.port_file).write_text(str(serving.port))
    log.info(
        "node serving",
        extra={
            "fields": {
                "address": f"{host}:{serving.port}",
                "role": config.role,
                "udfs": len(udfs),
                "tls": config.is_tls,
            }
        },
    )
    print(f"MIP_NODE_READY {host}:{serving.port}", flush=True)
    try:
        await wait_for_stop(stop)
    finally:
        log.info("node stopping")
        stop_by = time.monotonic() + config.shutdown_grace_s
        if metrics is not None:
            metrics.stop()
        await serving.stop(config.shutdown_grace_s / 2)
        if not workers.shutdown(timeout_s=max(0.0, stop_by - time.monotonic()) / 2):
            log.warning("stop time ran out with calls still running; they are left behind")
        store.close(timeout_s=max(0.0, stop_by - time.monotonic()))
        db.close()
        audit.close()


def _security(config: NodeConfig, audit: AuditLog) -> tuple[grpc.ServerCredentials | None, list[AuthInterceptor]]:
    """TLS credentials requiring a client certificate, and the identity check, when TLS is on."""
    if not config.is_tls:
        return None, []
    credentials = server_credentials(
        config.tls_cert_file, config.tls_key_file, config.tls_ca_file, require_client_auth=True
    )

    def refused(method: str, caller: str, reason: str) -> None:
        audit.record("call_refused", method=method, caller=caller, reason=reason)

    return credentials, [
        AuthInterceptor("mtls", allowed_identities=config.allowed_client_identities, on_refused=refused)
    ]
