"""Every algorithm gives the same federated result whether the nodes store in DuckDB or in MonetDB.

One small federation per backend (real processes: a global node, two locals, the
controller) runs one request per registered algorithm; each result on MonetDB must equal
the one on DuckDB (numbers within 1e-9 relative). The MonetDB federation uses the server
``MIP_MONETDB_URL`` names (``scripts/test.sh`` starts one) and its default node schemas,
which it empties before and after.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from algorithm_flows import discover_flows
from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common.errors import MipError
from tests.helpers.monetdb import drop_schemas, node_settings, require_monetdb
from tests.helpers.reference import REFERENCE_DISCLOSURE

pytestmark = pytest.mark.slow

NODE_SCHEMAS = ["mip_global", "mip_local1", "mip_local2"]
VOLUMES = ["hippocampus", "entorhinal", "ventricles"]

REQUESTS: dict[str, dict[str, Any]] = {
    "anova": {"y": ["cognition"], "x": ["diagnosis", "gender"]},
    "anova_oneway": {"y": ["cognition"], "x": ["diagnosis"]},
    "decision_tree": {"y": ["diagnosis"], "x": VOLUMES[:2], "parameters": {"max_depth": 3}},
    "descriptive_stats": {"y": ["age", "cognition", "gender"]},
    "kmeans": {
        "y": VOLUMES[:2],
        "parameters": {"numOfClusters": 3, "numOfIterations": 10, "initialMin": 1.0, "initialMax": 3.0, "seed": 1},
    },
    "linear_regression": {"y": ["cognition"], "x": ["hippocampus", "age", "gender"]},
    "linear_regression_cv": {"y": ["cognition"], "x": ["hippocampus", "age"], "parameters": {"n_splits": 3}},
    "logistic_regression": {
        "y": ["amyloid"],
        "x": ["hippocampus", "age"],
        "parameters": {"positive_class": "positive"},
    },
    "logistic_regression_cv": {
        "y": ["amyloid"],
        "x": ["hippocampus", "age"],
        "parameters": {"positive_class": "positive", "n_splits": 3},
    },
    "multiple_histograms": {"y": ["cognition"], "x": ["gender"], "parameters": {"bins": 5}},
    "naive_bayes_categorical_cv": {"y": ["diagnosis"], "x": ["gender", "amyloid"], "parameters": {"n_splits": 3}},
    "naive_bayes_categorical_fit": {"y": ["diagnosis"], "x": ["gender", "amyloid"]},
    "naive_bayes_gaussian_cv": {"y": ["diagnosis"], "x": VOLUMES[:2], "parameters": {"n_splits": 3}},
    "naive_bayes_gaussian_fit": {"y": ["diagnosis"], "x": VOLUMES[:2]},
    "pca": {"y": VOLUMES},
    "pca_with_transformation": {"y": VOLUMES, "parameters": {"data_transformation": {"standardize": VOLUMES}}},
    "pearson_correlation": {"y": VOLUMES},
    "ttest_independent": {"y": ["cognition"], "x": ["gender"], "parameters": {"groupA": "F", "groupB": "M"}},
    "ttest_onesample": {"y": ["cognition"], "parameters": {"mu": 1.0}},
    "ttest_paired": {"y": ["hippocampus"], "x": ["entorhinal"]},
}

Outcomes = dict[str, dict[str, Any]]


def run_every_algorithm(backend: str, workdir: Path) -> dict[str, Any]:
    """Each algorithm's result (or the error it raised) on a fresh federation storing in ``backend``."""
    settings: dict[str, object] = dict(REFERENCE_DISCLOSURE)  # every algorithm must give a result to compare
    monetdb = None
    if backend == "monetdb":
        monetdb = require_monetdb()
        drop_schemas(monetdb, NODE_SCHEMAS)
        settings |= node_settings(monetdb)
    folders = write_demo_federation(workdir / "data", num_locals=2, rows_per_dataset=60, seed=7)
    results: dict[str, Any] = {}
    try:
        with (
            LocalFederation(
                workdir / "run",
                [[f] for f in folders],
                node_settings=settings,
                controller_settings={"canary_interval_s": 0},
            ) as federation,
            Controller(federation.controller_address) as controller,
        ):
            datasets = [d.code for d in controller.datasets()]
            for algorithm, request in REQUESTS.items():
                try:
                    outcome = controller.run(
                        algorithm,
                        data_model="demo:1.0",
                        datasets=datasets,
                        y=request["y"],
                        x=request.get("x", []),
                        parameters=request.get("parameters", {}),
                    )
                    results[algorithm] = outcome.result
                except MipError as exc:
                    results[algorithm] = f"{type(exc).__name__}: {exc.message}"
    finally:
        if monetdb is not None:
            drop_schemas(monetdb, NODE_SCHEMAS)
    return results


@pytest.fixture(scope="module")
def outcomes() -> Outcomes:
    """Results per backend, filled on first use: each backend's federation runs once per module."""
    return {}


def results_of(outcomes: Outcomes, backend: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if backend not in outcomes:
        outcomes[backend] = run_every_algorithm(backend, tmp_path_factory.mktemp(backend))
    return outcomes[backend]


def differences(expected: Any, actual: Any, where: str = "result") -> list[str]:
    """Where ``actual`` differs from ``expected``: numbers within 1e-9 relative, everything else exactly."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.keys() != actual.keys():
            return [f"{where}: keys {sorted(expected)} != {sorted(actual)}"]
        return [d for k in expected for d in differences(expected[k], actual[k], f"{where}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items != {len(actual)}"]
        return [
            d for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for d in differences(e, a, f"{where}[{i}]")
        ]
    is_number = isinstance(expected, float | int) and not isinstance(expected, bool)
    if is_number and isinstance(actual, float | int) and not isinstance(actual, bool):
        if math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(expected) and math.isnan(actual)):
            return []
    elif expected == actual:
        return []
    return [f"{where}: {expected!r} != {actual!r}"]


def test_every_registered_algorithm_has_a_request() -> None:
    assert sorted(REQUESTS) == sorted(discover_flows())


@pytest.mark.parametrize("algorithm", sorted(REQUESTS))
def test_monetdb_gives_the_result_duckdb_gives(
    algorithm: str, outcomes: Outcomes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Arrange
    require_monetdb()
    duckdb = results_of(outcomes, "duckdb", tmp_path_factory)[algorithm]

    # Act
    monetdb = results_of(outcomes, "monetdb", tmp_path_factory)[algorithm]

    # Assert
    assert isinstance(duckdb, dict), f"the request itself fails on DuckDB: {duckdb}"
    assert not differences(duckdb, monetdb)
