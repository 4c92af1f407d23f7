"""The ``mip-node`` command: run a node, or load data into a running one."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import grpc

from mip_common._proto import node_service_pb2, node_service_pb2_grpc
from mip_common.errors import MipError
from mip_common.logs import configure_logging
from mip_common.status import error_from_rpc
from mip_node.config import load_node_config
from mip_node.server import serve

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``mip-node`` and ``python -m mip_node``."""
    parser = argparse.ArgumentParser(prog="mip-node", description="Run a mip-mesh node.")
    parser.add_argument("--config", type=Path, help="node TOML file ([node] table)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="serve NodeService (the default)")
    load = commands.add_parser("load", help="load a data-model folder into a running local node")
    load.add_argument("folder", help="folder on the node's machine with CDEsMetadata.json and CSVs")
    load.add_argument("--node", required=True, help="address of the node, host:port")
    load.add_argument("--exclude", action="append", default=[], help="CSV glob to leave out")
    args = parser.parse_args(argv)
    try:
        if args.command == "load":
            asyncio.run(_load(args.node, args.folder, args.exclude))
            return
        config = load_node_config(args.config)
        configure_logging(config.node_id, level=config.log_level, is_json=config.log_json)
        asyncio.run(serve(config))
    except MipError as exc:
        print(f"mip-node: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


async def _load(address: str, folder: str, exclude: list[str]) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = node_service_pb2_grpc.NodeServiceStub(channel)
        try:
            response = await stub.LoadDataModel(
                node_service_pb2.LoadDataModelRequest(folder=str(Path(folder).resolve()), exclude_globs=exclude),
                timeout=600,
            )
        except grpc.RpcError as err:
            raise error_from_rpc(err, context=address) from None
    for dataset in response.datasets:
        print(f"{response.data_model}\t{dataset.code}\t{dataset.row_count} rows")
