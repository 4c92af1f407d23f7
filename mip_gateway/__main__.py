"""``python -m mip_gateway --config gateway.toml`` (or ``mip-gateway``): serve the MIP HTTP API."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import uvicorn

from mip_common.service_main import run_service
from mip_gateway.app import build_app
from mip_gateway.config import GatewayConfig, load_gateway_config

__all__ = ["main", "serve"]

log = logging.getLogger(__name__)


async def serve(config: GatewayConfig) -> None:
    """Serve until SIGINT/SIGTERM; the bound port is printed and written to ``port_file``."""
    host, _, port = config.listen_address.rpartition(":")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), int(port)))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(config),
            log_level=config.log_level.lower(),
            access_log=False,
            log_config=None,
            ssl_certfile=config.https_cert_file or None,
            ssl_keyfile=config.https_key_file or None,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.02)
    scheme = "https" if config.https_cert_file else "http"
    if config.port_file:
        Path(config.port_file).write_text(str(bound))
    log.info(
        "gateway serving", extra={"fields": {"address": f"{scheme}://{host}:{bound}", "controller": config.controller}}
    )
    print(f"MIP_GATEWAY_READY {host}:{bound}", flush=True)
    await task


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``mip-gateway`` and ``python -m mip_gateway``."""
    run_service("gateway", "Serve the MIP HTTP/JSON API of a controller.", load_gateway_config, serve, argv)


if __name__ == "__main__":
    main()
