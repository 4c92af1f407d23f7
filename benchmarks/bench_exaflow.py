"""mip-mesh next to Exaflow (the MIP reference engine): same machine, same data split, same requests.

    MIP_BENCH_EXAFLOW_DIR=/tmp/exa .venv/bin/python -m benchmarks.bench_exaflow [--runs 20] [--warmup 3]

Optional: runs only when MIP_BENCH_EXAFLOW_DIR names a prepared Exaflow set-up (README,
"Benchmarks"); without it, it says so and exits 0. Both engines run 1 global + 3 locals
on dementia:0.1 split alike (``*0.csv`` on the first local, the rest round-robin, the
``*-test.csv`` files left out). mip-mesh runs from this checkout (its Python client);
Exaflow through its REST API on one kept-alive HTTP connection. Per request: warm-ups,
then ``runs`` pairs mip-mesh/Exaflow interleaved, so the machine's load hits both alike;
the table shows medians and their ratio. The requests: the first case of each reference
file that both engines answer under their default settings (mip-mesh's disclosure rules
refuse some), PCA over all 30 datasets, and k-means (k=4, 10 iterations) on the PCA
case's datasets and on all 30. Also start-up (launch to all 30 datasets visible) and
idle resident memory of every process. Writes benchmarks/results/exaflow.json.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mip_client.client import Controller
from mip_client.federation import LocalFederation, split_data_folder
from mip_common.errors import MipError

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS = Path(__file__).parent / "results"
ENV = "MIP_BENCH_EXAFLOW_DIR"
EXAFLOW = ("127.0.0.1", 5000)
DATA_MODEL = "dementia:0.1"
DATASET_COUNT = 30
REFERENCE = [
    "descriptive_stats",
    "ttest_onesample",
    "linear_regression",
    "anova_oneway",
    "pearson_correlation",
    "logistic_regression",
    "pca",
]
KMEANS_Y = ["lefthippocampus", "righthippocampus", "leftamygdala"]


class Exaflow:
    """Exaflow's REST API on one kept-alive connection, started and stopped by the set-up's scripts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._http: http.client.HTTPConnection | None = None

    def start(self) -> float:
        """Start every process; seconds until all datasets are visible (the start script waits for that)."""
        started = time.perf_counter()
        subprocess.run([str(self.root / "exaflow_start.sh")], check=True, capture_output=True, env=self._env())
        return time.perf_counter() - started

    def stop(self) -> None:
        """Stop every process the start script recorded."""
        if self._http is not None:
            self._http.close()
        subprocess.run([str(self.root / "exaflow_stop.sh")], check=True, capture_output=True, env=self._env())

    def _env(self) -> dict[str, str]:
        return {**os.environ, "EXA_DIR": str(self.root)}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One HTTP request; (status, decoded JSON or text). A connection the server closed is opened again."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(2):
            if self._http is None:
                self._http = http.client.HTTPConnection(*EXAFLOW, timeout=120)
            try:
                self._http.request(method, path, body=data, headers={"Content-Type": "application/json"})
                response = self._http.getresponse()
                break
            except (ConnectionError, http.client.HTTPException):
                self._http.close()
                self._http = None
                if attempt:
                    raise
        text = response.read().decode()
        try:
            return response.status, json.loads(text)
        except json.JSONDecodeError:
            return response.status, text

    def run(self, request: dict[str, Any]) -> Any:
        """Run one request; its result."""
        inputdata = {k: v for k, v in request["inputdata"].items() if v}
        status, result = self.call(
            "POST", f"/algorithms/{request['algorithm']}", {"inputdata": inputdata, "parameters": request["exaflow"]}
        )
        if status != 200:
            raise RuntimeError(f"Exaflow {request['label']}: HTTP {status}: {str(result)[:300]}")
        return result

    def pids(self) -> dict[str, int]:
        """Recorded process-group leaders by name."""
        return {p.stem: int(p.read_text()) for p in sorted((self.root / "exaflow_deploy" / "pids").glob("*.pid"))}


def _run_mip(mip: Controller, request: dict[str, Any]) -> Any:
    inputdata = request["inputdata"]
    return mip.run(
        request["algorithm"],
        data_model=inputdata["data_model"],
        datasets=inputdata["datasets"],
        y=inputdata.get("y") or [],
        x=inputdata.get("x") or [],
        filters=inputdata.get("filters"),
        parameters=request["mip"],
    ).result


def _requests(mip: Controller, exaflow: Exaflow, datasets: list[str]) -> list[dict[str, Any]]:
    """The benchmarked requests, each in both engines' parameter names."""
    chosen: list[dict[str, Any]] = []
    for name in REFERENCE:
        cases = json.loads((SHARED / "reference_cases" / f"{name}.json").read_text())["test_cases"]
        for case in cases:
            inputdata = {k: case["input"]["inputdata"].get(k) for k in ("data_model", "datasets", "y", "x", "filters")}
            parameters = case["input"].get("parameters") or {}
            request: dict[str, Any] = {"label": name, "algorithm": name, "inputdata": inputdata, "mip": parameters}
            request["exaflow"] = parameters
            try:
                _run_mip(mip, request)
                exaflow.run(request)
            except (MipError, RuntimeError):
                continue  # refused by one engine (mip-mesh's cell rule, say): the next case
            chosen.append(request)
            break
    pca = next(r for r in chosen if r["label"] == "pca")
    everything: dict[str, Any] = {"data_model": DATA_MODEL, "datasets": datasets, "y": pca["inputdata"]["y"], "x": None}
    chosen.append({"label": "pca_all_datasets", "algorithm": "pca", "inputdata": everything, "mip": {}, "exaflow": {}})
    # tolerance 0: all 10 iterations on both; random initial centroids by each engine's own rule
    kmeans_mip = {"numOfClusters": 4, "numOfIterations": 10, "initialMin": 0.5, "initialMax": 4.0}
    kmeans_exaflow = {"k": 4, "maxiter": 10, "tol": 0.0}
    for label, names in [("kmeans", pca["inputdata"]["datasets"]), ("kmeans_all_datasets", datasets)]:
        selection = {"data_model": DATA_MODEL, "datasets": names, "y": KMEANS_Y, "x": None}
        request = {"label": label, "algorithm": "kmeans", "inputdata": selection, "mip": kmeans_mip}
        chosen.append(request | {"exaflow": kmeans_exaflow})
    return chosen


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)


def _group_rss_mb(leader: int) -> float:
    """Resident memory of a process group (Exaflow's controller forks a worker into its group)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == leader:
                total += _rss_mb(int(entry.name))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--settle-s", type=float, default=5.0, help="idle seconds before reading memory")
    args = parser.parse_args()
    if not os.environ.get(ENV):
        print(f"  skipped: set {ENV} to a prepared Exaflow set-up (README, Benchmarks) to compare")
        return
    exaflow = Exaflow(Path(os.environ[ENV]))
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_start": os.getloadavg(), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        folders = split_data_folder(SHARED / "data" / "dementia_v_0_1", workdir / "data", 3)
        started = time.perf_counter()
        federation = LocalFederation(workdir, [[f] for f in folders], controller_settings={"canary_interval_s": 0})
        with federation, Controller(federation.controller_address) as mip:
            while len(mip.datasets(DATA_MODEL)) < DATASET_COUNT:
                time.sleep(0.05)
            report["startup_s"] = {"mip-mesh": time.perf_counter() - started}
            try:
                report["startup_s"]["exaflow"] = exaflow.start()
                datasets = sorted({d.code for d in mip.datasets(DATA_MODEL)})
                time.sleep(args.settle_s)
                report["idle_rss_mb"] = {
                    "mip-mesh": {n: _rss_mb(p.pid) for n, p in federation.processes.items()},
                    "exaflow": {n: _group_rss_mb(p) for n, p in exaflow.pids().items()},
                }
                for request in _requests(mip, exaflow, datasets):
                    load = os.getloadavg()[0]
                    for _ in range(args.warmup):
                        _run_mip(mip, request)
                        exaflow.run(request)
                    times: dict[str, list[float]] = {"mip-mesh": [], "exaflow": []}
                    for _ in range(args.runs):
                        times["mip-mesh"].append(_timed(functools.partial(_run_mip, mip, request)))
                        times["exaflow"].append(_timed(functools.partial(exaflow.run, request)))
                    row = {
                        "request": request["label"],
                        "mip_ms": statistics.median(times["mip-mesh"]) * 1e3,
                        "exaflow_ms": statistics.median(times["exaflow"]) * 1e3,
                        "load": [load, os.getloadavg()[0]],
                    }
                    row["ratio"] = row["mip_ms"] / row["exaflow_ms"]
                    report["rows"].append(row)
                    print(
                        f"  {row['request']:22s} mip-mesh {row['mip_ms']:7.1f} ms  Exaflow {row['exaflow_ms']:7.1f} ms"
                        f"  ratio {row['ratio']:.2f}  (load {load:.1f})",
                        flush=True,
                    )
            finally:
                exaflow.stop()
    for engine in ("mip-mesh", "exaflow"):
        rss = report["idle_rss_mb"][engine]
        print(
            f"  {engine:9s} start-up {report['startup_s'][engine]:5.1f} s; idle RSS {sum(rss.values()):6.0f} MB = "
            + ", ".join(f"{n} {mb:.0f}" for n, mb in rss.items())
        )
    report["load_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "exaflow.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
