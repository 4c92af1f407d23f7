"""The controller's configuration: one frozen dataclass, from TOML plus MIP_CONTROLLER_* variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mip_common.settings import ConfigError, build_config

__all__ = ["ControllerConfig", "NodeAddress", "load_controller_config", "parse_node"]


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """A node the controller calls: its id and host:port."""

    node_id: str
    address: str


def parse_node(text: str) -> NodeAddress:
    """``id@host:port`` as a NodeAddress."""
    node_id, sep, address = text.partition("@")
    if not sep or not node_id or ":" not in address:
        raise ConfigError(f"node {text!r} must be written id@host:port")
    return NodeAddress(node_id.strip(), address.strip())


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """Every controller setting, with its default. See the README's configuration table."""

    global_node: str
    """The global node, as id@host:port."""
    local_nodes: tuple[str, ...] = ()
    """The local nodes, each as id@host:port."""
    listen_address: str = "127.0.0.1:0"
    """host:port to serve ControllerService on; port 0 picks a free port."""
    experiment_timeout_s: float = 300.0
    """Default time budget of an experiment; every node call's deadline comes from it."""
    node_call_timeout_s: float = 60.0
    """Longest wait for any one node call within the experiment's budget: how soon a frozen node is noticed."""
    state_dir: Path = Path("/var/lib/mip-mesh/controller")
    """Where the controller keeps its journal of pending cleanups and its experiments."""
    experiment_retention_s: float = 7 * 24 * 3600.0
    """How long a finished experiment (state, result) stays readable with GetExperiment, across restarts."""
    canary_interval_s: float = 60.0
    """How often a tiny experiment runs through every node (0 turns it off)."""
    node_concurrency: int = 8
    """Calls in flight to one node at once; more wait in that node's queue."""
    chunk_bytes: int = 1 << 20
    """Size of the Arrow IPC chunks when the controller asks nodes for table data."""
    health_interval_s: float = 5.0
    """How often every node's heartbeat is polled."""
    catalogue_ttl_s: float = 5.0
    """How long the federation catalogue read from the nodes is reused."""
    log_json: bool = False
    """Log one JSON object per line instead of text."""
    log_level: str = "INFO"
    """Python logging level."""
    metrics_address: str = ""
    """host:port of the Prometheus /metrics endpoint (port 0 picks a free one); empty disables it."""
    port_file: str = ""
    """If set, the bound port is written there once the controller serves."""
    tls_cert_file: str = ""
    """PEM certificate of the controller: served to clients and presented to nodes (mTLS)."""
    tls_key_file: str = ""
    """PEM private key of ``tls_cert_file``."""
    tls_ca_file: str = ""
    """PEM CA that signed the nodes' certificates; setting the three tls_* files turns TLS on."""
    client_auth: str = "none"
    """How clients of ControllerService authenticate: "none", "mtls" (client certificate) or "token"."""
    client_ca_file: str = ""
    """PEM CA of client certificates under "mtls"; defaults to ``tls_ca_file``."""
    allowed_client_identities: tuple[str, ...] = ()
    """Client certificate identities allowed under "mtls"; empty allows any the client CA signed."""
    token_file: str = ""
    """File of accepted bearer tokens, one per line, for client_auth = "token"."""
    tokens: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    """Accepted bearer tokens, best given as MIP_CONTROLLER_TOKENS (comma-separated), not in TOML."""

    secure_aggregation: bool = False
    """Merge outputs declared merge="secure_sum" by secure aggregation: each local node masks its part."""

    def __post_init__(self) -> None:
        nodes = [self.global_node_address, *self.local_node_addresses]
        ids = [n.node_id for n in nodes]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"node ids must be unique, got {ids}")
        tls = [self.tls_cert_file, self.tls_key_file, self.tls_ca_file]
        if any(tls) and not all(tls):
            raise ConfigError("TLS needs all of tls_cert_file, tls_key_file and tls_ca_file")
        if self.experiment_retention_s < 0:
            raise ConfigError(f"experiment_retention_s must be 0 or more, got {self.experiment_retention_s}")
        if self.client_auth not in ("none", "mtls", "token"):
            raise ConfigError(f"client_auth must be 'none', 'mtls' or 'token', got {self.client_auth!r}")
        if self.client_auth != "none" and not self.is_tls:
            raise ConfigError(f"client_auth = {self.client_auth!r} needs TLS (set the tls_* files)")
        if self.client_auth == "token" and not (self.token_file or self.tokens):
            raise ConfigError("client_auth = 'token' needs token_file or tokens")

    @property
    def is_tls(self) -> bool:
        """Whether the controller serves TLS and calls nodes over mTLS."""
        return bool(self.tls_cert_file)

    @property
    def global_node_address(self) -> NodeAddress:
        """The global node."""
        return parse_node(self.global_node)

    @property
    def local_node_addresses(self) -> list[NodeAddress]:
        """The local nodes, in configuration order."""
        return [parse_node(n) for n in self.local_nodes]


def load_controller_config(path: Path | None, env: Mapping[str, str] = os.environ) -> ControllerConfig:
    """Read ``[controller]`` from ``path`` and apply ``MIP_CONTROLLER_<SETTING>`` overrides."""
    raw: dict[str, Any] = dict(tomllib.loads(path.read_text())["controller"]) if path else {}
    prefix = "MIP_CONTROLLER_"
    raw |= {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
    return build_config(ControllerConfig, raw)
