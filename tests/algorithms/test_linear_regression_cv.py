"""Federated k-fold linear regression equals scikit-learn on the same pooled folds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from algorithm_flows import AlgorithmError, Variable
from algorithm_flows.linear_regression_cv_flow import LinearRegressionCVFlow
from algorithm_flows.testing import run_flow
from udf_library import ArrayBundle, assign_folds

RTOL = 1e-8
VARIABLES = {
    "y": Variable("y", "real", False),
    "x1": Variable("x1", "real", False),
    "group": Variable("group", "text", True, enumerations=("A", "B", "C")),
    "x1_copy": Variable("x1_copy", "real", False),
}


def make_partitions(
    sizes: list[int], seed: int = 21, levels_per_node: dict[int, list[str]] | None = None
) -> dict[str, ArrayBundle]:
    """Seeded rows per node: y depends on x1 and group, plus noise."""
    rng = np.random.default_rng(seed)
    parts = {}
    for i, size in enumerate(sizes):
        levels = (levels_per_node or {}).get(i, ["A", "B", "C"])
        x1 = rng.normal(100.0, 10.0, size)
        group = rng.choice(levels, size)
        y = 2.0 + 0.5 * x1 + np.where(group == "B", 4.0, 0.0) + rng.normal(0.0, 3.0, size)
        parts[f"local{i + 1}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * size, dtype=object),
                "y": y,
                "x1": x1,
                "group": np.array(group, dtype=object),
                "x1_copy": x1 * 2.0,
            }
        )
    return parts


def pooled_cv(parts: dict[str, ArrayBundle], x: list[str], n_splits: int, seed: int) -> dict[str, Any]:
    """scikit-learn per fold on the pooled rows, folds rebuilt node by node like the nodes do."""
    frame = pd.concat([pd.DataFrame({k: b[k] for k in b.names}) for b in parts.values()])
    folds = np.concatenate([assign_folds(b.num_rows, n_splits, seed) for b in parts.values()])
    columns = []
    for code in [c for c in x if VARIABLES[c].is_categorical]:
        for level in sorted(frame[code].unique())[1:]:
            columns.append((frame[code] == level).astype(float).to_numpy())
    columns += [frame[c].to_numpy(dtype=float) for c in x if not VARIABLES[c].is_categorical]
    design = np.column_stack(columns)
    target = frame["y"].to_numpy()
    metrics: dict[str, list[Any]] = {k: [] for k in ("n_obs", "mse", "mae", "r2", "f")}
    for fold in range(n_splits):
        train, test = folds != fold, folds == fold
        model = LinearRegression().fit(design[train], target[train])
        predicted = model.predict(design[test])
        metrics["n_obs"].append(int(test.sum()))
        metrics["mse"].append(mean_squared_error(target[test], predicted))
        metrics["mae"].append(mean_absolute_error(target[test], predicted))
        metrics["r2"].append(r2_score(target[test], predicted))
        metrics["f"].append(sm.OLS(target[train], sm.add_constant(design[train])).fit().fvalue)
    return metrics


def assert_matches(result: dict[str, Any], expected: dict[str, Any]) -> None:
    assert result["n_obs"] == expected["n_obs"]
    for ours, theirs in [
        ("mean_sq_error", "mse"),
        ("mean_abs_error", "mae"),
        ("r_squared", "r2"),
        ("f_stat", "f"),
    ]:
        np.testing.assert_allclose(result[ours], expected[theirs], rtol=RTOL, err_msg=ours)


def test_federated_folds_equal_pooled_sklearn() -> None:
    # arrange
    parts = make_partitions([60, 140, 100])
    params = {"n_splits": 4, "seed": 9}

    # act
    result = run_flow(LinearRegressionCVFlow, parts, VARIABLES, y=("y",), x=("x1", "group"), parameters=params)

    # assert
    assert result["indep_vars"] == ["Intercept", "group[B]", "group[C]", "x1"]
    assert_matches(result, pooled_cv(parts, ["x1", "group"], 4, 9))


def test_node_below_min_rows_is_left_out() -> None:
    # arrange
    parts = make_partitions([7, 140, 100])
    remaining = {k: v for k, v in parts.items() if k != "local1"}

    # act
    result = run_flow(LinearRegressionCVFlow, parts, VARIABLES, y=("y",), x=("x1",))

    # assert
    assert sum(result["n_obs"]) == 240
    assert_matches(result, pooled_cv(remaining, ["x1"], 5, 0))


def test_level_missing_on_one_node_is_coded_from_pooled_levels() -> None:
    # arrange
    parts = make_partitions([60, 140, 100], levels_per_node={0: ["A"], 2: ["B", "C"]})

    # act
    result = run_flow(
        LinearRegressionCVFlow,
        parts,
        VARIABLES,
        y=("y",),
        x=("group", "x1"),
        parameters={"n_splits": 3},
    )

    # assert
    assert_matches(result, pooled_cv(parts, ["group", "x1"], 3, 0))


def test_perfectly_collinear_columns_raise_a_clear_error() -> None:
    # arrange
    parts = make_partitions([60, 60, 60])

    # act / assert
    with pytest.raises(AlgorithmError, match=r"fold 1: .*\['x1', 'x1_copy'\] are perfectly collinear"):
        run_flow(LinearRegressionCVFlow, parts, VARIABLES, y=("y",), x=("x1", "x1_copy"))
