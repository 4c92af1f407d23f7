"""dementia:0.1 split over 3 real local nodes: the catalogue, and reference results through the mesh."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mip_client.client import Controller
from mip_client.federation import LocalFederation, split_data_folder
from tests.helpers.mip_data import DATA, REFERENCE_CASES, require_shared, split_datasets


@pytest.fixture(scope="module")
def dementia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    require_shared()
    workdir = tmp_path_factory.mktemp("dementia")
    folders = split_data_folder(DATA / "dementia_v_0_1", workdir / "data", 3)
    with (
        LocalFederation(workdir, [[f] for f in folders], node_settings={"missing_cde_columns": "empty"}) as federation,
        Controller(federation.controller_address) as client,
    ):
        yield client


def test_catalogue_places_each_dataset_on_its_node(dementia: Controller) -> None:
    datasets = dementia.datasets("dementia:0.1")

    placed = {d.code: list(d.node_ids) for d in datasets}
    expected = split_datasets(sorted(placed), 3)
    assert len(placed) == 30
    assert sum(d.row_count for d in datasets) == 2188
    for index, codes in enumerate(expected):
        assert all(placed[code] == [f"local{index + 1}"] for code in codes)
    assert not dementia.data_models().issues


def _first_case(name: str) -> dict[str, object]:
    path = REFERENCE_CASES / f"{name}.json"
    case: dict[str, object] = json.loads(Path(path).read_text())["test_cases"][0]
    return case


@pytest.mark.parametrize(
    ("algorithm", "fields"),
    [
        ("linear_regression", ["n_obs", "coefficients", "std_err", "t_stats", "pvalues", "r_squared", "f_stat"]),
        ("pca", ["n_obs", "eigen_vals"]),
        ("pearson_correlation", ["n_obs"]),
        ("ttest_onesample", ["n_obs", "t_value", "p_value", "df", "mean_diff", "cohens_d"]),
    ],
)
def test_first_reference_case_matches_through_real_nodes(
    dementia: Controller, algorithm: str, fields: list[str]
) -> None:
    # Arrange
    case = _first_case(algorithm)
    inputdata: dict[str, object] = case["input"]["inputdata"]  # type: ignore[index]
    expected: dict[str, object] = case["output"]  # type: ignore[assignment]

    # Act
    outcome = dementia.run(
        algorithm,
        data_model=str(inputdata["data_model"]),
        datasets=list(inputdata["datasets"]),  # type: ignore[call-overload]
        y=list(inputdata.get("y") or []),  # type: ignore[call-overload]
        x=list(inputdata.get("x") or []),  # type: ignore[call-overload]
        parameters=case["input"]["parameters"],  # type: ignore[index]
    )

    # Assert
    for field in fields:
        np.testing.assert_allclose(
            np.array(outcome.result[field], dtype=float),
            np.array(expected[field], dtype=float),
            rtol=1e-6,
            atol=1e-9,
            err_msg=field,
        )
