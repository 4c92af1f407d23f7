"""Federated CART tree equals scikit-learn's DecisionTreeClassifier on the pooled rows.

scikit-learn stores features as float32, so the synthetic features are float32
values (held as float64): then both sides split the very same numbers. Every test
first checks its data has no ties between candidate splits (scikit-learn breaks
those by a random feature order), the one case where the trees may differ.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix
from sklearn.tree import DecisionTreeClassifier

from algorithm_flows import AlgorithmError, InputData, Variable, parse_params
from algorithm_flows.decision_tree_flow import DecisionTreeFlow
from algorithm_flows.testing import InMemoryRuntime, run_flow
from tests.helpers.reference import REFERENCE_DISCLOSURE
from udf_library import ArrayBundle
from udf_library.decision_tree_udfs import (
    float_to_key,
    key_to_float,
    lower_bound,
    weighted_impurity,
)

CLASSES = ("high", "low", "mid", "never")  # "never" does not occur
FEATURES = ("f0", "f1", "f2", "f3")
VARIABLES = {
    "label": Variable("label", "text", True, enumerations=CLASSES),
    **{name: Variable(name, "real", False) for name in FEATURES},
}


def make_partitions(
    sizes: tuple[int, ...], seed: int, scale: float = 1.0, shift: float = 0.0
) -> dict[str, ArrayBundle]:
    """Seeded float32-valued features; the class depends on a noisy mix of them."""
    rng = np.random.default_rng(seed)
    parts = {}
    for i, n in enumerate(sizes):
        raw = rng.normal(size=(n, len(FEATURES)))
        score = raw[:, 0] + 0.6 * raw[:, 1] - 0.4 * raw[:, 3] + rng.normal(scale=0.6, size=n)
        label = np.where(score > 0.7, "high", np.where(score < -0.5, "low", "mid"))
        values = (raw * scale + shift).astype(np.float32).astype(np.float64)
        parts[f"local{i + 1}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * n, dtype=object),
                "label": label.astype(object),
                **{name: values[:, j] for j, name in enumerate(FEATURES)},
            }
        )
    return parts


def pooled(parts: dict[str, ArrayBundle]) -> tuple[np.ndarray, np.ndarray]:
    nodes = sorted(parts)
    points = np.vstack([parts[n].matrix(list(FEATURES)) for n in nodes])
    labels = np.concatenate([parts[n]["label"] for n in nodes]).astype(str)
    return points, labels


def sklearn_tree(points: np.ndarray, labels: np.ndarray, params: dict[str, Any]) -> DecisionTreeClassifier:
    return DecisionTreeClassifier(random_state=0, **params).fit(points, labels)


def assert_no_ties(model: DecisionTreeClassifier, points: np.ndarray, labels: np.ndarray) -> None:
    """Precondition: at every split, the best candidate beats every other one."""
    tree = model.tree_
    criterion = model.criterion
    leaf = model.min_samples_leaf
    reach = model.decision_path(points.astype(np.float32)).toarray().astype(bool)
    classes = np.unique(labels)
    for node in np.flatnonzero(tree.children_left >= 0):
        rows = reach[:, node]
        onehot = (labels[rows][:, None] == classes[None, :]).astype(float)
        scores = []
        for f in range(points.shape[1]):
            order = np.argsort(points[rows, f], kind="stable")
            values = points[rows, f][order]
            cumulative = np.cumsum(onehot[order], axis=0)
            positions = np.arange(1, len(values))
            ok = (values[1:] > values[:-1]) & (positions >= leaf) & (len(values) - positions >= leaf)
            scores.extend(weighted_impurity(cumulative[positions[ok] - 1], cumulative[-1], criterion))
        ranked = np.sort(scores)
        assert ranked[1] - ranked[0] > 1e-9 * max(1.0, ranked[0]), f"tie at node {node}"


def assert_same_tree(result: dict[str, Any], model: DecisionTreeClassifier) -> None:
    tree, got = model.tree_, result["tree"]
    assert got["feature"] == tree.feature.tolist()
    assert got["threshold"] == tree.threshold.tolist()
    assert got["children_left"] == tree.children_left.tolist()
    assert got["children_right"] == tree.children_right.tolist()
    assert got["n_node_samples"] == tree.n_node_samples.tolist()
    counts = tree.value[:, 0, :] * tree.n_node_samples[:, None]
    np.testing.assert_allclose(got["class_counts"], counts, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["impurity"], tree.impurity, rtol=1e-12, atol=1e-15)
    assert result["classes"] == model.classes_.tolist()


def predict(result: dict[str, Any], points: np.ndarray) -> np.ndarray:
    """Walk the returned tree, as a user of the result would."""
    tree = result["tree"]
    out = []
    for row in points:
        node = 0
        while tree["children_left"][node] >= 0:
            go_left = row[tree["feature"][node]] <= tree["threshold"][node]
            node = tree["children_left"][node] if go_left else tree["children_right"][node]
        out.append(result["classes"][int(np.argmax(tree["class_counts"][node]))])
    return np.array(out)


@pytest.mark.parametrize(
    "params",
    [
        {"max_depth": 4},
        {"criterion": "entropy", "max_depth": 5, "min_samples_leaf": 5},
        {"max_depth": 6, "min_samples_split": 30},
    ],
    ids=["gini-depth4", "entropy-leaf5", "min-split30"],
)
def test_tree_equals_sklearn(params: dict[str, Any]) -> None:
    # Arrange
    parts = make_partitions((140, 110, 170), seed=4)
    points, labels = pooled(parts)
    expected = sklearn_tree(points, labels, params)
    assert_no_ties(expected, points, labels)
    # Act
    result = run_flow(
        DecisionTreeFlow, parts, VARIABLES, y=("label",), x=FEATURES, parameters=params, **REFERENCE_DISCLOSURE
    )
    # Assert
    assert_same_tree(result, expected)


def test_tree_predictions_and_training_metrics_equal_sklearn() -> None:
    # Arrange
    parts = make_partitions((140, 110, 170), seed=1)
    points, labels = pooled(parts)
    expected = sklearn_tree(points, labels, {"max_depth": 4})
    # Act
    result = run_flow(
        DecisionTreeFlow,
        parts,
        VARIABLES,
        y=("label",),
        x=FEATURES,
        parameters={"max_depth": 4},
        **REFERENCE_DISCLOSURE,
    )
    # Assert
    predicted = expected.predict(points)
    np.testing.assert_array_equal(predict(result, points), predicted)
    assert result["training"]["confusion_matrix"] == confusion_matrix(labels, predicted).tolist()
    assert result["training"]["accuracy"] == pytest.approx(np.mean(predicted == labels))


def test_tree_is_refused_unless_the_nodes_allow_exact_values() -> None:
    # Arrange
    parts = make_partitions((60, 50, 70), seed=2)

    # Act / Assert
    with pytest.raises(AlgorithmError, match='extremes = "exact"'):
        run_flow(DecisionTreeFlow, parts, VARIABLES, y=("label",), x=FEATURES, parameters={"max_depth": 3})


def test_tree_keeps_per_row_predictions_on_the_nodes() -> None:
    # Arrange
    parts = make_partitions((60, 50, 70), seed=2)
    points, labels = pooled(parts)
    expected = sklearn_tree(points, labels, {"max_depth": 3})
    params = parse_params(DecisionTreeFlow.params_type, {"max_depth": 3})
    columns = ["dataset", "label", *FEATURES]
    rt = InMemoryRuntime(
        {n: b.select(columns) for n, b in parts.items()},
        InputData("test:1", ("ds0", "ds1", "ds2"), ("label",), FEATURES),
        VARIABLES,
        extremes="exact",
    )
    # Act
    result = asyncio.run(DecisionTreeFlow().run(rt, params))
    # Assert
    exposed = rt.exposed["predictions"]
    assert "prediction" not in result
    got = np.concatenate([rt._tables[(n, exposed.tables[n])].bundle["prediction"] for n in exposed.node_ids])
    np.testing.assert_array_equal(got.astype(str), expected.predict(points))


def test_tree_handles_negative_and_large_values() -> None:
    # Arrange: features around -3e6 with a spread of 1e5: large negative keys.
    parts = make_partitions((120, 100, 90), seed=3, scale=1e5, shift=-3e6)
    points, labels = pooled(parts)
    expected = sklearn_tree(points, labels, {"max_depth": 3})
    assert_no_ties(expected, points, labels)
    # Act
    result = run_flow(
        DecisionTreeFlow,
        parts,
        VARIABLES,
        y=("label",),
        x=FEATURES,
        parameters={"max_depth": 3},
        **REFERENCE_DISCLOSURE,
    )
    # Assert
    assert_same_tree(result, expected)


def test_tree_leaves_out_a_node_below_min_rows() -> None:
    # Arrange
    parts = make_partitions((150, 6, 160), seed=4)
    kept = {n: b for n, b in parts.items() if n != "local2"}
    points, labels = pooled(kept)
    expected = sklearn_tree(points, labels, {"max_depth": 3})
    assert_no_ties(expected, points, labels)
    # Act
    result = run_flow(
        DecisionTreeFlow,
        parts,
        VARIABLES,
        y=("label",),
        x=FEATURES,
        parameters={"max_depth": 3},
        **REFERENCE_DISCLOSURE,
    )
    # Assert
    assert result["n_obs"] == len(labels)
    assert_same_tree(result, expected)


def test_tree_handles_a_class_missing_on_one_node() -> None:
    # Arrange
    parts = make_partitions((150, 120, 160), seed=5)
    first = parts["local1"]
    parts["local1"] = first.take(first["label"] != "high")
    points, labels = pooled(parts)
    expected = sklearn_tree(points, labels, {"max_depth": 3})
    assert_no_ties(expected, points, labels)
    # Act
    result = run_flow(
        DecisionTreeFlow,
        parts,
        VARIABLES,
        y=("label",),
        x=FEATURES,
        parameters={"max_depth": 3},
        **REFERENCE_DISCLOSURE,
    )
    # Assert
    assert_same_tree(result, expected)


def test_tree_of_a_single_class_is_one_leaf() -> None:
    # Arrange
    parts = make_partitions((30, 30, 30), seed=6)
    parts = {
        n: ArrayBundle(dict(b) | {"label": np.array(["mid"] * b.num_rows, dtype=object)}) for n, b in parts.items()
    }
    # Act
    result = run_flow(DecisionTreeFlow, parts, VARIABLES, y=("label",), x=FEATURES, **REFERENCE_DISCLOSURE)
    # Assert
    assert result["tree"]["children_left"] == [-1]
    assert result["tree"]["class_counts"] == [[90]]


# --------------------------------------------------------------------------- the maths


def test_float_keys_preserve_order_and_round_trip() -> None:
    # Arrange
    values = np.array([-np.finfo(np.float64).max, -1e300, -2.5, -1e-310, 0.0, 5e-324, 1.0, 1e308])
    # Act
    keys = float_to_key(values)
    # Assert
    assert np.all(np.diff(keys) > 0)
    np.testing.assert_array_equal(key_to_float(keys), values)


def test_negative_zero_and_zero_share_a_key() -> None:
    # Arrange / Act
    keys = float_to_key(np.array([-0.0, 0.0]))
    # Assert
    assert keys[0] == keys[1] == 0


@pytest.mark.parametrize("criterion", ["gini", "entropy"])
def test_lower_bound_never_exceeds_a_split_inside_the_interval(criterion: str) -> None:
    # Arrange: random labelled rows; the interval is rows [a, b) of the sorted order.
    rng = np.random.default_rng(0)
    for _ in range(200):
        labels = rng.integers(0, 3, rng.integers(6, 40))
        onehot = np.eye(3)[labels]
        cumulative = np.vstack([np.zeros(3), np.cumsum(onehot, axis=0)])
        total = cumulative[-1]
        a, b = sorted(rng.choice(len(labels) + 1, 2, replace=False))
        leaf = int(rng.integers(1, 4))
        inside_positions = [p for p in range(a + 1, b) if leaf <= p <= len(labels) - leaf]
        # Act
        bound = lower_bound(cumulative[a], cumulative[b] - cumulative[a], total, leaf, criterion)
        # Assert
        if inside_positions:
            actual = weighted_impurity(cumulative[inside_positions], total, criterion)
            assert bound <= actual.min() + 1e-9
        else:
            assert bound == np.inf
