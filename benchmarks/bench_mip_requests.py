"""The MIP requests on dementia:0.1 split over 3 locals: median latency of 20 runs after a warm-up.

    .venv/bin/python -m benchmarks.bench_mip_requests [--runs 20] [--backend duckdb|monetdb|both]

The first case of each reference file (descriptive_stats, pearson_correlation,
linear_regression, logistic_regression, pca, ttest_onesample, anova_oneway) plus
k-means with k=4 over all 30 datasets, each as a whole RunExperiment through the
controller process. Absolute figures; for scale, the MIP reference engine takes about
60-250 ms for each on a machine like this one. Baseline in the same run: the
ListDatasets call (one controller round trip), and the time to start the federation
(which loads the data into every local node). ``--backend both`` runs everything on
DuckDB nodes, then on MonetDB nodes, and prints the ratios (``benchmarks/_backends.py``).
Needs ../shared/data; writes benchmarks/results/mip_requests.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._backends import add_backend_options, backend_settings, backends, print_ratios
from mip_client.client import Controller
from mip_client.federation import LocalFederation, split_data_folder

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS = Path(__file__).parent / "results"
ALGORITHMS = [
    "descriptive_stats",
    "pearson_correlation",
    "linear_regression",
    "logistic_regression",
    "pca",
    "ttest_onesample",
    "anova_oneway",
]


def requests() -> list[tuple[str, dict[str, Any]]]:
    """(algorithm, request) for every benchmarked request."""
    chosen = []
    for name in ALGORITHMS:
        case = json.loads((SHARED / "reference_cases" / f"{name}.json").read_text())["test_cases"][0]["input"]
        chosen.append((name, case))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    add_backend_options(parser)
    args = parser.parse_args()
    if not (SHARED / "data" / "dementia_v_0_1").exists():
        raise SystemExit(f"needs {SHARED / 'data'} (../shared beside the checkout)")
    with backends(args) as chosen, tempfile.TemporaryDirectory() as tmp:
        node_ids = ["global", "local1", "local2", "local3"]
        settings = {backend: backend_settings(backend, url, node_ids) for backend, url in chosen}
        results = measure(Path(tmp), args.runs, settings)
    for backend, figures in results.items():
        print(f"  nodes on {backend}")
        for name, value in figures.items():
            print(f"  {name:24s} median {value:8.1f} ms")
    print_ratios(results, " ms")
    RESULTS.mkdir(exist_ok=True)
    name = "mip_requests.json" if args.backend == "duckdb" else f"mip_requests_{args.backend}.json"
    (RESULTS / name).write_text(json.dumps(results if len(results) > 1 else results[args.backend], indent=2))


def measure(workdir: Path, runs: int, node_settings: dict[str, dict[str, object]]) -> dict[str, dict[str, float]]:
    """Per backend, median milliseconds of each request, the baseline, and the federation's start.

    The federations run side by side and take turns, run by run, so the load of the
    machine weighs on every backend alike.
    """
    folders = split_data_folder(SHARED / "data" / "dementia_v_0_1", workdir / "data", 3)
    results: dict[str, dict[str, float]] = {backend: {} for backend in node_settings}
    with contextlib.ExitStack() as stack:
        clients = {}
        for backend, settings in node_settings.items():
            federation = LocalFederation(
                workdir / backend,
                [[f] for f in folders],
                # MIP exports leave out some CDEs; the first one-way ANOVA case has groups of
                # under 10 rows on a local, so cells of any size
                node_settings=settings | {"missing_cde_columns": "empty", "min_cell_rows": 1},
                controller_settings={"canary_interval_s": 0},
            )
            started = time.perf_counter()
            federation.start()
            results[backend]["(start, loading data)"] = (time.perf_counter() - started) * 1e3
            stack.callback(federation.stop)
            clients[backend] = stack.enter_context(Controller(federation.controller_address))
        datasets = sorted({d.code for d in next(iter(clients.values())).datasets("dementia:0.1")})
        cases = [
            *requests(),
            (
                "kmeans",
                {
                    "inputdata": {
                        "data_model": "dementia:0.1",
                        "datasets": datasets,
                        "y": ["lefthippocampus", "righthippocampus", "leftamygdala"],
                    },
                    "parameters": {"numOfClusters": 4, "numOfIterations": 10, "initialMin": 0.5, "initialMax": 4.0},
                },
            ),
        ]
        calls: list[tuple[str, Callable[[Controller], object]]] = [
            ("(baseline) ListDatasets", lambda mip: mip.datasets())
        ]
        for name, case in cases:
            inputdata = case["inputdata"]

            def run(
                mip: Controller, name: str = name, inputdata: dict[str, Any] = inputdata, case: dict[str, Any] = case
            ) -> object:
                return mip.run(
                    name,
                    data_model=inputdata["data_model"],
                    datasets=inputdata["datasets"],
                    y=inputdata.get("y") or [],
                    x=inputdata.get("x") or [],
                    filters=inputdata.get("filters"),
                    parameters=case.get("parameters") or {},
                )

            calls.append((name, run))
        for name, call in calls:
            times: dict[str, list[float]] = {backend: [] for backend in clients}
            for mip in clients.values():
                call(mip)  # warm-up
            for _ in range(runs):
                for backend, mip in clients.items():
                    started = time.perf_counter()
                    call(mip)
                    times[backend].append(time.perf_counter() - started)
            for backend in clients:
                results[backend][name] = statistics.median(times[backend]) * 1e3
            print(f"  {name:24s} " + "  ".join(f"{b} {results[b][name]:8.1f} ms" for b in clients), flush=True)
    return results


if __name__ == "__main__":
    main()
