"""The node's configuration: one frozen dataclass, from a TOML file plus MIP_NODE_* variables."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mip_common.settings import ConfigError, build_config
from udf_library import DEFAULT_MIN_ROWS, EXTREMES_MODES, DisclosurePolicy

__all__ = ["NodeConfig", "load_node_config"]

_SCHEMA = re.compile(r"[a-z][a-z0-9_]{0,50}")


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Every node setting, with its default. See the README's configuration table."""

    node_id: str
    """Unique id of the node in the federation, for example "hospital-a"."""
    role: str = "local"
    """"global" (aggregates, no primary data) or "local" (next to the data)."""
    listen_address: str = "127.0.0.1:0"
    """host:port to serve on; port 0 picks a free port (printed at start)."""
    data_dir: Path = Path("node-data")
    """Directory of the node's database file and audit log."""
    db_backend: str = "duckdb"
    """"duckdb" (one file in data_dir) or "monetdb" (a MonetDB server, the monetdb_* settings)."""
    monetdb_host: str = "127.0.0.1"
    """Host of the MonetDB server (db_backend = "monetdb")."""
    monetdb_port: int = 50000
    """Port of the MonetDB server."""
    monetdb_database: str = "mip"
    """MonetDB database the node keeps its tables in."""
    monetdb_user: str = "monetdb"
    """MonetDB user."""
    monetdb_password: str = field(default="monetdb", repr=False)
    """MonetDB password; better given as MIP_NODE_MONETDB_PASSWORD than in the file."""
    monetdb_schema: str = ""
    """Schema of the node's tables (its metadata goes in <schema>_meta); empty: mip_<node_id>."""
    data_folders: tuple[str, ...] = ()
    """MIP data-model folders to load at start (already-loaded datasets are skipped)."""
    exclude_globs: tuple[str, ...] = ("*-test.csv",)
    """CSV file names to leave out when loading folders."""
    missing_cde_columns: str = "refuse"
    """A CSV without some CDE columns: "refuse" it naming them, or load them as missing values ("empty")."""
    min_rows: int = DEFAULT_MIN_ROWS
    """Fewest rows a local node computes on; fewer is refused (privacy threshold)."""
    min_cell_rows: int = 0
    """Fewest rows behind a cell of a shared output (cluster, level, class, bin, fold); 0: min_rows."""
    extremes: str = "coded"
    """How minima, maxima and quantiles leave the node: "coded" (mean of the min_cell_rows values
    around the rank), "suppress" (null) or "exact" (single rows' values: the operator accepts the risk)."""
    max_table_bytes: int = 1 << 30
    """Largest table CreateTable accepts."""
    max_experiment_bytes: int = 4 << 30
    """Most bytes of tables CreateTable accepts for one experiment."""
    extra_udf_packages: tuple[str, ...] = ()
    """Python packages of UDFs to load besides udf_library (tests only; production runs the library alone)."""
    max_shareable_rows: int = 100_000
    """Most rows a shareable output computed from private data may have."""
    udf_workers: int = 2
    """UDFs and database calls run at once; more wait in a queue."""
    udf_isolation: str = "thread"
    """"thread": UDFs run in the node's worker threads (fast); "process": each UDF call runs in a
    forked child that udf_timeout_s and udf_memory_bytes can stop (costs a fork, ~10-30 ms)."""
    udf_timeout_s: float = 600.0
    """Longest a UDF call may run (0: no limit): then it fails DEADLINE_EXCEEDED; a child process is
    killed, a thread is abandoned (it cannot be killed) and its worker is free again."""
    udf_memory_bytes: int = 0
    """With process isolation: most memory a UDF call may allocate (0: no limit)."""
    table_cache_bytes: int = 1 << 30
    """Memory for experiment tables; beyond it, tables already on disk are read back when used."""
    chunk_bytes: int = 1 << 20
    """Size of the Arrow IPC chunks tables are streamed in."""
    log_json: bool = False
    """Log one JSON object per line instead of text."""
    log_level: str = "INFO"
    """Python logging level."""
    metrics_address: str = ""
    """host:port of the Prometheus /metrics endpoint (port 0 picks a free one); empty disables it."""
    port_file: str = ""
    """If set, the bound port is written there once the node serves (used by launchers)."""
    tls_cert_file: str = ""
    """PEM certificate the node serves with; setting it (with key and CA) turns TLS on."""
    tls_key_file: str = ""
    """PEM private key of ``tls_cert_file``."""
    tls_ca_file: str = ""
    """PEM CA that signed the controller's client certificate; TLS clients must present one."""
    allowed_client_identities: tuple[str, ...] = ("controller",)
    """Certificate identities (common name or DNS name) allowed to call NodeService under TLS."""
    audit_fsync: bool = True
    """fsync the audit log (``<data_dir>/audit.jsonl``) after every event."""
    request_memo_s: float = 600.0
    """How long the response of a mutating call is remembered for a retry with the same request id."""
    request_memo_entries: int = 10_000
    """Most responses remembered; the oldest are forgotten first."""
    shutdown_grace_s: float = 8.0
    """Time to stop: running calls finish, then tables and live responses are written (tables first)."""

    def __post_init__(self) -> None:
        if self.role not in ("global", "local"):
            raise ConfigError(f"role must be 'global' or 'local', got {self.role!r}")
        if self.db_backend not in ("duckdb", "monetdb"):
            raise ConfigError(f"db_backend must be 'duckdb' or 'monetdb', got {self.db_backend!r}")
        if self.db_backend == "monetdb" and self.monetdb_schema and not _SCHEMA.fullmatch(self.monetdb_schema):
            raise ConfigError(f"monetdb_schema must match {_SCHEMA.pattern}, got {self.monetdb_schema!r}")
        if self.udf_isolation not in ("thread", "process"):
            raise ConfigError(f"udf_isolation must be 'thread' or 'process', got {self.udf_isolation!r}")
        if self.missing_cde_columns not in ("refuse", "empty"):
            raise ConfigError(f"missing_cde_columns must be 'refuse' or 'empty', got {self.missing_cde_columns!r}")
        if self.request_memo_s < 0 or self.request_memo_entries < 0 or self.shutdown_grace_s < 0:
            raise ConfigError("request_memo_s, request_memo_entries and shutdown_grace_s must not be negative")
        if self.min_rows < 1:
            raise ConfigError("min_rows must be at least 1")
        if self.min_cell_rows < 0:
            raise ConfigError("min_cell_rows must be 0 (same as min_rows) or more")
        if self.extremes not in EXTREMES_MODES:
            raise ConfigError(f"extremes must be one of {list(EXTREMES_MODES)}, got {self.extremes!r}")
        if self.max_table_bytes < 1 or self.max_experiment_bytes < 1:
            raise ConfigError("max_table_bytes and max_experiment_bytes must be positive")
        tls = [self.tls_cert_file, self.tls_key_file, self.tls_ca_file]
        if any(tls) and not all(tls):
            raise ConfigError("TLS needs all of tls_cert_file, tls_key_file and tls_ca_file (the node requires mTLS)")
        if any(tls) and not self.allowed_client_identities:
            raise ConfigError("allowed_client_identities must name at least one controller identity")

    @property
    def monetdb_schema_name(self) -> str:
        """The schema of the node's MonetDB tables: ``monetdb_schema``, or ``mip_<node_id>``."""
        if self.monetdb_schema:
            return self.monetdb_schema
        return ("mip_" + re.sub(r"[^a-z0-9]+", "_", self.node_id.lower()).strip("_"))[:50]

    @property
    def disclosure_policy(self) -> DisclosurePolicy:
        """The thresholds and extreme coding that UDFs and the output checks apply."""
        return DisclosurePolicy(self.min_rows, self.min_cell_rows or self.min_rows, self.extremes)

    @property
    def is_global(self) -> bool:
        """Whether this node aggregates (and so holds no primary data)."""
        return self.role == "global"

    @property
    def is_tls(self) -> bool:
        """Whether the node serves TLS and requires client certificates."""
        return bool(self.tls_cert_file)


def load_node_config(path: Path | None, env: Mapping[str, str] = os.environ) -> NodeConfig:
    """Read ``[node]`` from ``path`` and apply ``MIP_NODE_<SETTING>`` overrides; typos fail."""
    raw: dict[str, Any] = dict(tomllib.loads(path.read_text())["node"]) if path else {}
    raw |= {k.removeprefix("MIP_NODE_").lower(): v for k, v in env.items() if k.startswith("MIP_NODE_")}
    return build_config(NodeConfig, raw)
