"""Round overhead: execute_udf_locals + merge on the global node + a global UDF + share back.

    .venv/bin/python -m benchmarks.bench_round_overhead [--locals 3 10 30 100] [--rounds 50]

Trivial UDFs (health.local_ping / health.global_count), so the time is the mesh's own;
each round's local UDF takes the table the previous round shared, so sharing is paid for.
The controller's runtime code (mip_controller.runtime.NodeRuntime) runs in this process
against real node processes. Baseline in the same run, after each round: one trivial unary
call, grpc.health.v1 Check on the global node (the floor of any gRPC call here), and one
Heartbeat. Target: a round at most 4 Checks at 3 locals. Writes
benchmarks/results/round_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc

from algorithm_flows import InputData, LocalTables
from mip_client.federation import LocalFederation
from mip_common.channels import open_channel
from mip_controller.node_client import NodeClient
from mip_controller.runtime import NodeRuntime
from udf_library import health_udfs

RESULTS = Path(__file__).parent / "results"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(federation: LocalFederation, rounds: int) -> dict[str, float]:
    ids = federation.local_ids
    clients = {
        n: NodeClient(n, federation.node_address(n), concurrency=8, chunk_bytes=1 << 20) for n in ["global", *ids]
    }
    runtime = NodeRuntime(
        experiment_id="bench_rounds",
        deadline=time.monotonic() + 3600,
        global_node=clients["global"],
        local_nodes={n: clients[n] for n in ids},
        data=LocalTables(dict.fromkeys(ids, "")),
        inputdata=InputData("", ()),
        variables={},
        on_progress=lambda _: None,
    )
    channel = open_channel(federation.node_address("global"))
    health = health_pb2_grpc.HealthStub(channel)
    try:
        times, pings, checks = [], [], []
        shared: LocalTables | None = None
        for index in range(rounds + 5):
            started = time.perf_counter()
            arguments = {} if shared is None else {"previous": shared}  # what the last round shared is used
            local = await runtime.execute_udf_locals(health_udfs.local_ping, **arguments)
            merged = await runtime.create_remote_and_merge_global(local)
            counted = await runtime.execute_udf_global(health_udfs.global_count, pings=merged)
            shared = await runtime.create_remote_global_to_locals(counted)
            elapsed = time.perf_counter() - started
            check_started = time.perf_counter()
            await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            ping_started = time.perf_counter()
            await clients["global"].heartbeat(time.monotonic() + 10)
            if index >= 5:  # warm-up rounds left out
                times.append(elapsed)
                checks.append(ping_started - check_started)
                pings.append(time.perf_counter() - ping_started)
        return {
            "locals": len(ids),
            "round_p50_ms": statistics.median(times) * 1e3,
            "round_p99_ms": _percentile(times, 0.99) * 1e3,
            "heartbeat_p50_ms": statistics.median(pings) * 1e3,
            "health_check_p50_ms": statistics.median(checks) * 1e3,
        }
    finally:
        await channel.close()
        for client in clients.values():
            await client.delete_experiment_tables(time.monotonic() + 60, "bench_rounds")
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--locals", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    results = []
    for count in args.locals:
        with tempfile.TemporaryDirectory() as workdir:
            federation = LocalFederation(
                Path(workdir), [[] for _ in range(count)], controller_settings={"canary_interval_s": 0}
            )
            with federation:
                result = asyncio.run(measure(federation, args.rounds))
        results.append(result)
        print(
            f"{count:4d} locals: round p50 {result['round_p50_ms']:7.2f} ms  p99 {result['round_p99_ms']:7.2f} ms"
            f"  baseline: health Check {result['health_check_p50_ms']:.2f} ms, Heartbeat "
            f"{result['heartbeat_p50_ms']:.2f} ms; round = {result['round_p50_ms'] / result['health_check_p50_ms']:.1f}"
            " Checks"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "round_overhead.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
