"""The gateway's configuration: one frozen dataclass, from TOML plus MIP_GATEWAY_* variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mip_common.settings import ConfigError, build_config

__all__ = ["GatewayConfig", "load_gateway_config"]


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Every gateway setting, with its default. See the README's configuration table."""

    controller: str
    """host:port of the controller's ControllerService."""
    listen_address: str = "127.0.0.1:0"
    """host:port to serve HTTP on; port 0 picks a free port."""
    request_timeout_s: float = 3600.0
    """Longest an algorithm request may take (the experiment's own budget is the controller's)."""
    port_file: str = ""
    """If set, the bound port is written there once the gateway serves."""
    log_json: bool = False
    """Log one JSON object per line instead of text."""
    log_level: str = "INFO"
    """Python logging level."""
    tls_ca_file: str = ""
    """PEM CA of the controller's certificate; setting it calls the controller over TLS."""
    tls_cert_file: str = ""
    """PEM client certificate presented to the controller (its client_auth = "mtls")."""
    tls_key_file: str = ""
    """PEM private key of ``tls_cert_file``."""
    https_cert_file: str = ""
    """PEM certificate to serve HTTPS with; empty serves plain HTTP."""
    https_key_file: str = ""
    """PEM private key of ``https_cert_file``."""

    def __post_init__(self) -> None:
        if ":" not in self.controller:
            raise ConfigError(f"controller must be host:port, got {self.controller!r}")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("a client certificate needs both tls_cert_file and tls_key_file")
        if self.tls_cert_file and not self.tls_ca_file:
            raise ConfigError("tls_cert_file needs tls_ca_file (the controller is called over TLS)")
        if bool(self.https_cert_file) != bool(self.https_key_file):
            raise ConfigError("HTTPS needs both https_cert_file and https_key_file")


def load_gateway_config(path: Path | None, env: Mapping[str, str] = os.environ) -> GatewayConfig:
    """Read ``[gateway]`` from ``path`` and apply ``MIP_GATEWAY_<SETTING>`` overrides."""
    raw: dict[str, Any] = dict(tomllib.loads(path.read_text())["gateway"]) if path else {}
    prefix = "MIP_GATEWAY_"
    raw |= {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
    return build_config(GatewayConfig, raw)
