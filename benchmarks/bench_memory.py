"""Memory: an idle node's resident memory, and peaks during a 10-million-value table copy.

    .venv/bin/python -m benchmarks.bench_memory [--rows 5000000]

Absolute figures (MB), read from /proc: VmRSS of an idle global node, and VmHWM (peak)
of the source node, the target node and the copying process (which runs the
controller's runtime code) after one copy local -> controller -> global.
Writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from benchmarks.bench_table_copy import mesh_copy_mb_s
from mip_client.federation import LocalFederation

RESULTS = Path(__file__).parent / "results"


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    settings: dict[str, object] = {"canary_interval_s": 0}
    with (
        tempfile.TemporaryDirectory() as workdir,
        LocalFederation(Path(workdir), [[]], controller_settings=settings) as federation,
    ):
        time.sleep(2)
        idle = _status_mb(federation.processes["global"].pid, "VmRSS")
        rng = np.random.default_rng(0)
        table = pa.table({"id": np.arange(args.rows, dtype=np.int64), "value": rng.normal(size=args.rows)})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        asyncio.run(mesh_copy_mb_s(federation, table, 1))
        result = {
            "idle_node_rss_mb": idle,
            "source_node_peak_mb": _status_mb(federation.processes["local1"].pid, "VmHWM"),
            "target_node_peak_mb": _status_mb(federation.processes["global"].pid, "VmHWM"),
            "copier_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "copier_peak_before_copy_mb": before,
            "table_mb": table.nbytes / 2**20,
        }
    for key, value in result.items():
        print(f"  {key:28s} {value:8.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
