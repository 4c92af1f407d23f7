"""gRPC servers and channels, set up the same way in every process."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mip_common.interceptors import ErrorMappingInterceptor
from mip_common.reflection import enable_reflection

__all__ = [
    "CHANNEL_OPTIONS",
    "SERVER_OPTIONS",
    "ServingServer",
    "is_loopback",
    "open_channel",
    "start_server",
    "wait_for_stop",
]

log = logging.getLogger(__name__)

CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.initial_reconnect_backoff_ms", 100),
)
"""Every channel: keepalive pings notice a dead peer within ~40 s, even between calls."""

SERVER_OPTIONS = (
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 20_000),
)
"""Every server accepts the channels' pings (gRPC's defaults answer them with GOAWAY too_many_pings)."""


@dataclass
class ServingServer:
    """A started server, the port it bound, and its health servicer."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer

    async def stop(self, grace_s: float = 5.0) -> None:
        """Tell health checkers first, then drain calls for at most ``grace_s``."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


def is_loopback(listen_address: str) -> bool:
    """Whether a ``host:port`` listen address is reachable only from this machine."""
    host = listen_address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def start_server(
    listen_address: str,
    servicers: Sequence[tuple[object, object, str]],
    *,
    credentials: grpc.ServerCredentials | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> ServingServer:
    """Start a ``grpc.aio`` server with health, reflection and error mapping.

    ``servicers`` are ``(servicer, add_to_server_function, full_service_name)``.
    """
    server = grpc.aio.server(interceptors=[*interceptors, ErrorMappingInterceptor()], options=SERVER_OPTIONS)
    names = []
    for servicer, add, full_name in servicers:
        add(servicer, server)  # type: ignore[operator]
        names.append(full_name)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    if credentials is None:
        port = server.add_insecure_port(listen_address)
    else:
        port = server.add_secure_port(listen_address, credentials)
    if port == 0:
        raise OSError(f"could not bind {listen_address}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return ServingServer(server, port, health_servicer)


def open_channel(address: str, *, credentials: grpc.ChannelCredentials | None = None) -> grpc.aio.Channel:
    """An async channel to ``address`` with keepalive and fast reconnects."""
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)


async def wait_for_stop(stop: asyncio.Event | None = None) -> None:
    """Return on SIGINT or SIGTERM, or when ``stop`` is set (tests stop servers that way)."""
    event = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, event.set)
    await event.wait()
