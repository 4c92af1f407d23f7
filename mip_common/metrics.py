"""Prometheus metrics of the controller and the nodes, and the HTTP endpoint that serves them.

Every process defines the same metrics (the registry is per process); each fills in those that
concern it: the controller counts experiments, steps, rounds, bytes copied between nodes and
node states; a node times its UDFs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "BYTES_COPIED",
    "EXPERIMENTS",
    "NODE_STATE",
    "ROUND_SECONDS",
    "STEP_SECONDS",
    "UDF_SECONDS",
    "MetricsServer",
    "set_node_state",
    "start_metrics_server",
]

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

EXPERIMENTS = Counter(
    "mip_experiments",
    "Experiments the controller ran, by outcome (finished or failed) and failure reason.",
    ["outcome", "reason"],
)
STEP_SECONDS = Histogram(
    "mip_step_seconds",
    "Wall time of one experiment step, by algorithm.",
    ["algorithm"],
    buckets=_LATENCY_BUCKETS,
)
ROUND_SECONDS = Histogram(
    "mip_round_seconds",
    "Wall time of one runtime move (a round over the nodes), by move.",
    ["move"],
    buckets=_LATENCY_BUCKETS,
)
BYTES_COPIED = Counter(
    "mip_bytes_copied",
    "Arrow IPC bytes the controller streamed from node to node, by direction.",
    ["direction"],
)
NODE_STATE = Gauge(
    "mip_node_state",
    "1 for each node's current state as the controller's health monitor sees it, 0 for the others.",
    ["node_id", "state"],
)
UDF_SECONDS = Histogram(
    "mip_udf_seconds",
    "Run time of one UDF call on this node, by UDF.",
    ["udf"],
    buckets=_LATENCY_BUCKETS,
)


def set_node_state(node_id: str, state: str, states: Iterable[str]) -> None:
    """Mark ``state`` as ``node_id``'s current state among ``states``."""
    for name in states:
        NODE_STATE.labels(node_id=node_id, state=name).set(1.0 if name == state else 0.0)


@dataclass
class MetricsServer:
    """A running metrics endpoint and the address it bound."""

    server: WSGIServer
    address: str

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def start_metrics_server(metrics_address: str) -> MetricsServer | None:
    """Serve ``/metrics`` on ``host:port`` (port 0 picks a free one) in a thread; ``""`` disables it."""
    if not metrics_address:
        return None
    host, sep, port = metrics_address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"metrics_address {metrics_address!r} must be host:port, or empty to disable metrics")
    server, _ = start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0")
    address = f"{host}:{server.server_port}"
    log.info("metrics serving", extra={"fields": {"address": address}})
    print(f"MIP_METRICS_READY {address}", flush=True)
    return MetricsServer(server, address)
