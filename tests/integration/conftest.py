"""A real federation (1 global, 3 locals, controller) on 127.0.0.1, shared by the integration tests."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mip_controller.client import Controller
from mip_controller.demo_data import write_demo_federation
from mip_controller.federation import LocalFederation


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    workdir = tmp_path_factory.mktemp("federation")
    folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=200, seed=11)
    federation = LocalFederation(workdir, [[f] for f in folders], is_gateway=True)
    federation.start()
    try:
        yield federation
    finally:
        federation.stop()


@pytest.fixture(scope="session")
def controller(federation: LocalFederation) -> Iterator[Controller]:
    with Controller(federation.controller_address) as client:
        yield client


def pooled_rows(federation: LocalFederation, columns: list[str]) -> np.ndarray:
    """Every local node's demo rows of ``columns``, in node and file order, listwise complete."""
    rows = []
    for folder in sorted((federation.workdir / "data").iterdir()):
        for path in sorted(folder.glob("*.csv")):
            with path.open(newline="") as handle:
                for record in csv.DictReader(handle):
                    values = [record[c] for c in columns]
                    if all(v != "" for v in values):
                        rows.append([float(v) for v in values])
    return np.array(rows)


def demo_datasets(controller: Controller) -> list[str]:
    """Every dataset code of the demo federation."""
    return [d.code for d in controller.datasets()]


def data_folder(federation: LocalFederation, node_id: str) -> Path:
    """The demo data folder a local node loaded."""
    return federation.workdir / "data" / node_id
