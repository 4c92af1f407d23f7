"""k-means with 3 locals: time per iteration, and how much of it is UDF compute versus the mesh.

    .venv/bin/python -m benchmarks.bench_kmeans [--rows-per-dataset 20000]

The iteration time is the difference between a 21- and a 1-iteration run, divided by 20
(so start-up, data selection and clean-up cancel out). The compute part is the same
UDFs run in this process on the same rows. Writes benchmarks/results/kmeans.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mip_controller.client import Controller
from mip_controller.demo_data import write_demo_federation
from mip_controller.federation import LocalFederation
from udf_library import ArrayBundle
from udf_library.kmeans_udfs import generate_initial_centroids, global_calc, local_calc

VARIABLES = ["hippocampus", "entorhinal", "ventricles"]
RESULTS = Path(__file__).parent / "results"


def _partitions(data_dir: Path) -> list[ArrayBundle]:
    parts = []
    for folder in sorted(data_dir.iterdir()):
        rows = []
        for path in sorted(folder.glob("*.csv")):
            with path.open(newline="") as handle:
                rows += [
                    [float(r[v]) for v in VARIABLES] for r in csv.DictReader(handle) if all(r[v] for v in VARIABLES)
                ]
        matrix = np.array(rows)
        parts.append(ArrayBundle({v: matrix[:, j] for j, v in enumerate(VARIABLES)}))
    return parts


def compute_s(parts: list[ArrayBundle], k: int) -> float:
    """One iteration's UDF work, in-process: a local_calc per node, then global_calc."""
    centroids = generate_initial_centroids(VARIABLES, k, 0.0, 50.0, 0)
    started = time.perf_counter()
    sums = [local_calc(p, centroids, VARIABLES) for p in parts]
    merged = ArrayBundle({c: np.concatenate([s[c] for s in sums]) for c in sums[0].names})
    global_calc(merged, centroids, VARIABLES)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows-per-dataset", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    k = 4
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=args.rows_per_dataset)
        with (
            LocalFederation(workdir, [[f] for f in folders]) as federation,
            Controller(federation.controller_address) as mip,
        ):
            datasets = [d.code for d in mip.datasets()]

            def run(iterations: int) -> float:
                started = time.perf_counter()
                mip.run(
                    "kmeans",
                    data_model="demo:1.0",
                    datasets=datasets,
                    y=VARIABLES,
                    parameters={"numOfClusters": k, "numOfIterations": iterations, "initialMax": 50.0},
                )
                return time.perf_counter() - started

            run(1)  # warm-up
            per_iteration = statistics.median((run(21) - run(1)) / 20 for _ in range(args.repeats))
        compute = statistics.median(compute_s(_partitions(workdir / "data"), k) for _ in range(args.repeats))
    result = {
        "rows": 6 * args.rows_per_dataset,
        "iteration_s": per_iteration,
        "compute_s": compute,
        "mesh_s": per_iteration - compute,
        "compute_share": compute / per_iteration,
    }
    print(f"k-means, k={k}, 3 locals, {result['rows']:,} rows in all")
    print(f"  time per iteration   : {per_iteration * 1e3:8.2f} ms")
    print(f"  UDF compute (in-proc): {compute * 1e3:8.2f} ms ({compute / per_iteration:.1%})")
    print(f"  mesh (RPCs, copies)  : {(per_iteration - compute) * 1e3:8.2f} ms")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kmeans.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
