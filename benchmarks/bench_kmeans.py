"""k-means with 3 locals: time per iteration, and how much of it is UDF compute versus the mesh.

    .venv/bin/python -m benchmarks.bench_kmeans [--rows-per-dataset 20000] [--locals 3]
        [--backend duckdb|monetdb|both]

The iteration time is the difference between a 21- and a 1-iteration run, divided by 20
(so start-up, data selection and clean-up cancel out). The compute part is the same
UDFs run in this process on the same rows. Each local node holds two datasets, so
``--rows-per-dataset 500000`` puts 10^6 rows on every node. With ``--backend both`` the
same runs go to DuckDB nodes, then MonetDB nodes, and the ratios are printed; a run
also reports one whole 1-iteration experiment (data selection included). Writes
benchmarks/results/kmeans.json (kmeans_<backend>.json for another backend).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._backends import add_backend_options, backend_settings, backends, print_ratios
from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
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
    parser.add_argument("--locals", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    add_backend_options(parser)
    args = parser.parse_args()
    k = 4
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, backends(args) as chosen, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        folders = write_demo_federation(
            workdir / "data", num_locals=args.locals, rows_per_dataset=args.rows_per_dataset
        )
        node_ids = ["global", *[f"local{i + 1}" for i in range(args.locals)]]
        clients: dict[str, Controller] = {}
        for backend, url in chosen:  # side by side, taking turns, so the machine's load weighs on both alike
            federation = LocalFederation(
                workdir / backend, [[f] for f in folders], node_settings=backend_settings(backend, url, node_ids)
            )
            stack.enter_context(federation)
            clients[backend] = stack.enter_context(Controller(federation.controller_address))
        datasets = [d.code for d in next(iter(clients.values())).datasets()]

        def run(mip: Controller, iterations: int) -> float:
            started = time.perf_counter()
            mip.run(
                "kmeans",
                data_model="demo:1.0",
                datasets=datasets,
                y=VARIABLES,
                parameters={"numOfClusters": k, "numOfIterations": iterations, "initialMax": 50.0},
            )
            return time.perf_counter() - started

        ones: dict[str, list[float]] = {b: [] for b in clients}
        iterations: dict[str, list[float]] = {b: [] for b in clients}
        for mip in clients.values():
            run(mip, 1)  # warm-up
        for _ in range(args.repeats):
            for backend, mip in clients.items():
                one = run(mip, 1)
                iterations[backend].append((run(mip, 21) - one) / 20)
                ones[backend].append(one)
        for backend in clients:
            per_iteration = statistics.median(iterations[backend])
            one = statistics.median(ones[backend])
            results[backend] = {"iteration_ms": per_iteration * 1e3, "experiment_1_iteration_ms": one * 1e3}
            print(
                f"  nodes on {backend}: {per_iteration * 1e3:8.2f} ms per iteration, "
                f"{one * 1e3:8.1f} ms per 1-iteration experiment",
                flush=True,
            )
        compute = statistics.median(compute_s(_partitions(workdir / "data"), k) for _ in range(args.repeats))
    per_iteration = results[chosen[0][0]]["iteration_ms"] / 1e3
    result = {
        "rows": 2 * args.locals * args.rows_per_dataset,
        "iteration_s": per_iteration,
        "compute_s": compute,
        "mesh_s": per_iteration - compute,
        "compute_share": compute / per_iteration,
        "by_backend": results,
        "monetdb_over_duckdb": print_ratios(results, " ms"),
    }
    print(f"k-means, k={k}, {args.locals} locals, {result['rows']:,} rows in all")
    print(f"  time per iteration   : {per_iteration * 1e3:8.2f} ms ({chosen[0][0]})")
    print(f"  UDF compute (in-proc): {compute * 1e3:8.2f} ms ({compute / per_iteration:.1%})")
    print(f"  mesh (RPCs, copies)  : {(per_iteration - compute) * 1e3:8.2f} ms")
    RESULTS.mkdir(exist_ok=True)
    name = "kmeans.json" if args.backend == "duckdb" else f"kmeans_{args.backend}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
