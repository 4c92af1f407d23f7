"""K-means (Lloyd's algorithm): local per-cluster sums, global centroid updates."""

from __future__ import annotations

import numpy as np

from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._hints import CLUSTER_HINT
from udf_library._udf import shared, udf

__all__ = ["generate_initial_centroids", "global_calc", "local_calc", "local_inertia"]

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


@udf(outputs=(shared("sums", rows=COUNT, label=CLUSTER, hint=CLUSTER_HINT),))
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
    """New centroids from the merged per-node sums; an empty cluster keeps its centroid.

    ``stats`` holds the largest centroid shift, the rows counted and the SSE against
    the old centroids, so the flow can stop early.
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
    shift = float(np.max(np.linalg.norm(new - old, axis=1))) if k else 0.0
    stats = ArrayBundle({"max_shift": [shift], "rows": [int(counts.sum())], SSE: [float(sums[SSE].sum())]})
    return _centroid_bundle(new, variables), stats


@udf(outputs=(shared("inertia", rows=COUNT),))
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
