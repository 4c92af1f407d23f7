"""``--backend duckdb|monetdb|both`` for the benchmarks: where the nodes of a benchmark federation store.

With ``monetdb`` (or ``both``) the nodes store in the MonetDB database ``--monetdb URL``
names, one schema per node, emptied before each run; without a URL the prebuilt server
in ../shared/monetdb is started in a temporary directory for the run and stopped after.
``both`` runs DuckDB first, then MonetDB, in one process, and prints the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pymonetdb

from mip_client.federation import monetdb_node_settings

__all__ = ["add_backend_options", "backend_settings", "backends", "print_ratios"]

SHARED_MONETDB = Path(__file__).resolve().parents[2] / "shared" / "monetdb"


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["duckdb", "monetdb", "both"], default="duckdb")
    parser.add_argument(
        "--monetdb",
        metavar="URL",
        help="monetdb://user:password@host:port/database (default: start ../shared/monetdb for the run)",
    )


@contextlib.contextmanager
def backends(args: argparse.Namespace) -> Iterator[list[tuple[str, str]]]:
    """The (backend, MonetDB URL or "") pairs to run, with a MonetDB server up while they run."""
    names = ["duckdb", "monetdb"] if args.backend == "both" else [args.backend]
    if "monetdb" not in names:
        yield [(n, "") for n in names]
        return
    with _monetdb_url(args.monetdb) as url:
        yield [(n, url if n == "monetdb" else "") for n in names]


def backend_settings(backend: str, url: str, node_ids: list[str]) -> dict[str, object]:
    """Node settings for ``backend``; for MonetDB, the nodes' schemas are emptied first."""
    if backend == "duckdb":
        return {}
    settings = monetdb_node_settings(url)
    connection = pymonetdb.connect(
        str(settings["monetdb_database"]),
        hostname=str(settings["monetdb_host"]),
        port=int(str(settings["monetdb_port"])),
        username=str(settings["monetdb_user"]),
        password=str(settings["monetdb_password"]),
        autocommit=True,
    )
    try:
        cursor = connection.cursor()
        for node_id in node_ids:
            for schema in (f"mip_{node_id}", f"mip_{node_id}_meta"):
                cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        connection.close()
    return settings


def print_ratios(results: dict[str, dict[str, float]], unit: str) -> dict[str, float]:
    """MonetDB / DuckDB per measure, printed side by side; returns the ratios."""
    if set(results) != {"duckdb", "monetdb"}:
        return {}
    ratios = {k: results["monetdb"][k] / results["duckdb"][k] for k in results["duckdb"] if results["duckdb"][k]}
    print(f"  {'':28s} {'duckdb':>10s} {'monetdb':>10s}  ratio")
    for key, ratio in ratios.items():
        print(f"  {key:28s} {results['duckdb'][key]:8.1f}{unit} {results['monetdb'][key]:8.1f}{unit}  {ratio:5.2f}x")
    return ratios


@contextlib.contextmanager
def _monetdb_url(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    if not (SHARED_MONETDB / "start.sh").exists():
        raise SystemExit(f"--backend monetdb needs --monetdb URL or the prebuilt server in {SHARED_MONETDB}")
    with tempfile.TemporaryDirectory(prefix="mip-bench-monetdb-") as directory:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        started = subprocess.run(
            ["bash", str(SHARED_MONETDB / "start.sh"), directory, str(port), "bench"],
            capture_output=True,
            text=True,
            check=True,
        )
        try:
            yield started.stdout.strip().splitlines()[-1]
        finally:
            subprocess.run(["bash", str(SHARED_MONETDB / "stop.sh"), directory], check=False)
