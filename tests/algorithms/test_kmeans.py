"""Federated k-means equals Lloyd's algorithm run centrally on the pooled rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from algorithm_flows import InvalidParametersError, Variable
from algorithm_flows.kmeans_flow import KMeansFlow
from algorithm_flows.testing import SmallCellRefusedError, run_flow
from tests.helpers.lloyd import lloyd
from tests.helpers.reference import REFERENCE_DISCLOSURE
from udf_library import ArrayBundle, UdfInputError, sum_parts
from udf_library.kmeans_udfs import (
    generate_initial_centroids,
    global_calc,
    global_inertia,
    global_principal_centroids,
    local_calc,
    local_inertia,
    local_moments,
)

NAMES = ("a", "b")
VARIABLES = {name: Variable(name, "real", False) for name in NAMES}


def make_partitions(sizes: tuple[int, ...], seed: int = 0) -> dict[str, ArrayBundle]:
    """Three blobs in [0, 1]^2, dealt unevenly over the nodes."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.2, 0.2], [0.8, 0.3], [0.5, 0.8]])
    parts = {}
    for i, n in enumerate(sizes):
        points = centers[rng.integers(0, 3, n)] + rng.normal(scale=0.08, size=(n, 2))
        parts[f"local{i + 1}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * n, dtype=object),
                "a": points[:, 0],
                "b": points[:, 1],
            }
        )
    return parts


def pooled(parts: dict[str, ArrayBundle]) -> np.ndarray:
    return np.vstack([parts[n].matrix(list(NAMES)) for n in sorted(parts)])


def test_kmeans_equals_central_lloyd() -> None:
    # Arrange
    parts = make_partitions((80, 50, 120))
    params = {"numOfClusters": 3, "numOfIterations": 25, "seed": 3}
    expected = lloyd(pooled(parts), params)
    # Act
    result = run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters=params, **REFERENCE_DISCLOSURE)
    # Assert
    np.testing.assert_allclose(result["centroids"], expected["centroids"], rtol=1e-9, atol=1e-9)
    assert result["iterations"] == expected["iterations"]
    assert result["n_obs"] == 250
    assert result["inertia"] == pytest.approx(expected["inertia"], rel=1e-9)


def test_kmeans_stops_early_once_centroids_settle() -> None:
    # Arrange
    parts = make_partitions((80, 50, 120), seed=1)
    params = {"numOfClusters": 3, "numOfIterations": 100, "tolerance": 1e-6, "seed": 5}
    expected = lloyd(pooled(parts), params)
    # Act
    result = run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters=params)
    # Assert
    assert result["is_converged"] is True
    assert result["iterations"] == expected["iterations"] < 100
    np.testing.assert_allclose(result["centroids"], expected["centroids"], rtol=1e-9, atol=1e-9)


def test_kmeans_reseeds_an_empty_cluster() -> None:
    # Arrange: data in [0, 1]^2, centroids drawn in [0, 10]^2, so some attract no row at first.
    parts = make_partitions((60, 60, 60), seed=2)
    params = {"numOfClusters": 4, "numOfIterations": 30, "initialMax": 10.0, "seed": 1}
    expected = lloyd(pooled(parts), params)
    # Act (small clusters on the way are the point here, not the cell rule)
    result = run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters=params, **REFERENCE_DISCLOSURE)
    # Assert: every cluster ends with rows
    centroids = np.array(result["centroids"])
    points = pooled(parts)
    labels = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    assert np.bincount(labels, minlength=4).min() > 0
    np.testing.assert_allclose(centroids, expected["centroids"], rtol=1e-9, atol=1e-9)


def test_kmeans_converges_when_centroids_stop_moving_with_default_tolerance() -> None:
    # Arrange
    parts = make_partitions((80, 50, 120), seed=1)
    params = {"numOfClusters": 3, "numOfIterations": 100, "seed": 5}
    # Act
    result = run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters=params)
    # Assert
    assert result["is_converged"] is True
    assert result["iterations"] == lloyd(pooled(parts), params)["iterations"] < 100


def test_kmeans_default_start_follows_the_data() -> None:
    # Arrange: variables on a real scale (around 3000 and -40), far from [0, 1]
    parts = make_partitions((80, 50, 120), seed=6)
    for name, part in parts.items():
        parts[name] = ArrayBundle({"dataset": part["dataset"], "a": part["a"] * 500 + 3000, "b": part["b"] * 20 - 40})
    params = {"numOfClusters": 3, "numOfIterations": 50, "seed": 2}
    expected = lloyd(pooled(parts), params)
    # Act
    result = run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters=params, **REFERENCE_DISCLOSURE)
    # Assert: no dead centroid, and the same run as centrally
    centroids = np.array(result["centroids"])
    points = pooled(parts)
    labels = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    assert np.bincount(labels, minlength=3).min() > 0
    np.testing.assert_allclose(centroids, expected["centroids"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        {"initialMin": -1e308, "initialMax": 1e308},
        {"initialMax": float("nan")},
        {"initialMin": float("-inf")},
        {"tolerance": float("inf")},
    ],
)
def test_kmeans_rejects_a_non_finite_initial_range(params: dict[str, Any]) -> None:
    # Arrange
    parts = make_partitions((30, 30, 30))
    # Act / Assert
    with pytest.raises(InvalidParametersError, match="finite"):
        run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters={"numOfClusters": 2, **params})


def test_kmeans_leaves_out_a_node_below_min_rows() -> None:
    # Arrange
    parts = make_partitions((70, 4, 90), seed=4)
    kept = {n: b for n, b in parts.items() if n != "local2"}
    params = {"numOfClusters": 3, "numOfIterations": 10}
    expected = lloyd(pooled(kept), params)
    # Act
    result = run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters=params)
    # Assert
    assert result["n_obs"] == 160
    np.testing.assert_allclose(result["centroids"], expected["centroids"], rtol=1e-9, atol=1e-9)


def test_kmeans_rejects_an_empty_initial_range() -> None:
    # Arrange
    parts = make_partitions((30, 30, 30))
    params = {"numOfClusters": 2, "initialMin": 1.0, "initialMax": 1.0}
    # Act / Assert
    with pytest.raises(InvalidParametersError, match="initialMin"):
        run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters=params)


# ------------------------------------------------------------------------------ UDFs


def test_generate_initial_centroids_is_seeded() -> None:
    # Arrange
    expected = np.random.default_rng(9).uniform(-1.0, 2.0, size=(3, 2))
    # Act
    bundle = generate_initial_centroids(["a", "b"], 3, -1.0, 2.0, 9)
    # Assert
    np.testing.assert_array_equal(bundle.matrix(["a", "b"]), expected)
    assert bundle["cluster"].tolist() == [0, 1, 2]


def test_generate_initial_centroids_rejects_min_not_below_max() -> None:
    # Act / Assert
    with pytest.raises(UdfInputError, match="must be below"):
        generate_initial_centroids(["a"], 2, 3.0, 1.0, 0)


def test_local_calc_sums_rows_per_nearest_centroid() -> None:
    # Arrange
    data = ArrayBundle({"a": [0.0, 1.0, 9.0, 11.0], "b": [0.0, 1.0, 10.0, 10.0]})
    centroids = ArrayBundle({"cluster": [0, 1], "a": [0.0, 10.0], "b": [0.0, 10.0]})
    # Act
    sums = local_calc(data, centroids, ["a", "b"])
    # Assert
    assert sums["count"].tolist() == [2, 2]
    assert sums["a"].tolist() == [1.0, 20.0]
    assert sums["b"].tolist() == [1.0, 20.0]
    assert sums["sse"].tolist() == [2.0, 2.0]


def test_local_calc_breaks_distance_ties_toward_the_first_centroid() -> None:
    # Arrange
    data = ArrayBundle({"a": [5.0, 6.0]})
    centroids = ArrayBundle({"cluster": [0, 1], "a": [4.0, 6.0]})
    # Act
    sums = local_calc(data, centroids, ["a"])
    # Assert
    assert sums["count"].tolist() == [1, 1]


def test_global_calc_reseeds_an_empty_cluster_and_reports_the_shift() -> None:
    # Arrange: cluster 1 is empty; cluster 0 has 4 rows with SSE 3
    centroids = ArrayBundle({"cluster": [0, 1], "a": [0.0, 5.0]})
    sums = ArrayBundle(
        {
            "cluster": [0, 1, 0, 1],
            "count": [2, 0, 2, 0],
            "sse": [1.0, 0.0, 2.0, 0.0],
            "a": [2.0, 0.0, 6.0, 0.0],
        }
    )
    # Act
    new, stats = global_calc(sums, centroids, ["a"])
    # Assert: the empty cluster moves to the mean of cluster 0 plus its spread, sqrt(3 / 4)
    assert new["a"].tolist() == pytest.approx([2.0, 2.0 + np.sqrt(0.75)])
    assert stats["max_shift"].tolist() == pytest.approx([5.0 - 2.0 - np.sqrt(0.75)])
    assert stats["rows"].tolist() == [4]
    assert stats["sse"].tolist() == [3.0]


def test_local_inertia_is_the_sum_of_squared_distances() -> None:
    # Arrange
    data = ArrayBundle({"a": [0.0, 3.0, 10.0]})
    centroids = ArrayBundle({"cluster": [0, 1], "a": [1.0, 10.0]})
    # Act
    inertia = local_inertia(data, centroids, ["a"])
    # Assert
    assert inertia["sse"].tolist() == [5.0]
    assert inertia["count"].tolist() == [3]


def test_local_moments_sum_over_nodes_to_the_pooled_principal_start() -> None:
    # Arrange: two nodes' moments, summed as the global node sums them
    parts = make_partitions((40, 70), seed=8)
    points = pooled(parts)
    summed = sum_parts([local_moments(parts[n], list(NAMES)) for n in sorted(parts)], [])
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(points, rowvar=False, bias=True))
    axis = eigenvectors[:, -1] * np.sign(eigenvectors[np.argmax(np.abs(eigenvectors[:, -1])), -1])
    z = norm.ppf((np.arange(4) + 0.5) / 4)
    expected = points.mean(axis=0) + np.outer(z * np.sqrt(eigenvalues[-1]), axis)

    # Act
    centroids = global_principal_centroids(summed, list(NAMES), 4)

    # Assert
    assert summed["n"].tolist() == [110.0]
    np.testing.assert_allclose(centroids.matrix(list(NAMES)), expected, rtol=1e-12, atol=1e-12)


def test_global_inertia_adds_the_nodes_parts() -> None:
    # Arrange
    inertia = ArrayBundle({"sse": [1.5, 2.25], "count": [10, 12]})
    # Act
    totals = global_inertia(inertia)
    # Assert
    assert totals["sse"].tolist() == [3.75]
    assert totals["count"].tolist() == [22]


def test_small_clusters_are_refused_in_the_clear_under_secure_aggregation() -> None:
    # Arrange: 8 clusters over 30 rows a node, so some cluster holds 1..9 rows on a node
    parts = make_partitions((30, 30, 30))
    params = {"numOfClusters": 8, "initialMin": 0.0, "initialMax": 1.0}
    # Act / Assert
    with pytest.raises(SmallCellRefusedError, match="cluster") as error:
        run_flow(KMeansFlow, parts, VARIABLES, y=NAMES, parameters=params, secure_aggregation=True)
    assert "fewer clusters" in str(error.value)
