"""`mip federation up/down` start and stop a real federation, with demo data or a MIP data-model folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.mip_data import DATA, require_shared, split_datasets
from tests.helpers.monetdb import connect, drop_schemas, require_monetdb

MIP = str(Path(sys.executable).parent / "mip")


def _mip(*args: str, cwd: Path) -> str:
    result = subprocess.run([MIP, *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _up_list_down(tmp_path: Path, *up_args: str) -> list[dict[str, object]]:
    workdir = tmp_path / "fed"
    address = _mip("federation", "up", "--workdir", str(workdir), *up_args, cwd=tmp_path).strip().splitlines()[0]
    try:
        datasets: list[dict[str, object]] = json.loads(
            _mip("datasets", "--json", "--controller", address, cwd=tmp_path)
        )
    finally:
        _mip("federation", "down", "--workdir", str(workdir), cwd=tmp_path)
    assert not (workdir / "federation.json").exists()
    return datasets


@pytest.mark.slow
def test_federation_up_with_demo_data(tmp_path: Path) -> None:
    datasets = _up_list_down(tmp_path, "--locals", "2")

    assert sorted((d["code"], d["nodeIds"][0]) for d in datasets) == [  # type: ignore[index]
        ("demo_site1_a", "local1"),
        ("demo_site1_b", "local1"),
        ("demo_site2_a", "local2"),
        ("demo_site2_b", "local2"),
    ]


@pytest.mark.slow
@pytest.mark.shared_data
def test_federation_up_splits_a_data_model_folder(tmp_path: Path) -> None:
    require_shared()

    datasets = _up_list_down(tmp_path, "--locals", "3", "--data", str(DATA / "dementia_v_0_1"))

    placed = {str(d["code"]): d["nodeIds"] for d in datasets}
    assert len(placed) == 30  # the *-test.csv files are left out by default
    for index, codes in enumerate(split_datasets(sorted(placed), 3)):
        assert all(placed[code] == [f"local{index + 1}"] for code in codes)


def test_federation_down_on_a_stopped_federation_succeeds(tmp_path: Path) -> None:
    # Act: nothing was started there (or it was stopped already)
    output = _mip("federation", "down", "--workdir", str(tmp_path / "fed"), cwd=tmp_path)

    # Assert
    assert "no federation running" in output


@pytest.mark.slow
def test_federation_up_with_monetdb_stores_every_node_in_it(tmp_path: Path) -> None:
    # Arrange
    settings = require_monetdb()
    schemas = ["mip_global", "mip_local1"]
    drop_schemas(settings, schemas)
    url = f"monetdb://{settings.user}:{settings.password}@{settings.host}:{settings.port}/{settings.database}"

    try:
        # Act
        datasets = _up_list_down(tmp_path, "--locals", "1", "--monetdb", url)

        # Assert: the node's datasets are recorded in its schema of that database
        connection = connect(settings)
        try:
            cursor = connection.cursor()
            cursor.execute('SELECT code FROM "mip_local1_meta".datasets ORDER BY code')
            stored = [r[0] for r in cursor.fetchall()]
        finally:
            connection.close()
        assert stored == sorted(str(d["code"]) for d in datasets) == ["demo_site1_a", "demo_site1_b"]
    finally:
        drop_schemas(settings, schemas)


def test_federation_up_refuses_a_monetdb_address_that_is_not_a_url(tmp_path: Path) -> None:
    result = subprocess.run(
        [MIP, "federation", "up", "--workdir", str(tmp_path / "fed"), "--monetdb", "localhost:50000"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "monetdb://user:password@host:port/database" in result.stderr


@pytest.mark.slow
def test_mip_demo_runs_kmeans_across_the_hospitals_and_leaves_nothing(tmp_path: Path) -> None:
    """The README's first command: it must work under the nodes' default disclosure settings."""
    # Act
    output = _mip("demo", cwd=tmp_path)

    # Assert
    assert "kmeans (step0)" in output
    assert "centroids" in output
    assert "no process left behind" in output
