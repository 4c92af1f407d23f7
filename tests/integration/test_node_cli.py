"""`mip-node` against a real node: loading a folder with warnings, reading the audit log as the README writes it."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation

MIP_NODE = [sys.executable, "-m", "mip_node"]


def mip_node(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MIP_NODE, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def empty_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    with LocalFederation(tmp_path_factory.mktemp("node_cli"), [[]]) as federation:
        yield federation


def test_load_warns_about_a_header_only_csv(empty_node: LocalFederation, tmp_path: Path) -> None:
    # Arrange: one good file, one with only its header
    [folder] = write_demo_federation(tmp_path / "data", num_locals=1, rows_per_dataset=20, seed=2)
    first = sorted(folder.glob("*.csv"))[0]
    with first.open(newline="") as handle:
        header = next(csv.reader(handle))
    (folder / "zz_empty.csv").write_text(",".join(header) + "\n")

    # Act
    finished = mip_node("load", str(folder), "--node", empty_node.node_address("local1"))

    # Assert
    assert finished.returncode == 0, finished.stderr
    assert "warning: zz_empty.csv: no rows (only a header); nothing loaded from it" in finished.stderr
    assert "demo_site1_a" in finished.stdout


def test_audit_reads_the_config_given_after_the_command(empty_node: LocalFederation) -> None:
    # Arrange: as the README writes it, `mip-node audit --config node.toml`
    config = empty_node.processes["local1"].config

    # Act
    finished = mip_node("audit", "--config", config, "--json")

    # Assert
    assert finished.returncode == 0, finished.stderr
