"""Prometheus endpoints of the controller and every node, scraped after a real experiment."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common.errors import InvalidRequestError

pytestmark = pytest.mark.slow

VARIABLES = ["hippocampus", "entorhinal"]


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    workdir = tmp_path_factory.mktemp("metered")
    folders = write_demo_federation(workdir / "data", num_locals=2, rows_per_dataset=100, seed=5)
    federation = LocalFederation(
        workdir,
        [[f] for f in folders],
        node_settings={"metrics_address": "127.0.0.1:0"},
        controller_settings={"metrics_address": "127.0.0.1:0", "health_interval_s": 0.5},
    )
    federation.start()
    try:
        yield federation
    finally:
        federation.stop()


def metrics_address(federation: LocalFederation, name: str) -> str:
    """The address a process printed in its log when its metrics endpoint started."""
    log = Path(federation.processes[name].log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if found := re.search(r"MIP_METRICS_READY (\S+)", log.read_text()):
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"{name} printed no MIP_METRICS_READY line")


def scrape(address: str) -> dict[str, float]:
    """Every sample of ``/metrics`` as {'name{labels}': value}."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def test_counters_move_after_experiments(metered: LocalFederation) -> None:
    # Arrange
    controller_metrics = metrics_address(metered, "controller")
    with Controller(metered.controller_address) as mip:
        datasets = [d.code for d in mip.datasets()]

        # Act
        mip.run(
            "kmeans",
            data_model="demo:1.0",
            datasets=datasets,
            y=VARIABLES,
            parameters={"numOfClusters": 2, "numOfIterations": 5, "initialMax": 50.0},
        )
        with pytest.raises(InvalidRequestError):
            mip.run("kmeans", data_model="demo:1.0", datasets=datasets, y=["no_such_variable"])
    samples = scrape(controller_metrics)
    local = scrape(metrics_address(metered, "local1"))

    # Assert
    assert samples['mip_experiments_total{outcome="finished",reason=""}'] == 1
    assert samples['mip_experiments_total{outcome="failed",reason="INVALID_REQUEST"}'] == 1
    assert samples['mip_step_seconds_count{algorithm="kmeans"}'] == 1
    assert samples['mip_round_seconds_count{move="execute_udf_locals"}'] >= 5
    assert samples['mip_bytes_copied_total{direction="locals_to_global"}'] > 0
    assert samples['mip_bytes_copied_total{direction="global_to_locals"}'] > 0
    assert samples['mip_node_state{node_id="local1",state="up"}'] == 1
    assert samples['mip_node_state{node_id="local1",state="down"}'] == 0
    assert sum(v for k, v in local.items() if k.startswith("mip_udf_seconds_count")) >= 5


def test_metrics_are_off_by_default(federation: LocalFederation) -> None:
    # Act
    log = Path(federation.processes["controller"].log).read_text()

    # Assert
    assert "MIP_METRICS_READY" not in log
