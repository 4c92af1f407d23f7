"""Every benchmark still runs end to end at a toy size (nothing here is timed or compared).

Benchmarks call the nodes directly (CreateTable, ExecuteUDF), so a rule a node adds can
break them silently: the CreateTable naming rule once did, until a benchmark run failed.
A toy run overwrites the (git-ignored) JSON in benchmarks/results/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.mip_data import DATA

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

TOY_RUNS = {
    "bench_table_copy": ["--rows", "20000", "--repeats", "1"],
    "bench_scale": ["--rows", "2000", "--iterations", "1"],
    "bench_kmeans": ["--rows-per-dataset", "500", "--locals", "2", "--repeats", "1"],
    "bench_round_overhead": ["--locals", "2", "--rounds", "3"],
    "bench_secure_aggregation": ["--locals", "2", "--rounds", "2"],
    "bench_memory": ["--rows", "2000"],
    "bench_soak": ["--experiments", "4", "--clients", "2", "--idle-s", "0"],
    "kmeans_start_cells": ["--federations", "2", "--rows-per-dataset", "30"],
}
NEEDS_MIP_DATA = {"bench_mip_requests": ["--runs", "1"], "count_rounds": ["--out", "{tmp}/rounds.json"]}


def _run(module: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", f"benchmarks.{module}", *(a.format(tmp=tmp_path) for a in args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize(("module", "args"), list(TOY_RUNS.items()), ids=list(TOY_RUNS))
def test_benchmark_runs_at_a_toy_size(module: str, args: list[str], tmp_path: Path) -> None:
    finished = _run(module, args, tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]


@pytest.mark.parametrize(("module", "args"), list(NEEDS_MIP_DATA.items()), ids=list(NEEDS_MIP_DATA))
def test_benchmark_on_mip_data_runs(module: str, args: list[str], tmp_path: Path) -> None:
    if not (DATA / "dementia_v_0_1").exists():
        pytest.skip("needs ../shared/data/dementia_v_0_1")
    finished = _run(module, args, tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]
