"""Edge cases through real nodes, on a demo federation altered on purpose.

* ``demo_site3_b`` keeps 5 rows: a request naming only it on local3 leaves local3 below
  ``min_rows`` (10), so local3 is left out and the result says so;
* ``ventricles`` is rewritten as ``hippocampus + entorhinal``: perfectly collinear;
* local2 holds no ``AD`` row: a categorical level missing on one node.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common.errors import DataRejectedError

TINY_DATASET = "demo_site3_b"
TINY_ROWS = 5


def _rewrite(path: Path, keep: int | None = None, drop_diagnosis: str = "") -> None:
    with path.open(newline="") as handle:
        records = list(csv.DictReader(handle))
    fields = list(records[0])
    records = [r for r in records if r["diagnosis"] != drop_diagnosis][:keep]
    for record in records:
        record["ventricles"] = repr(float(record["hippocampus"]) + float(record["entorhinal"]))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


@pytest.fixture(scope="module")
def altered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Controller, Path]]:
    workdir = tmp_path_factory.mktemp("edge")
    folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=80, seed=7)
    for folder in folders:
        for path in sorted(folder.glob("*.csv")):
            _rewrite(
                path,
                keep=TINY_ROWS if path.stem == TINY_DATASET else None,
                drop_diagnosis="AD" if folder.name == "local2" else "",
            )
    with (
        LocalFederation(workdir, [[f] for f in folders]) as federation,
        Controller(federation.controller_address) as client,
    ):
        yield client, workdir / "data"


def _rows(data: Path, datasets: Sequence[str], columns: Sequence[str]) -> list[dict[str, str]]:
    """The pooled rows of ``datasets`` complete in ``columns``, in node and file order."""
    rows = []
    for path in sorted(data.glob("local*/*.csv")):
        if path.stem in datasets:
            with path.open(newline="") as handle:
                rows += [r for r in csv.DictReader(handle) if all(r[c] != "" for c in columns)]
    return rows


def _ols(
    rows: list[dict[str, str]], y: str, categorical: str, numeric: Sequence[str]
) -> sm.regression.linear_model.RegressionResults:
    """statsmodels OLS with the categorical dummy-coded against its first level, as the reference cases."""
    levels = sorted({r[categorical] for r in rows})
    design = [
        [1.0, *[float(r[categorical] == level) for level in levels[1:]], *[float(r[c]) for c in numeric]] for r in rows
    ]
    return sm.OLS(np.array([float(r[y]) for r in rows]), np.array(design)).fit()


def test_a_node_under_min_rows_is_left_out_and_the_rest_equals_the_reference(
    altered: tuple[Controller, Path],
) -> None:
    # Arrange
    client, data = altered
    datasets = ["demo_site1_a", "demo_site2_a", TINY_DATASET]
    expected = _ols(_rows(data, datasets[:2], ["cognition", "gender", "age"]), "cognition", "gender", ["age"])

    # Act
    outcome = client.run(
        "linear_regression", data_model="demo:1.0", datasets=datasets, y=["cognition"], x=["gender", "age"]
    )

    # Assert
    assert sorted(outcome.participants) == ["local1", "local2"]
    assert list(outcome.exclusions) == ["local3"]
    assert "minimum" in outcome.exclusions["local3"]
    assert outcome.result["n_obs"] == expected.nobs
    np.testing.assert_allclose(outcome.result["coefficients"], expected.params, rtol=1e-8)
    np.testing.assert_allclose(outcome.result["std_err"], expected.bse, rtol=1e-8)


@pytest.mark.parametrize(
    ("algorithm", "y", "parameters"),
    [
        ("linear_regression", "cognition", {}),
        ("logistic_regression", "amyloid", {"positive_class": "positive"}),
    ],
)
def test_perfectly_collinear_columns_are_refused_naming_them(
    altered: tuple[Controller, Path], algorithm: str, y: str, parameters: dict[str, str]
) -> None:
    # Arrange
    client, _ = altered

    # Act
    with pytest.raises(DataRejectedError) as error:
        client.run(
            algorithm,
            data_model="demo:1.0",
            datasets=["demo_site1_a", "demo_site2_a", "demo_site3_a"],
            y=[y],
            x=["hippocampus", "entorhinal", "ventricles"],
            parameters=parameters,
        )

    # Assert
    message = str(error.value)
    assert "collinear" in message
    assert all(name in message for name in ("hippocampus", "entorhinal", "ventricles"))


def test_a_level_missing_on_one_node_is_coded_like_the_reference(altered: tuple[Controller, Path]) -> None:
    # Arrange
    client, data = altered
    datasets = ["demo_site1_a", "demo_site2_a", "demo_site2_b", "demo_site3_a"]
    rows = _rows(data, datasets, ["cognition", "diagnosis", "age"])
    expected = _ols(rows, "cognition", "diagnosis", ["age"])

    # Act
    outcome = client.run(
        "linear_regression", data_model="demo:1.0", datasets=datasets, y=["cognition"], x=["diagnosis", "age"]
    )

    # Assert
    assert "AD" not in {r["diagnosis"] for r in _rows(data, ["demo_site2_a", "demo_site2_b"], ["diagnosis"])}
    assert outcome.result["indep_vars"] == ["Intercept", "diagnosis[CN]", "diagnosis[MCI]", "age"]
    np.testing.assert_allclose(outcome.result["coefficients"], expected.params, rtol=1e-8)
    np.testing.assert_allclose(outcome.result["std_err"], expected.bse, rtol=1e-8)
