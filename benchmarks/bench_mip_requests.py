"""The MIP requests on dementia:0.1 split over 3 locals: median latency of 20 runs after a warm-up.

    .venv/bin/python -m benchmarks.bench_mip_requests [--runs 20]

The first case of each reference file (descriptive_stats, pearson_correlation,
linear_regression, logistic_regression, pca, ttest_onesample, anova_oneway) plus
k-means with k=4 over all 30 datasets, each as a whole RunExperiment through the
controller process. Absolute figures; for scale, the MIP reference engine takes about
60-250 ms for each on a machine like this one. Baseline in the same run: the
ListDatasets call (one controller round trip). Needs ../shared/data; writes
benchmarks/results/mip_requests.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mip_controller.client import Controller
from mip_controller.federation import LocalFederation, split_data_folder

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
    args = parser.parse_args()
    if not (SHARED / "data" / "dementia_v_0_1").exists():
        raise SystemExit(f"needs {SHARED / 'data'} (../shared beside the checkout)")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        folders = split_data_folder(SHARED / "data" / "dementia_v_0_1", workdir / "data", 3)
        settings: dict[str, object] = {"canary_interval_s": 0}
        federation = LocalFederation(
            workdir,
            [[f] for f in folders],
            controller_settings=settings,
            node_settings={"missing_cde_columns": "empty"},
        )
        with federation, Controller(federation.controller_address) as mip:
            datasets = sorted({d.code for d in mip.datasets("dementia:0.1")})
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
                        "parameters": {
                            "numOfClusters": 4,
                            "numOfIterations": 10,
                            "initialMin": 0.5,
                            "initialMax": 4.0,
                        },
                    },
                ),
            ]
            baseline = []
            for _ in range(args.runs):
                started = time.perf_counter()
                mip.datasets()
                baseline.append(time.perf_counter() - started)
            results["(baseline) ListDatasets"] = statistics.median(baseline) * 1e3
            for name, case in cases:
                inputdata = case["inputdata"]

                def run(name: str = name, inputdata: dict[str, Any] = inputdata, case: dict[str, Any] = case) -> None:
                    mip.run(
                        name,
                        data_model=inputdata["data_model"],
                        datasets=inputdata["datasets"],
                        y=inputdata.get("y") or [],
                        x=inputdata.get("x") or [],
                        filters=inputdata.get("filters"),
                        parameters=case.get("parameters") or {},
                    )

                run()  # warm-up
                times = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - started)
                results[name] = statistics.median(times) * 1e3
                print(f"  {name:24s} median {results[name]:8.1f} ms", flush=True)
    print(f"  {'(baseline) ListDatasets':24s} median {results['(baseline) ListDatasets']:8.1f} ms")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mip_requests.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
