"""The MonetDB server tests run against: the one ``MIP_MONETDB_URL`` names, or one of their own.

``scripts/test.sh`` (and so CI) starts the prebuilt server in ``../shared/monetdb`` and sets
``MIP_MONETDB_URL``. Without it, MonetDB cases skip with a message saying how to run them,
except under ``CI=true``, where a MonetDB case that cannot run fails: CI must not pass by
skipping them.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from mip_node.db import MonetDBSettings

URL_VARIABLE = "MIP_MONETDB_URL"
SHARED_MONETDB = Path(__file__).resolve().parents[3] / "shared" / "monetdb"
HOW_TO_RUN = (
    f"set {URL_VARIABLE}=monetdb://USER:PASSWORD@HOST:PORT/DATABASE to run the MonetDB cases, e.g. "
    f"{URL_VARIABLE}=$(../shared/monetdb/start.sh /tmp/mip-monetdb 50000 demo) "
    "(./scripts/test.sh does this when ../shared/monetdb is beside the checkout)"
)


def is_ci() -> bool:
    """Whether this is a CI run, where MonetDB cases must run rather than skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip the calling test with ``reason``; under CI fail with it instead."""
    if is_ci():
        pytest.fail(f"CI=true, so MonetDB cases must run: {reason}", pytrace=False)
    pytest.skip(reason)


def settings_from_url(url: str) -> MonetDBSettings:
    """``monetdb://user:password@host:port/database`` as settings (schema left to the caller)."""
    parsed = urlparse(url)
    if parsed.scheme != "monetdb" or not parsed.hostname or not parsed.path.strip("/"):
        raise pytest.UsageError(f"{URL_VARIABLE}={url!r} is not monetdb://user:password@host:port/database")
    return MonetDBSettings(
        host=parsed.hostname,
        port=parsed.port or 50000,
        database=parsed.path.strip("/"),
        user=unquote(parsed.username or "monetdb"),
        password=unquote(parsed.password or "monetdb"),
    )


@functools.cache
def monetdb_settings() -> MonetDBSettings | None:
    """The server ``MIP_MONETDB_URL`` names, or None."""
    url = os.environ.get(URL_VARIABLE, "")
    return settings_from_url(url) if url else None


def connect(settings: MonetDBSettings, timeout_s: int = 5) -> Any:
    import pymonetdb

    return pymonetdb.connect(
        settings.database,
        hostname=settings.host,
        port=settings.port,
        username=settings.user,
        password=settings.password,
        autocommit=True,
        connect_timeout=timeout_s,
    )


@functools.cache
def monetdb_unavailable() -> str | None:
    """Why the MonetDB cases cannot run here, or None when they can."""
    settings = monetdb_settings()
    if settings is None:
        return f"{URL_VARIABLE} is not set; {HOW_TO_RUN}"
    try:
        connect(settings).close()
    except Exception as exc:
        return f"{URL_VARIABLE} names a server that cannot be reached ({exc}); {HOW_TO_RUN}"
    return None


def require_monetdb() -> MonetDBSettings:
    """The server of ``MIP_MONETDB_URL``; skips (fails under CI) when there is none."""
    if reason := monetdb_unavailable():
        skip_or_fail(reason)
    settings = monetdb_settings()
    assert settings is not None
    return settings


def drop_schemas(settings: MonetDBSettings, schemas: list[str]) -> None:
    """Drop node schemas and their ``_meta`` schemas, if they exist."""
    connection = connect(settings)
    try:
        cursor = connection.cursor()
        for schema in schemas:
            for name in (schema, f"{schema}_meta"):
                cursor.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        connection.close()


def node_settings(settings: MonetDBSettings) -> dict[str, object]:
    """Node config entries that store in this server (each node in its default schema ``mip_<node_id>``)."""
    return {
        "db_backend": "monetdb",
        "monetdb_host": settings.host,
        "monetdb_port": settings.port,
        "monetdb_database": settings.database,
        "monetdb_user": settings.user,
        "monetdb_password": settings.password,
    }


@dataclass
class OwnServer:
    """A MonetDB server a test starts, stops and starts again (the shared prebuilt one)."""

    directory: Path
    port: int
    database: str = "mip"

    @property
    def settings(self) -> MonetDBSettings:
        return MonetDBSettings(port=self.port, database=self.database)

    def start(self) -> None:
        subprocess.run(
            ["bash", str(SHARED_MONETDB / "start.sh"), str(self.directory), str(self.port), self.database],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def stop(self) -> None:
        subprocess.run(["bash", str(SHARED_MONETDB / "stop.sh"), str(self.directory)], check=True, timeout=60)


def free_port() -> int:
    """A port nothing listens on now (the server started next takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
