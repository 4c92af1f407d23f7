"""The `mip` command against a real federation: tables, --json, pipelines, plots, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mip_client.federation import LocalFederation

MIP = [sys.executable, "-c", "from mip_client.cli import main; main()"]
DATASETS = "demo_site1_a,demo_site2_a,demo_site3_a"


def mip(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MIP, *args], capture_output=True, text=True, timeout=180, cwd=cwd)


@pytest.mark.parametrize("command", ["algorithms", "datasets", "health"])
def test_catalogue_commands_print_tables_or_json(federation: LocalFederation, command: str) -> None:
    # Act
    table = mip(command, "--controller", federation.controller_address)
    as_json = mip(command, "--controller", federation.controller_address, "--json")

    # Assert
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[1].startswith("---")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)


def test_run_prints_json_only_and_draws_a_plot(federation: LocalFederation, tmp_path: Path) -> None:
    # Arrange
    plot = tmp_path / "kmeans.png"

    # Act
    finished = mip(
        "run", "kmeans", "--controller", federation.controller_address, "--data-model", "demo:1.0",
        "--datasets", DATASETS, "-y", "hippocampus", "-y", "entorhinal", "--param", "numOfClusters=3",
        "--param", "initialMax=50", "--json", "--plot", str(plot),
    )  # fmt: skip

    # Assert
    assert finished.returncode == 0, finished.stderr
    outcome = json.loads(finished.stdout)
    assert len(outcome["result"]["centroids"]) == 3
    assert sorted(outcome["participants"]) == ["local1", "local2", "local3"]
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_run_prints_readable_tables_and_progress(federation: LocalFederation) -> None:
    # Act
    finished = mip(
        "run", "linear_regression", "--controller", federation.controller_address, "--data-model", "demo:1.0",
        "--datasets", DATASETS, "-y", "hippocampus", "-x", "entorhinal,ventricles",
    )  # fmt: skip

    # Assert
    assert finished.returncode == 0, finished.stderr
    assert any(line.split()[:3] == ["indep_vars", "coefficients", "std_err"] for line in finished.stdout.splitlines())
    assert "step0 started" in finished.stderr
    assert "finished in" in finished.stderr


def test_pipeline_runs_steps_from_yaml(federation: LocalFederation, tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "experiment.yaml"
    path.write_text(
        f"inputdata: {{data_model: 'demo:1.0', datasets: [{DATASETS}]}}\n"
        "steps:\n"
        "  - {name: stats, algorithm: pearson_correlation, inputdata: {y: [hippocampus, entorhinal]}}\n"
        "  - name: clusters\n"
        "    algorithm: kmeans\n"
        "    inputdata: {y: [hippocampus, entorhinal]}\n"
        "    parameters: {numOfClusters: 2, initialMax: 50}\n"
    )

    # Act
    finished = mip("pipeline", str(path), "--controller", federation.controller_address, "--json")

    # Assert
    assert finished.returncode == 0, finished.stderr
    assert [s["step"] for s in json.loads(finished.stdout)] == ["stats", "clusters"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["algorithms", "--controller", "127.0.0.1:1"], "nothing is listening at 127.0.0.1:1"),
        (["run", "kmeans", "--controller", "127.0.0.1:1", "--request", "{dir}/bad.json"], "is not valid JSON"),
        (["pipeline", "{dir}/missing.yaml", "--controller", "127.0.0.1:1"], "missing.yaml does not exist"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    # Arrange
    (tmp_path / "bad.json").write_text("{bad")

    # Act
    finished = mip(*[a.format(dir=tmp_path) for a in args])

    # Assert
    assert finished.returncode == 1
    assert finished.stderr.count("\n") == 1
    assert finished.stderr.startswith("mip: error: ")
    assert message in finished.stderr


def test_unknown_algorithm_is_one_clear_line(federation: LocalFederation) -> None:
    # Act
    finished = mip(
        "run", "no_such_algorithm", "--controller", federation.controller_address,
        "--data-model", "demo:1.0", "--datasets", DATASETS, "-y", "hippocampus",
    )  # fmt: skip

    # Assert
    assert finished.returncode == 1
    assert "unknown algorithm 'no_such_algorithm'" in finished.stderr
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize(
    ("request_body", "unknown"),
    [
        ({"inputdata": {"data_model": "demo:1.0", "datasets": ["demo_site1_a"], "filter": {}}}, "'filter'"),
        ({"inputdata": {"data_model": "demo:1.0", "datasets": ["demo_site1_a"]}, "params": {}}, "'params'"),
    ],
)
def test_run_request_file_with_unknown_keys_is_refused(
    tmp_path: Path, request_body: dict[str, object], unknown: str
) -> None:
    # Arrange: a typo must not run the experiment on every row
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_body))

    # Act
    finished = mip("run", "kmeans", "--controller", "127.0.0.1:1", "--request", str(path))

    # Assert
    assert finished.returncode == 1
    assert "unknown keys" in finished.stderr
    assert unknown in finished.stderr
