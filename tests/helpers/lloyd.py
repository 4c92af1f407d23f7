"""Lloyd's k-means on pooled rows with the flow's documented rules: the reference for every k-means test."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

__all__ = ["lloyd"]


def lloyd(points: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
    """Plain Lloyd's algorithm from the flow's seeded initial centroids, with its documented rules.

    The start is uniform in [initialMin, initialMax] when either is given, else spread along
    the first principal axis at the normal quantiles of (i + 0.5) / k; an empty cluster moves next to the cluster
    with the largest SSE; it stops when no centroid moves more than the tolerance.
    """
    k = params["numOfClusters"]
    rng = np.random.default_rng(params.get("seed", 0))
    if "initialMin" in params or "initialMax" in params:
        low, high = params.get("initialMin", 0.0), params.get("initialMax", 1.0)
        centroids = rng.uniform(low, high, size=(k, points.shape[1]))
    else:
        eigenvalues, eigenvectors = np.linalg.eigh(np.cov(points, rowvar=False, bias=True).reshape(points.shape[1], -1))
        axis = eigenvectors[:, -1] * np.sign(eigenvectors[np.argmax(np.abs(eigenvectors[:, -1])), -1])
        z = norm.ppf((np.arange(k) + 0.5) / k)
        centroids = points.mean(axis=0) + np.outer(z * np.sqrt(eigenvalues[-1]), axis)
    tolerance = params.get("tolerance", 0.0)
    iterations, is_converged = 0, False
    while iterations < params.get("numOfIterations", 100) and not is_converged:
        distances = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
        labels = distances.argmin(axis=1)
        sse = np.array([distances[labels == c, c].sum() for c in range(k)])
        counts = np.bincount(labels, minlength=k)
        new = centroids.copy()
        for c in range(k):
            if counts[c]:
                new[c] = points[labels == c].mean(axis=0)
        for c in range(k):
            if counts[c] == 0 and sse.max() > 0:
                donor = int(np.argmax(sse))
                new[c] = new[donor] + np.sqrt(sse[donor] / counts[donor] / points.shape[1])
                sse[donor] = 0.0
        shift = np.linalg.norm(new - centroids, axis=1).max()
        centroids = new
        iterations += 1
        is_converged = shift <= tolerance
    inertia = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2).min(axis=1).sum()
    return {
        "centroids": centroids,
        "iterations": iterations,
        "is_converged": is_converged,
        "inertia": inertia,
    }
