"""The Node.js example client (examples/nodejs), built from the .proto files, against a real federation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mip_client.federation import LocalFederation
from mip_common.result_schema import RESULT_SCHEMAS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nodejs"


@pytest.fixture(scope="module")
def node_example() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed; the Node.js example cannot run")
    if not (EXAMPLE / "node_modules" / "@grpc" / "grpc-js").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, check=True, capture_output=True, timeout=300
        )
    return EXAMPLE


@pytest.mark.slow
def test_nodejs_client_lists_algorithms_and_runs_kmeans(node_example: Path, federation: LocalFederation) -> None:
    # Arrange
    command = ["node", "client.js", federation.controller_address, "demo:1.0"]

    # Act
    finished = subprocess.run(command, cwd=node_example, capture_output=True, text=True, timeout=120)

    # Assert
    assert finished.returncode == 0, finished.stderr
    events = [json.loads(line) for line in finished.stdout.splitlines()]
    assert "kmeans" in events[0]["algorithms"]
    assert events[1]["accepted"]["name"] == f"experiments/{events[1]['experiment_id']}"
    assert any("step_progress" in e for e in events)
    (step,) = events[-1]["result"]
    assert step["algorithm"] == "kmeans"
    assert len(step["result"]["centroids"]) == 3
    assert step["result"]["n_obs"] > 0
    assert list(step["result"]) == [f.name for f in RESULT_SCHEMAS["kmeans"]]  # result_json keeps the order


def test_nodejs_client_reports_an_unreachable_controller(node_example: Path) -> None:
    # Act
    finished = subprocess.run(
        ["node", "client.js", "127.0.0.1:1"], cwd=node_example, capture_output=True, text=True, timeout=60
    )

    # Assert
    assert finished.returncode == 1
    assert finished.stderr.startswith("error: ")
