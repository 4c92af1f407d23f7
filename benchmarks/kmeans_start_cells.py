"""How often a k-means start leaves a cluster under the cell minimum on some node (demo data).

    .venv/bin/python -m benchmarks.kmeans_start_cells [--federations 40] [--rows-per-dataset 100]

For each of N demo federations (3 locals, one dataset each, hippocampus and entorhinal)
and each k, runs Lloyd's algorithm from two starts and counts the federations in which
some iteration gives a node a cluster of 1 to 9 rows, which the node's cell rule refuses:
a uniform start in each variable's mean +- standard deviation, and the flow's default
start along the first principal axis. Not a speed figure: it backs the README's choice.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path
from statistics import NormalDist

import numpy as np

from mip_client.demo_data import write_demo_federation

VARIABLES = ["hippocampus", "entorhinal"]
MIN_CELL_ROWS = 10


def _nodes(seed: int, rows: int, workdir: Path) -> list[np.ndarray]:
    nodes = []
    for folder in write_demo_federation(workdir / str(seed), num_locals=3, rows_per_dataset=rows, seed=seed):
        points = []
        with sorted(folder.glob("*_a.csv"))[0].open(newline="") as handle:
            for record in csv.DictReader(handle):
                try:
                    points.append([float(record[v]) for v in VARIABLES])
                except ValueError:
                    continue
        nodes.append(np.array(points))
    return nodes


def _uniform_start(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    mean, std = points.mean(axis=0), points.std(axis=0)
    return np.random.default_rng(seed).uniform(mean - std, mean + std, size=(k, points.shape[1]))


def _principal_start(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(points, rowvar=False, bias=True))
    z = np.array([NormalDist().inv_cdf((i + 0.5) / k) for i in range(k)])
    return points.mean(axis=0) + np.outer(z * np.sqrt(eigenvalues[-1]), eigenvectors[:, -1])


def _hits_a_small_cell(nodes: list[np.ndarray], centroids: np.ndarray, iterations: int = 100) -> bool:
    pooled = np.vstack(nodes)
    k = len(centroids)
    for _ in range(iterations):
        for points in nodes:
            counts = np.bincount(((points[:, None] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1), minlength=k)
            if ((counts > 0) & (counts < MIN_CELL_ROWS)).any():
                return True
        labels = ((pooled[:, None] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
        moved = np.array([pooled[labels == j].mean(axis=0) if (labels == j).any() else centroids[j] for j in range(k)])
        if np.array_equal(moved, centroids):
            return False
        centroids = moved
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--federations", type=int, default=40)
    parser.add_argument("--rows-per-dataset", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        federations = [_nodes(seed, args.rows_per_dataset, Path(tmp)) for seed in range(args.federations)]
    for k in (2, 3, 4, 5):
        hits = {
            name: sum(
                _hits_a_small_cell(nodes, start(np.vstack(nodes), k, seed)) for seed, nodes in enumerate(federations)
            )
            for name, start in (("uniform", _uniform_start), ("principal axis", _principal_start))
        }
        print(f"  k={k}: " + ", ".join(f"{name} start {n} of {args.federations}" for name, n in hits.items()))


if __name__ == "__main__":
    main()
