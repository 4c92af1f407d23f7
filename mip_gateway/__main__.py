"""``python -m mip_gateway --config gateway.toml`` (or ``mip-gateway``): serve the MIP HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from mip_common.errors import MipError
from mip_common.lifetime import die_with_parent_if_asked
from mip_common.logs import configure_logging
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
    parser = argparse.ArgumentParser(prog="mip-gateway", description="Serve the MIP HTTP/JSON API of a controller.")
    parser.add_argument("--config", type=Path, help="gateway TOML file ([gateway] table)")
    args = parser.parse_args(argv)
    try:
        die_with_parent_if_asked()
        config = load_gateway_config(args.config)
        configure_logging("gateway", level=config.log_level, is_json=config.log_json)
        asyncio.run(serve(config))
    except MipError as exc:
        print(f"mip-gateway: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
