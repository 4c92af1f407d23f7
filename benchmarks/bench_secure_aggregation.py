"""Cost of secure aggregation per round: the same round with and without masking, 3 and 10 locals.

    .venv/bin/python -m benchmarks.bench_secure_aggregation [--locals 3 10] [--rounds 40]

A round is what an iterative flow repeats: every local computes an aggregate that merges by
secure sum (logistic regression's Newton sums: count, log-likelihood, gradient and Hessian of
a five-column design), the global node merges them and runs the Newton update. The controller's
runtime (mip_controller.runtime.NodeRuntime) runs in this process against real node processes
holding the demo data; plain and secure rounds alternate, so both see the same machine load.
The first round of each runtime, which also fetches the nodes' masking keys, is left out.
Writes benchmarks/results/secure_aggregation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from algorithm_flows import InputData, LocalTables
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common._proto import common_pb2
from mip_controller.node_client import NodeClient
from mip_controller.runtime import NodeRuntime
from udf_library import logistic_regression_udfs

RESULTS = Path(__file__).parent / "results"
EXPERIMENT = "bench_secure_aggregation"
NUMERICS = ["age", "cognition", "hippocampus", "entorhinal"]
LITERALS: dict[str, Any] = {
    "y": "amyloid",
    "positive_class": "positive",
    "categoricals": [],
    "numerics": NUMERICS,
    "levels": {},
}


async def _views(clients: dict[str, NodeClient], ids: list[str]) -> LocalTables:
    inputdata = common_pb2.InputData(data_model="demo:1.0", y=["amyloid"], x=NUMERICS)
    datasets: set[str] = set()
    for node_id in ids:
        datasets |= {d.code for d in (await clients[node_id].data_catalogue(time.monotonic() + 30)).datasets}
    inputdata.datasets.extend(sorted(datasets))
    views = {}
    for node_id in ids:
        response = await clients[node_id].create_data_view(time.monotonic() + 60, EXPERIMENT, inputdata, False)
        views[node_id] = response.table.name
    return LocalTables(views)


async def _round(runtime: NodeRuntime, data: LocalTables) -> float:
    coefficients = [0.01] * (len(NUMERICS) + 1)
    started = time.perf_counter()
    step = await runtime.execute_udf_locals(
        logistic_regression_udfs.local_newton_step, data=data, coefficients=coefficients, **LITERALS
    )
    merged = await runtime.create_remote_and_merge_global(step)
    await runtime.execute_udf_global_outputs(
        logistic_regression_udfs.global_newton_update, step=merged, names=NUMERICS, coefficients=coefficients
    )
    return time.perf_counter() - started


async def measure(federation: LocalFederation, rounds: int) -> dict[str, Any]:
    ids = federation.local_ids
    clients = {
        n: NodeClient(n, federation.node_address(n), concurrency=8, chunk_bytes=1 << 20) for n in ["global", *ids]
    }
    try:
        data = await _views(clients, ids)

        def runtime(is_secure: bool) -> NodeRuntime:
            return NodeRuntime(
                experiment_id=EXPERIMENT,
                deadline=time.monotonic() + 3600,
                global_node=clients["global"],
                local_nodes={n: clients[n] for n in ids},
                data=data,
                inputdata=InputData("demo:1.0", ()),
                variables={},
                on_progress=lambda _: None,
                secure_aggregation=is_secure,
            )

        plain_rt, secure_rt = runtime(False), runtime(True)
        await _round(plain_rt, data)  # warms up both: imports, UDF caches
        first_secure = await _round(secure_rt, data)
        times: dict[str, list[float]] = {"plain": [], "secure": []}
        for _ in range(rounds):
            times["plain"].append(await _round(plain_rt, data))
            times["secure"].append(await _round(secure_rt, data))
        plain, secure = statistics.median(times["plain"]), statistics.median(times["secure"])
        return {
            "locals": len(ids),
            "rounds": rounds,
            "plain_round_p50_ms": plain * 1e3,
            "secure_round_p50_ms": secure * 1e3,
            "ratio": secure / plain,
            "first_secure_round_ms": first_secure * 1e3,
        }
    finally:
        for client in clients.values():
            await client.delete_experiment_tables(time.monotonic() + 60, EXPERIMENT)
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--locals", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    results = []
    for count in args.locals:
        with tempfile.TemporaryDirectory() as workdir:
            folders = write_demo_federation(Path(workdir) / "data", num_locals=count, rows_per_dataset=200)
            federation = LocalFederation(
                Path(workdir), [[f] for f in folders], controller_settings={"canary_interval_s": 0}
            )
            with federation:
                result = asyncio.run(measure(federation, args.rounds))
        results.append(result)
        print(
            f"{count:4d} locals: plain round p50 {result['plain_round_p50_ms']:7.2f} ms, secure "
            f"{result['secure_round_p50_ms']:7.2f} ms (x{result['ratio']:.2f}; first secure round with "
            f"key exchange {result['first_secure_round_ms']:.1f} ms)"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "secure_aggregation.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
