"""The ``mip-node`` command: run a node, or load data into a running one."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import grpc

from mip_common._proto import node_service_pb2, node_service_pb2_grpc
from mip_common.auth import channel_credentials
from mip_common.errors import MipError
from mip_common.lifetime import die_with_parent_if_asked
from mip_common.logs import configure_logging
from mip_common.service_main import load_service_config
from mip_common.status import error_from_rpc
from mip_node.audit import AUDIT_FILE, read_audit
from mip_node.config import load_node_config
from mip_node.server import serve

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``mip-node`` and ``python -m mip_node``."""
    parser = argparse.ArgumentParser(prog="mip-node", description="Run a mip-mesh node.")
    parser.add_argument("--config", type=Path, help="node TOML file ([node] table)")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="serve NodeService (the default)")
    load = commands.add_parser("load", help="load a data-model folder into a running local node")
    load.add_argument("folder", help="folder on the node's machine with CDEsMetadata.json and CSVs")
    load.add_argument("--node", required=True, help="address of the node, host:port")
    load.add_argument("--exclude", action="append", default=[], help="CSV glob to leave out")
    load.add_argument("--ca", help="PEM CA of the node's certificate (a TLS node)")
    load.add_argument("--cert", help="PEM client certificate with an identity the node allows")
    load.add_argument("--key", help="PEM key of --cert")
    audit = commands.add_parser("audit", help="show the node's audit log (what ran on its data, what left it)")
    audit.add_argument("--experiment", help="only this experiment id")
    audit.add_argument("--json", action="store_true", help="print the events as JSON lines")
    for command in (run, audit):  # `mip-node audit --config node.toml` works as well as before the command
        command.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="node TOML file ([node] table)")
    args = parser.parse_args(argv)
    try:
        if args.command == "load":
            credentials = channel_credentials(args.ca, args.cert, args.key) if args.ca else None
            asyncio.run(_load(args.node, args.folder, args.exclude, credentials))
            return
        die_with_parent_if_asked()
        config = load_service_config(load_node_config, args.config, "node")
        if args.command == "audit":
            _show_audit(config.data_dir / AUDIT_FILE, args.experiment, is_json=args.json)
            return
        configure_logging(config.node_id, level=config.log_level, is_json=config.log_json)
        os.umask(0o077)  # database, WAL, spilled tables and audit log: readable by the node's user only
        asyncio.run(serve(config))
    except MipError as exc:
        print(f"mip-node: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


async def _load(
    address: str, folder: str, exclude: list[str], credentials: grpc.ChannelCredentials | None = None
) -> None:
    async with (
        grpc.aio.secure_channel(address, credentials) if credentials else grpc.aio.insecure_channel(address)
    ) as channel:
        stub = node_service_pb2_grpc.NodeServiceStub(channel)
        try:
            response = await stub.LoadDataModel(
                node_service_pb2.LoadDataModelRequest(folder=str(Path(folder).resolve()), exclude_globs=exclude),
                timeout=600,
            )
        except grpc.RpcError as err:
            raise error_from_rpc(err, context=address) from None
    for warning in response.warnings:
        print(f"mip-node: warning: {warning}", file=sys.stderr)
    for dataset in response.datasets:
        print(f"{response.data_model}\t{dataset.code}\t{dataset.row_count} rows")


_AUDIT_DETAIL_KEYS = ("udf", "table", "rows", "bytes", "datasets", "data_model", "method", "reason", "deleted")


def _show_audit(path: Path, experiment_id: str | None, *, is_json: bool) -> None:
    events = list(read_audit(path, experiment_id=experiment_id))
    if is_json:
        for event in events:
            print(json.dumps(event))
        return
    if not events:
        print(f"no audit events in {path}" + (f" for experiment {experiment_id}" if experiment_id else ""))
        return
    for event in events:
        details = " ".join(f"{k}={event[k]}" for k in _AUDIT_DETAIL_KEYS if event.get(k) not in (None, "", []))
        if event.get("event") == "udf":
            details += f" outputs={[(o['output'], o['rows'], o['privacy']) for o in event.get('outputs', [])]}"
        who = event.get("caller") or "-"
        print(f"{event['time']}  {event['event']:<15} {event.get('experiment_id') or '-':<24} {who}  {details}")
