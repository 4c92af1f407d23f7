"""k-means and linear regression over 10^4 ... 10^7 rows per node on 4 locals.

    .venv/bin/python -m benchmarks.bench_scale [--rows 10000 100000 1000000] [--iterations 5]

Each local node gets a table of N rows (made by CreateTable, standing in for a data
view) and the real flows run through the controller's runtime against real node
processes. Figures: time per k-means iteration and per linear-regression run, and the
ratio to a centralized numpy computation of the same iteration on the pooled rows,
measured in the same run. Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from algorithm_flows import InputData, LocalTables, Variable, parse_params
from algorithm_flows.kmeans_flow import KMeansFlow
from algorithm_flows.linear_regression_flow import LinearRegressionFlow
from mip_client.federation import LocalFederation
from mip_common.arrow_chunks import encode_batches, encode_schema
from mip_common.naming import new_table_name
from mip_controller.node_client import NodeClient, frame_batch
from mip_controller.runtime import NodeRuntime
from udf_library import ArrayBundle
from udf_library.kmeans_udfs import generate_initial_centroids, global_calc, local_calc

RESULTS = Path(__file__).parent / "results"
VARIABLES = ["a", "b", "c"]
LOCALS = 4


def node_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-5, 5, size=(4, 3))
    points = centers[rng.integers(0, 4, rows)] + rng.normal(size=(rows, 3))
    y = points @ np.array([1.5, -2.0, 0.5]) + rng.normal(size=rows)
    return pa.table(
        {"dataset": pa.array(["bench"] * rows), "a": points[:, 0], "b": points[:, 1], "c": points[:, 2], "y": y}
    )


async def upload(client: NodeClient, table: pa.Table) -> str:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in encode_batches(table.to_batches()):
            yield frame_batch(chunk)

    response = await client.create_table_framed(
        time.monotonic() + 600,
        "bench_scale",
        new_table_name("bench_scale", "data"),
        encode_schema(table.schema),
        chunks(),
    )
    return str(response.table.name)


def centralized_kmeans_iteration_s(pooled: ArrayBundle, repeats: int) -> float:
    centroids = generate_initial_centroids(VARIABLES, 4, -5.0, 5.0, 0)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        sums = local_calc(pooled, centroids, VARIABLES)
        global_calc(sums, centroids, VARIABLES)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def centralized_regression_s(pooled: ArrayBundle, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        x = np.column_stack([np.ones(pooled.num_rows), pooled.matrix(VARIABLES)])
        np.linalg.solve(x.T @ x, x.T @ pooled["y"])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def measure(federation: LocalFederation, rows: int, iterations: int) -> dict[str, float]:
    ids = federation.local_ids
    clients = {
        n: NodeClient(n, federation.node_address(n), concurrency=8, chunk_bytes=1 << 20) for n in ["global", *ids]
    }
    tables = [node_table(rows, seed) for seed in range(LOCALS)]
    try:
        parts = {n: await upload(clients[n], t) for n, t in zip(ids, tables, strict=True)}
        variables = {v: Variable(v, "real", False) for v in [*VARIABLES, "y"]}

        def runtime(y: tuple[str, ...], x: tuple[str, ...]) -> NodeRuntime:
            return NodeRuntime(
                experiment_id="bench_scale",
                deadline=time.monotonic() + 3600,
                global_node=clients["global"],
                local_nodes={n: clients[n] for n in ids},
                data=LocalTables(parts),
                inputdata=InputData("bench:1", ("bench",), y, x),
                variables={k: variables[k] for k in (*y, *x)},
                on_progress=lambda _: None,
            )

        async def kmeans(count: int) -> float:
            params = parse_params(
                KMeansFlow.params_type,
                {"numOfClusters": 4, "numOfIterations": count, "initialMin": -5, "initialMax": 5},
            )
            started = time.perf_counter()
            await KMeansFlow().run(runtime(tuple(VARIABLES), ()), params)
            return time.perf_counter() - started

        await kmeans(1)  # warm-up: the first UDF call converts each node's table once
        per_iteration = statistics.median(
            [(await kmeans(iterations + 1) - await kmeans(1)) / iterations for _ in range(2)]
        )
        regression_times = []
        for _ in range(3):
            started = time.perf_counter()
            await LinearRegressionFlow().run(
                runtime(("y",), tuple(VARIABLES)), parse_params(LinearRegressionFlow.params_type, {})
            )
            regression_times.append(time.perf_counter() - started)
        pooled = ArrayBundle({c: np.concatenate([t.column(c).to_numpy() for t in tables]) for c in [*VARIABLES, "y"]})
        central_iteration = centralized_kmeans_iteration_s(pooled, 5)
        central_regression = centralized_regression_s(pooled, 5)
        return {
            "rows_per_node": rows,
            "kmeans_iteration_ms": per_iteration * 1e3,
            "kmeans_centralized_ms": central_iteration * 1e3,
            "kmeans_ratio": per_iteration / central_iteration,
            "linreg_ms": statistics.median(regression_times) * 1e3,
            "linreg_centralized_ms": central_regression * 1e3,
            "linreg_ratio": statistics.median(regression_times) / central_regression,
        }
    finally:
        for client in clients.values():
            await client.delete_experiment_tables(time.monotonic() + 120, "bench_scale")
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        settings: dict[str, object] = {"canary_interval_s": 0}
        with LocalFederation(Path(workdir), [[] for _ in range(LOCALS)], controller_settings=settings) as federation:
            for rows in args.rows:
                result = asyncio.run(measure(federation, rows, args.iterations))
                results.append(result)
                print(
                    f"  {rows:>10,} rows/node: k-means iteration {result['kmeans_iteration_ms']:8.1f} ms "
                    f"(x{result['kmeans_ratio']:.2f} centralized numpy), "
                    f"linear regression {result['linreg_ms']:8.1f} ms (x{result['linreg_ratio']:.1f})",
                    flush=True,
                )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
