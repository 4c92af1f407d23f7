"""K-means (Lloyd's algorithm): local per-cluster sums, global centroid updates."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from udf_library import _design
from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._hints import CLUSTER_HINT
from udf_library._udf import shared, udf

__all__ = [
    "generate_initial_centroids",
    "global_calc",
    "global_inertia",
    "global_principal_centroids",
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


@udf(outputs=(shared("moments", rows="n", merge="secure_sum"),))
def local_moments(data: ArrayBundle, variables: list[str]) -> ArrayBundle:
    """Count, sums and sums of products of the variables on this node (one row), for the default start.

    Plain sums, not means and centred co-moments: they merge by adding, so secure aggregation can mask them.
    """
    return _design.moments_row(_design.moments_of(data.matrix(variables)))


@udf(outputs=(shared("centroids"),))
def global_principal_centroids(moments: ArrayBundle, variables: list[str], num_clusters: int) -> ArrayBundle:
    """Centroids spread along the pooled first principal axis (the default start).

    Centroid i sits at mean + z_i * sqrt(lambda_1) * v_1, with z_i the standard normal
    quantile of (i + 0.5) / k: the data's main direction of spread, cut into k equally
    likely parts. Deterministic (the eigenvector's largest entry is made positive) and
    built from pooled counts, sums and sums of products only, so no node shares a row's value.
    Random starts inside the data's spread leave small clusters on some node far more often,
    and the node refuses those (the cell rule).
    """
    pooled = _design.merged_moments(moments, len(variables))
    if pooled.n == 0:
        raise UdfInputError("k-means has no rows to start from")
    eigenvalues, eigenvectors = np.linalg.eigh(pooled.m2 / pooled.n)
    axis = eigenvectors[:, -1]
    axis = axis if axis[np.argmax(np.abs(axis))] > 0 else -axis
    quantiles = np.array([NormalDist().inv_cdf((i + 0.5) / num_clusters) for i in range(num_clusters)])
    points = pooled.mean + np.outer(quantiles * np.sqrt(max(float(eigenvalues[-1]), 0.0)), axis)
    return _centroid_bundle(points, variables)


@udf(outputs=(shared("sums", rows=COUNT, label=CLUSTER, hint=CLUSTER_HINT, merge="secure_sum", keys=(CLUSTER,)),))
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
    """New centroids from the per-cluster sums over the nodes; an empty cluster is reseeded.

    ``sums`` may hold several rows of one cluster (a node's each): they are added up.

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


@udf(outputs=(shared("inertia", rows=COUNT, merge="secure_sum"),))
def local_inertia(data: ArrayBundle, centroids: ArrayBundle, variables: list[str]) -> ArrayBundle:
    """Sum of squared distances from each row to its nearest centroid (one row out)."""
    _, distances = _assign(data.matrix(variables), centroids.matrix(variables))
    return ArrayBundle({SSE: [float(distances.sum())], COUNT: [len(distances)]})


@udf(outputs=(shared("totals"),))
def global_inertia(inertia: ArrayBundle) -> ArrayBundle:
    """The inertia and row count over every node: a summed table is read only through a global UDF."""
    return ArrayBundle({SSE: [float(np.sum(inertia[SSE]))], COUNT: [int(np.sum(inertia[COUNT]))]})


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
