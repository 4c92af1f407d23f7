"""Federated k-fold logistic regression equals scikit-learn on the same pooled folds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from algorithm_flows import AlgorithmError, Variable
from algorithm_flows.logistic_regression_cv_flow import LogisticRegressionCVFlow
from algorithm_flows.testing import run_flow
from udf_library import ArrayBundle, assign_folds

AUC_ATOL = 5e-3  # our AUC is the trapezoid ROC area over a grid of 201 thresholds
VARIABLES = {
    "status": Variable("status", "text", True, enumerations=("AD", "CN")),
    "x1": Variable("x1", "real", False),
    "group": Variable("group", "text", True, enumerations=("A", "B", "C")),
    "x1_copy": Variable("x1_copy", "real", False),
}


def make_partitions(
    sizes: list[int], seed: int = 31, levels_per_node: dict[int, list[str]] | None = None
) -> dict[str, ArrayBundle]:
    """Seeded rows per node; the chance of AD grows with x1 and group B."""
    rng = np.random.default_rng(seed)
    parts = {}
    for i, size in enumerate(sizes):
        levels = (levels_per_node or {}).get(i, ["A", "B", "C"])
        x1 = rng.normal(0.0, 1.0, size)
        group = rng.choice(levels, size)
        eta = -0.3 + 1.2 * x1 + np.where(group == "B", 0.9, 0.0)
        status = np.where(rng.random(size) < 1.0 / (1.0 + np.exp(-eta)), "AD", "CN")
        parts[f"local{i + 1}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * size, dtype=object),
                "status": np.array(status, dtype=object),
                "x1": x1,
                "group": np.array(group, dtype=object),
                "x1_copy": 5.0 * x1,
            }
        )
    return parts


def pooled_cv(parts: dict[str, ArrayBundle], x: list[str], n_splits: int, seed: int) -> dict[str, Any]:
    """Unpenalized scikit-learn logistic regression per fold, folds rebuilt node by node."""
    frame = pd.concat([pd.DataFrame({k: b[k] for k in b.names}) for b in parts.values()])
    folds = np.concatenate([assign_folds(b.num_rows, n_splits, seed) for b in parts.values()])
    columns = []
    for code in [c for c in x if VARIABLES[c].is_categorical]:
        for level in sorted(frame[code].unique())[1:]:
            columns.append((frame[code] == level).astype(float).to_numpy())
    columns += [frame[c].to_numpy(dtype=float) for c in x if not VARIABLES[c].is_categorical]
    design = np.column_stack(columns)
    target = (frame["status"] == "AD").to_numpy().astype(int)
    metrics: dict[str, list[Any]] = {k: [] for k in ("n_obs", "accuracy", "precision", "recall", "fscore", "auc")}
    for fold in range(n_splits):
        train, test = folds != fold, folds == fold
        model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
        model.fit(design[train], target[train])
        predicted = model.predict(design[test])
        metrics["n_obs"].append(int(test.sum()))
        metrics["accuracy"].append(accuracy_score(target[test], predicted))
        metrics["precision"].append(precision_score(target[test], predicted))
        metrics["recall"].append(recall_score(target[test], predicted))
        metrics["fscore"].append(f1_score(target[test], predicted))
        metrics["auc"].append(roc_auc_score(target[test], model.predict_proba(design[test])[:, 1]))
    return metrics


def assert_matches(result: dict[str, Any], expected: dict[str, Any]) -> None:
    assert result["n_obs"] == expected["n_obs"]
    for key in ("accuracy", "precision", "recall", "fscore"):
        np.testing.assert_allclose(result[key], expected[key], rtol=1e-12, err_msg=key)
    np.testing.assert_allclose(result["auc"], expected["auc"], atol=AUC_ATOL, err_msg="auc")


def run(parts: dict[str, ArrayBundle], x: tuple[str, ...], **parameters: Any) -> dict[str, Any]:
    return run_flow(
        LogisticRegressionCVFlow,
        parts,
        VARIABLES,
        y=("status",),
        x=x,
        parameters={"positive_class": "AD", **parameters},
    )


def test_federated_folds_equal_pooled_sklearn() -> None:
    # arrange
    parts = make_partitions([80, 220, 150])

    # act
    result = run(parts, ("x1", "group"), n_splits=4, seed=3)

    # assert
    assert result["indep_vars"] == ["Intercept", "group[B]", "group[C]", "x1"]
    assert_matches(result, pooled_cv(parts, ["x1", "group"], 4, 3))


def test_node_below_min_rows_is_left_out() -> None:
    # arrange
    parts = make_partitions([8, 220, 150])
    remaining = {k: v for k, v in parts.items() if k != "local1"}

    # act
    result = run(parts, ("x1",))

    # assert
    assert sum(result["n_obs"]) == 370
    assert_matches(result, pooled_cv(remaining, ["x1"], 5, 0))


def test_level_missing_on_one_node_is_coded_from_pooled_levels() -> None:
    # arrange
    parts = make_partitions([80, 220, 150], levels_per_node={1: ["A", "C"]})

    # act
    result = run(parts, ("group", "x1"), n_splits=3)

    # assert
    assert_matches(result, pooled_cv(parts, ["group", "x1"], 3, 0))


def test_perfectly_collinear_columns_raise_a_clear_error() -> None:
    # arrange
    parts = make_partitions([60, 60, 60])

    # act / assert
    with pytest.raises(AlgorithmError, match=r"fold 1: .*\['x1', 'x1_copy'\] are perfectly collinear"):
        run(parts, ("x1", "x1_copy"))
