"""A real federation (1 global, 3 locals, controller) on 127.0.0.1, shared by the integration tests.

Its nodes run with ``REFERENCE_DISCLOSURE`` (exact extremes, cells of any size), so results
can be compared with centralized computations; ``tests/privacy`` attacks a federation with
the default disclosure settings.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from tests.helpers.reference import REFERENCE_DISCLOSURE

PROBE_SETTINGS: dict[str, object] = {"extra_udf_packages": ["tests.udf_probes"]}
"""Lets test nodes run the misbehaving UDFs of ``tests/udf_probes`` besides the library."""


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    workdir = tmp_path_factory.mktemp("federation")
    folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=200, seed=11)
    federation = LocalFederation(
        workdir, [[f] for f in folders], node_settings=PROBE_SETTINGS | REFERENCE_DISCLOSURE, is_gateway=True
    )
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
