"""K-means (Lloyd's algorithm): local per-cluster sums, global centroid updates."""

from __future__ import annotations

import numpy as np

from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._moments import moments, pool_moments
from udf_library._udf import shared, udf

__all__ = [
    "generate_initial_centroids",
    "global_calc",
    "global_spread_centroids",
    "local_calc",
    "local_inertia",
    "local_moments",
]

CLUSTER = "cluster"
COUNT = "count"
SSE = "sse"


@udf(outputs=(shared("centroids"),))
def generate_initial_centroids(
    variables: list[str], num_clusters: int, initial_min: float, initial_max: float, seed: int
) -> ArrayBundle:
    """Draw ``num_clusters`` centroids uniformly in [initial_min, initial_max) per variable.

    Seeded, so a centralized run can start from the very same centroids.
    """
    if initial_min >= initial_max:
        raise UdfInputError(f"initialMin ({initial_min}) must be below initialMax ({initial_max})")
    rng = np.random.default_rng(seed)
    points = rng.uniform(initial_min, initial_max, size=(num_clusters, len(variables)))
    return _centroid_bundle(points, variables)


@udf(outputs=(shared("moments"),))
def local_moments(data: ArrayBundle, variables: list[str]) -> ArrayBundle:
    """Count, mean and M2 of each variable on this node (one row), for the default start."""
    columns: dict[str, list[float]] = {}
    for j, name in enumerate(variables):
        n, mean, m2 = moments(data[name].astype(np.float64))
        columns |= {f"n_{j}": [n], f"mean_{j}": [mean], f"m2_{j}": [m2]}
    return ArrayBundle(columns)


@udf(outputs=(shared("centroids"),))
def global_spread_centroids(moments: ArrayBundle, variables: list[str], num_clusters: int, seed: int) -> ArrayBundle:
    """Draw ``num_clusters`` centroids uniformly in pooled mean +- standard deviation per variable.

    The default start: it follows the data's location and scale without any node sharing
    a single row's value (no minimum or maximum), and is seeded like the explicit range.
    """
    pooled = [pool_moments(moments[f"n_{j}"], moments[f"mean_{j}"], moments[f"m2_{j}"]) for j in range(len(variables))]
    if not pooled or pooled[0][0] == 0:
        raise UdfInputError("k-means has no rows to start from")
    mean = np.array([p[1] for p in pooled])
    std = np.sqrt(np.array([p[2] / p[0] for p in pooled]))
    rng = np.random.default_rng(seed)
    points = rng.uniform(mean - std, mean + std, size=(num_clusters, len(variables)))
    return _centroid_bundle(points, variables)


@udf(outputs=(shared("sums"),))
def local_calc(data: ArrayBundle, centroids: ArrayBundle, variables: list[str]) -> ArrayBundle:
    """Assign each row to its nearest centroid; return per-cluster counts, sums and SSE."""
    points = data.matrix(variables)
    centers = centroids.matrix(variables)
    labels, distances = _assign(points, centers)
    k = centers.shape[0]
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros_like(centers)
    np.add.at(sums, labels, points)
    sse = np.bincount(labels, weights=distances, minlength=k)
    columns: dict[str, np.ndarray] = {CLUSTER: np.arange(k), COUNT: counts, SSE: sse}
    columns |= {name: sums[:, j] for j, name in enumerate(variables)}
    return ArrayBundle(columns)


@udf(outputs=(shared("centroids"), shared("stats")))
def global_calc(sums: ArrayBundle, centroids: ArrayBundle, variables: list[str]) -> tuple[ArrayBundle, ArrayBundle]:
    """New centroids from the merged per-node sums; an empty cluster is reseeded.

    An empty cluster (in cluster order) moves next to the cluster with the largest SSE
    (the lowest number on ties): to that cluster's new centroid plus its root mean
    squared distance / sqrt(d) in each of the d variables, so it takes part of that
    cluster's rows; that cluster is not chosen again in this iteration. With no spread
    anywhere the empty cluster stays. ``stats`` holds the largest centroid shift
    (reseeding counts), the rows counted and the SSE against the old centroids.
    """
    old = centroids.matrix(variables)
    k = old.shape[0]
    labels = sums[CLUSTER]
    counts = np.bincount(labels, weights=sums[COUNT], minlength=k)
    totals = np.zeros_like(old)
    np.add.at(totals, labels, sums.matrix(variables))
    new = old.copy()
    filled = counts > 0
    new[filled] = totals[filled] / counts[filled, None]
    sse = np.bincount(labels, weights=sums[SSE], minlength=k)
    for empty in np.flatnonzero(~filled):
        donor = int(np.argmax(sse))
        if sse[donor] <= 0:
            break
        new[empty] = new[donor] + np.sqrt(sse[donor] / counts[donor] / old.shape[1])
        sse[donor] = 0.0
    shift = float(np.max(np.linalg.norm(new - old, axis=1))) if k else 0.0
    stats = ArrayBundle({"max_shift": [shift], "rows": [int(counts.sum())], SSE: [float(sums[SSE].sum())]})
    return _centroid_bundle(new, variables), stats


@udf(outputs=(shared("inertia"),))
def local_inertia(data: ArrayBundle, centroids: ArrayBundle, variables: list[str]) -> ArrayBundle:
    """Sum of squared distances from each row to its nearest centroid (one row out)."""
    _, distances = _assign(data.matrix(variables), centroids.matrix(variables))
    return ArrayBundle({SSE: [float(distances.sum())], COUNT: [len(distances)]})


def _assign(points: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each point (first on ties) and the squared distance to it."""
    sq = (
        np.einsum("ij,ij->i", points, points)[:, None]
        - 2.0 * points @ centers.T
        + np.einsum("ij,ij->i", centers, centers)[None, :]
    )
    labels = np.argmin(sq, axis=1)
    exact = points - centers[labels]
    return labels, np.einsum("ij,ij->i", exact, exact)


def _centroid_bundle(points: np.ndarray, variables: list[str]) -> ArrayBundle:
    columns: dict[str, np.ndarray] = {CLUSTER: np.arange(points.shape[0])}
    columns |= {name: points[:, j] for j, name in enumerate(variables)}
    return ArrayBundle(columns)
