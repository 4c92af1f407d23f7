"""Soak: the controller's resident memory over many experiments, and after it idles.

    .venv/bin/python -m benchmarks.bench_soak [--experiments 900] [--clients 4] [--idle-s 10]

A demo federation (3 locals) runs a warm-up of 100 small experiments (one-sample
t-test and 3-iteration k-means, alternating, each from a new connection as ``mip run``
makes them, ``--clients`` at a time), then ``--experiments`` more; the
controller's VmRSS is read from /proc after the warm-up, after the run and after
``--idle-s`` seconds idle. Absolute figures (MB) and the growth per 1000 experiments.
Bounded: the number of experiments is fixed. Writes benchmarks/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.bench_memory import _status_mb
from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation

RESULTS = Path(__file__).parent / "results"
WARM_UP = 100
DATASETS = ["demo_site1_a", "demo_site2_a", "demo_site3_a"]


def _experiments(address: str, count: int, clients: int) -> None:
    """``count`` experiments, each from a new client connection, ``clients`` at a time."""

    def one(i: int) -> None:
        with Controller(address) as controller:
            _experiment(controller, i)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(count)))


def _experiment(controller: Controller, i: int) -> None:
    if True:
        if i % 2:
            controller.run(
                "ttest_onesample", data_model="demo:1.0", datasets=DATASETS, y=["hippocampus"], parameters={"mu": 3.0}
            )
        else:
            controller.run(
                "kmeans",
                data_model="demo:1.0",
                datasets=DATASETS,
                y=["hippocampus", "entorhinal"],
                parameters={"numOfClusters": 3, "numOfIterations": 3, "seed": i},
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=900)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--idle-s", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        folders = write_demo_federation(Path(workdir) / "data", num_locals=3, rows_per_dataset=100, seed=1)
        with LocalFederation(Path(workdir), [[f] for f in folders]) as federation:
            pid = federation.processes["controller"].pid
            _experiments(federation.controller_address, WARM_UP, args.clients)
            warm = _status_mb(pid, "VmRSS")
            started = time.monotonic()
            _experiments(federation.controller_address, args.experiments, args.clients)
            seconds = time.monotonic() - started
            after = _status_mb(pid, "VmRSS")
            time.sleep(args.idle_s)
            idle = _status_mb(pid, "VmRSS")
    result = {
        "experiments": args.experiments,
        "clients": args.clients,
        "controller_rss_after_warm_up_mb": warm,
        "controller_rss_after_run_mb": after,
        "controller_rss_after_idle_mb": idle,
        "growth_per_1000_experiments_mb": (after - warm) * 1000 / max(1, args.experiments),
        "experiments_per_s": args.experiments / seconds,
    }
    for key, value in result.items():
        print(f"  {key:36s} {value:8.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
