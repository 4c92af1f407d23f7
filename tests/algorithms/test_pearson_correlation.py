"""Federated Pearson correlation equals scipy.stats.pearsonr on the pooled rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from algorithm_flows import AlgorithmError, Variable
from algorithm_flows.pearson_correlation_flow import PearsonCorrelationFlow
from algorithm_flows.testing import run_flow
from udf_library import ArrayBundle

RTOL = 1e-9
ATOL = 1e-12
NAMES = ["a", "b", "c", "d"]
VARIABLES = {name: Variable(name, "real", False) for name in [*NAMES, "flat"]}


def make_partitions(sizes: list[int], seed: int = 3) -> dict[str, ArrayBundle]:
    """Seeded correlated columns with large means, per node."""
    rng = np.random.default_rng(seed)
    parts = {}
    for i, size in enumerate(sizes):
        base = rng.normal(0.0, 1.0, size)
        columns: dict[str, Any] = {"dataset": np.array([f"ds{i}"] * size, dtype=object)}
        for k, name in enumerate(NAMES):
            columns[name] = 1000.0 * (k + 1) + (k + 1) * base + rng.normal(0.0, 1.5, size)
        columns["flat"] = np.full(size, 2.0)
        parts[f"local{i + 1}"] = ArrayBundle(columns)
    return parts


def pooled(parts: dict[str, ArrayBundle], name: str) -> np.ndarray:
    return np.concatenate([b[name] for b in parts.values()])


def assert_matches(
    result: dict[str, Any],
    parts: dict[str, ArrayBundle],
    rows: list[str],
    cols: list[str],
    alpha: float,
) -> None:
    assert result["correlations"]["variables"] == rows
    for col in cols:
        for i, row in enumerate(rows):
            test = stats.pearsonr(pooled(parts, row), pooled(parts, col))
            ci = test.confidence_interval(1.0 - alpha)
            actual = [
                result[key][col][i]
                for key in (
                    "correlations",
                    "p-values",
                    "low_confidence_intervals",
                    "high_confidence_intervals",
                )
            ]
            expected = [test.statistic, test.pvalue, ci.low, ci.high]
            np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f"{row}~{col}")


def test_federated_matrix_equals_pooled_scipy() -> None:
    # arrange
    parts = make_partitions([40, 300, 150])

    # act
    result = run_flow(PearsonCorrelationFlow, parts, VARIABLES, y=tuple(NAMES), parameters={"alpha": 0.05})

    # assert
    assert result["n_obs"] == 490
    assert_matches(result, parts, NAMES, NAMES, 0.05)


def test_x_gives_the_columns_and_y_the_rows() -> None:
    # arrange
    parts = make_partitions([40, 300, 150])

    # act
    result = run_flow(
        PearsonCorrelationFlow,
        parts,
        VARIABLES,
        y=("a", "b"),
        x=("c", "d"),
        parameters={"alpha": 0.1},
    )

    # assert
    assert set(result["correlations"]) == {"variables", "c", "d"}
    assert_matches(result, parts, ["a", "b"], ["c", "d"], 0.1)


def test_node_below_min_rows_is_left_out() -> None:
    # arrange
    parts = make_partitions([9, 100, 80])
    remaining = {k: v for k, v in parts.items() if k != "local1"}

    # act
    result = run_flow(PearsonCorrelationFlow, parts, VARIABLES, y=tuple(NAMES))

    # assert
    assert result["n_obs"] == 180
    assert_matches(result, remaining, NAMES, NAMES, 0.95)


def test_constant_variable_raises_a_clear_error() -> None:
    # arrange
    parts = make_partitions([40, 50, 60])

    # act / assert
    with pytest.raises(AlgorithmError, match=r"\['flat'\] do not vary"):
        run_flow(PearsonCorrelationFlow, parts, VARIABLES, y=("a", "flat"))
