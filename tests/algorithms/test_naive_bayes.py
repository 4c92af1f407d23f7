"""Federated naive Bayes (fit and cross-validation) equals scikit-learn on the pooled rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.naive_bayes import CategoricalNB, GaussianNB

from algorithm_flows import AlgorithmError, Variable
from algorithm_flows.naive_bayes_categorical_cv_flow import CategoricalNBCVFlow
from algorithm_flows.naive_bayes_categorical_fit_flow import CategoricalNBFitFlow
from algorithm_flows.naive_bayes_gaussian_cv_flow import GaussianNBCVFlow
from algorithm_flows.naive_bayes_gaussian_fit_flow import GaussianNBFitFlow
from algorithm_flows.testing import run_flow
from tests.helpers.reference import REFERENCE_DISCLOSURE
from udf_library import ArrayBundle, assign_folds

CLASSES = ("setosa", "versicolor", "virginica", "unseen")  # "unseen" never occurs
COLORS = ("red", "green", "blue", "violet")  # "violet" never occurs
SIZES = ("S", "M", "L")

VARIABLES = {
    "species": Variable("species", "text", True, enumerations=CLASSES),
    "width": Variable("width", "real", False),
    "height": Variable("height", "real", False),
    "age": Variable("age", "int", False),
    "color": Variable("color", "text", True, enumerations=COLORS),
    "size": Variable("size", "text", True, enumerations=SIZES),
}
NUMERIC = ("width", "height", "age")
CATEGORICAL = ("color", "size")


def make_partitions(sizes: tuple[int, ...], seed: int = 7) -> dict[str, ArrayBundle]:
    """Seeded rows per node; classes shift the numbers and the category odds."""
    rng = np.random.default_rng(seed)
    parts = {}
    for i, n in enumerate(sizes):
        labels = rng.integers(0, 3, n)
        color_p = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])[labels]
        colors = np.array([rng.choice(3, p=p) for p in color_p])
        parts[f"local{i + 1}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * n, dtype=object),
                "species": np.array([CLASSES[c] for c in labels], dtype=object),
                "width": rng.normal(labels * 1.5, 1.0 + labels * 0.3),
                "height": rng.normal(10.0 - labels, 2.0),
                "age": rng.integers(20, 80, n) + labels * 3,
                "color": np.array([COLORS[c] for c in colors], dtype=object),
                "size": np.array([SIZES[s] for s in rng.integers(0, 3, n)], dtype=object),
            }
        )
    return parts


def pooled(parts: dict[str, ArrayBundle], names: tuple[str, ...]) -> ArrayBundle:
    nodes = sorted(parts)
    return ArrayBundle({c: np.concatenate([parts[n][c] for n in nodes]) for c in names})


def encode(values: np.ndarray, levels: tuple[str, ...]) -> np.ndarray:
    order = sorted(levels)
    return np.array([order.index(v) for v in values])


# ----------------------------------------------------------------------------- Gaussian


def test_gaussian_fit_equals_sklearn_on_pooled_rows() -> None:
    # Arrange
    parts = make_partitions((60, 45, 80))
    rows = pooled(parts, ("species", *NUMERIC))
    expected = GaussianNB().fit(rows.matrix(list(NUMERIC)), rows["species"])
    # Act
    result = run_flow(GaussianNBFitFlow, parts, VARIABLES, y=("species",), x=NUMERIC, **REFERENCE_DISCLOSURE)
    # Assert
    assert result["classes"] == list(expected.classes_)
    assert result["class_count"] == expected.class_count_.tolist()
    np.testing.assert_allclose(result["theta"], expected.theta_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result["var"], expected.var_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result["class_prior"], expected.class_prior_, rtol=1e-12)


def test_gaussian_fit_applies_var_smoothing_like_sklearn() -> None:
    # Arrange
    parts = make_partitions((50, 50, 50), seed=3)
    rows = pooled(parts, ("species", *NUMERIC))
    expected = GaussianNB(var_smoothing=0.05).fit(rows.matrix(list(NUMERIC)), rows["species"])
    # Act
    result = run_flow(
        GaussianNBFitFlow,
        parts,
        VARIABLES,
        y=("species",),
        x=NUMERIC,
        parameters={"var_smoothing": 0.05},
        **REFERENCE_DISCLOSURE,
    )
    # Assert
    np.testing.assert_allclose(result["var"], expected.var_, rtol=1e-12)


def test_gaussian_fit_leaves_out_a_node_below_min_rows() -> None:
    # Arrange
    parts = make_partitions((60, 5, 70), seed=11)
    kept = {n: b for n, b in parts.items() if n != "local2"}
    rows = pooled(kept, ("species", *NUMERIC))
    expected = GaussianNB().fit(rows.matrix(list(NUMERIC)), rows["species"])
    # Act
    result = run_flow(GaussianNBFitFlow, parts, VARIABLES, y=("species",), x=NUMERIC, **REFERENCE_DISCLOSURE)
    # Assert
    assert result["n_obs"] == rows.num_rows
    np.testing.assert_allclose(result["theta"], expected.theta_, rtol=1e-12)
    np.testing.assert_allclose(result["var"], expected.var_, rtol=1e-12)


def test_gaussian_fit_handles_a_class_missing_on_one_node() -> None:
    # Arrange
    parts = make_partitions((60, 40, 70), seed=5)
    first = parts["local1"]
    parts["local1"] = first.take(first["species"] != "virginica")
    rows = pooled(parts, ("species", *NUMERIC))
    expected = GaussianNB().fit(rows.matrix(list(NUMERIC)), rows["species"])
    # Act
    result = run_flow(GaussianNBFitFlow, parts, VARIABLES, y=("species",), x=NUMERIC, **REFERENCE_DISCLOSURE)
    # Assert
    assert result["class_count"] == expected.class_count_.tolist()
    np.testing.assert_allclose(result["var"], expected.var_, rtol=1e-12)


def test_gaussian_fit_rejects_a_class_outside_the_enumerations() -> None:
    # Arrange
    parts = make_partitions((30, 30, 30))
    bad = dict(parts["local3"])
    bad["species"] = np.array(["oak"] * parts["local3"].num_rows, dtype=object)
    parts["local3"] = ArrayBundle(bad)
    # Act / Assert
    with pytest.raises(AlgorithmError, match="outside its enumerations"):
        run_flow(GaussianNBFitFlow, parts, VARIABLES, y=("species",), x=NUMERIC, **REFERENCE_DISCLOSURE)


# -------------------------------------------------------------------------- categorical


def test_categorical_fit_equals_sklearn_on_pooled_rows() -> None:
    # Arrange
    parts = make_partitions((70, 55, 90), seed=21)
    rows = pooled(parts, ("species", *CATEGORICAL))
    features = np.column_stack([encode(rows["color"], COLORS), encode(rows["size"], SIZES)])
    expected = CategoricalNB().fit(features, rows["species"])
    # Act
    result = run_flow(CategoricalNBFitFlow, parts, VARIABLES, y=("species",), x=CATEGORICAL, **REFERENCE_DISCLOSURE)
    # Assert
    assert result["classes"] == list(expected.classes_)
    assert result["class_count"] == expected.class_count_.astype(int).tolist()
    assert result["category_count"] == [c.astype(int).tolist() for c in expected.category_count_]
    for got, want in zip(result["feature_log_prob"], expected.feature_log_prob_, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(result["class_log_prior"], expected.class_log_prior_, rtol=1e-12)


def test_categorical_fit_counts_a_level_missing_on_one_node() -> None:
    # Arrange
    parts = make_partitions((70, 55, 90), seed=2)
    second = parts["local2"]
    parts["local2"] = second.take(second["color"] != "blue")
    rows = pooled(parts, ("species", *CATEGORICAL))
    features = np.column_stack([encode(rows["color"], COLORS), encode(rows["size"], SIZES)])
    expected = CategoricalNB(alpha=0.5).fit(features, rows["species"])
    # Act
    result = run_flow(
        CategoricalNBFitFlow,
        parts,
        VARIABLES,
        y=("species",),
        x=CATEGORICAL,
        parameters={"alpha": 0.5},
        **REFERENCE_DISCLOSURE,
    )
    # Assert
    assert result["category_count"] == [c.astype(int).tolist() for c in expected.category_count_]
    for got, want in zip(result["feature_log_prob"], expected.feature_log_prob_, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_categorical_fit_keeps_categories_up_to_the_highest_observed() -> None:
    # Arrange: sorted colors are blue, green, red, violet; violet never occurs.
    parts = make_partitions((40, 40, 40), seed=8)
    # Act
    result = run_flow(CategoricalNBFitFlow, parts, VARIABLES, y=("species",), x=CATEGORICAL, **REFERENCE_DISCLOSURE)
    # Assert
    assert result["categories"] == [["blue", "green", "red"], ["L", "M", "S"]]


# ----------------------------------------------------------------------- cross-validation


def reference_cv(
    parts: dict[str, ArrayBundle],
    n_splits: int,
    seed: int,
    fit_predict: Any,
    labels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled predictions of each held-out row, with the folds the nodes assign."""
    folds = np.concatenate([assign_folds(parts[n].num_rows, n_splits, seed) for n in sorted(parts)])
    predicted = np.empty(len(labels), dtype=object)
    for fold in range(n_splits):
        test = folds == fold
        predicted[test] = fit_predict(~test, test)
    return folds, predicted


def assert_cv_matches(
    result: dict[str, Any],
    labels: np.ndarray,
    predicted: np.ndarray,
    folds: np.ndarray,
    n_splits: int,
) -> None:
    classes = sorted(set(labels))
    assert result["classes"] == classes
    assert result["confusion_matrix"] == confusion_matrix(labels, predicted, labels=classes).tolist()
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    np.testing.assert_allclose(result["precision"], precision, rtol=1e-12)
    np.testing.assert_allclose(result["recall"], recall, rtol=1e-12)
    np.testing.assert_allclose(result["f1"], f1, rtol=1e-12)
    assert result["support"] == support.tolist()
    assert result["accuracy"] == pytest.approx(np.mean(labels == predicted), rel=1e-12)
    for fold in range(n_splits):
        test = folds == fold
        got = result["folds"][fold]
        assert got["confusion_matrix"] == confusion_matrix(labels[test], predicted[test], labels=classes).tolist()
        assert got["accuracy"] == pytest.approx(np.mean(labels[test] == predicted[test]), rel=1e-12)


def test_gaussian_cv_equals_sklearn_fold_by_fold() -> None:
    # Arrange
    parts = make_partitions((60, 45, 80), seed=13)
    rows = pooled(parts, ("species", *NUMERIC))
    points, labels = rows.matrix(list(NUMERIC)), rows["species"]

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        return GaussianNB().fit(points[train], labels[train]).predict(points[test])

    folds, predicted = reference_cv(parts, 4, 9, fit_predict, labels)
    # Act
    result = run_flow(
        GaussianNBCVFlow,
        parts,
        VARIABLES,
        y=("species",),
        x=NUMERIC,
        parameters={"n_splits": 4, "seed": 9},
        **REFERENCE_DISCLOSURE,
    )
    # Assert
    assert_cv_matches(result, labels, predicted, folds, 4)


def test_categorical_cv_equals_sklearn_fold_by_fold() -> None:
    # Arrange
    parts = make_partitions((60, 45, 80), seed=17)
    rows = pooled(parts, ("species", *CATEGORICAL))
    features = np.column_stack([encode(rows["color"], COLORS), encode(rows["size"], SIZES)])
    labels = rows["species"]

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = CategoricalNB(min_categories=[len(COLORS), len(SIZES)])
        return model.fit(features[train], labels[train]).predict(features[test])

    folds, predicted = reference_cv(parts, 3, 4, fit_predict, labels)
    # Act
    result = run_flow(
        CategoricalNBCVFlow,
        parts,
        VARIABLES,
        y=("species",),
        x=CATEGORICAL,
        parameters={"n_splits": 3, "seed": 4},
        **REFERENCE_DISCLOSURE,
    )
    # Assert
    assert_cv_matches(result, labels, predicted, folds, 3)


def test_cv_rejects_a_single_split() -> None:
    # Arrange
    parts = make_partitions((30, 30, 30))
    # Act / Assert
    with pytest.raises(ValueError, match="n_splits"):
        run_flow(
            GaussianNBCVFlow,
            parts,
            VARIABLES,
            y=("species",),
            x=NUMERIC,
            parameters={"n_splits": 1},
            **REFERENCE_DISCLOSURE,
        )
