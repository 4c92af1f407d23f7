"""A demo federation with the nodes' default disclosure settings, attacked by a researcher with controller access."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from tests.integration.conftest import PROBE_SETTINGS

SITE1 = ["demo_site1_a", "demo_site1_b"]
"""Both datasets of local1: a request naming only them runs on local1 alone."""


@pytest.fixture(scope="session")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    workdir = tmp_path_factory.mktemp("attacked")
    folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=200, seed=5)
    with LocalFederation(workdir, [[f] for f in folders], node_settings=PROBE_SETTINGS) as federation:
        yield federation


@pytest.fixture(scope="session")
def attacked_secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """The same data behind a controller that merges sums by secure aggregation."""
    workdir = tmp_path_factory.mktemp("attacked_secure")
    folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=200, seed=5)
    with LocalFederation(
        workdir, [[f] for f in folders], node_settings=PROBE_SETTINGS, controller_settings={"secure_aggregation": True}
    ) as federation:
        yield federation


@pytest.fixture(scope="session")
def researcher(attacked: LocalFederation) -> Iterator[Controller]:
    with Controller(attacked.controller_address) as client:
        yield client


def site_rows(federation: LocalFederation, dataset: str) -> list[dict[str, str]]:
    """The rows of one demo dataset, as the attacker is assumed to know them."""
    path = federation.workdir / "data" / "local1" / f"{dataset}.csv"
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def one_row_rule(row: dict[str, str]) -> dict[str, Any]:
    """A filter rule that matches exactly ``row`` (its hippocampus volume is unique in the demo data)."""
    return {
        "id": "hippocampus",
        "field": "hippocampus",
        "type": "double",
        "operator": "equal",
        "value": float(row["hippocampus"]),
    }


def rows_filter(rows: list[dict[str, str]]) -> dict[str, Any]:
    """A filter selecting exactly ``rows``."""
    return {"condition": "OR", "rules": [one_row_rule(r) for r in rows], "valid": True}


def complete(rows: list[dict[str, str]], *columns: str) -> list[dict[str, str]]:
    return [r for r in rows if all(r[c] != "" for c in columns)]


def numbers(value: Any) -> Iterator[float]:
    """Every number inside a result."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)


def data_folder(federation: LocalFederation) -> Path:
    return federation.workdir / "data"
