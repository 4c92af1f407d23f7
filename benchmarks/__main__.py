"""``python -m benchmarks``: run every benchmark in turn; each prints its table and writes JSON.

Options pass through to none of them: run a single one (``python -m benchmarks.bench_scale
--rows 10000000``) for other sizes. Results land in benchmarks/results/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS: list[tuple[str, str, list[str]]] = [
    ("1. table copy, local -> controller -> global vs a plain socket", "benchmarks.bench_table_copy", []),
    ("2. round overhead (3 and 10 locals; add --locals 30 100 by hand)", "benchmarks.bench_round_overhead", []),
    ("3. MIP requests on dementia:0.1 over 3 locals", "benchmarks.bench_mip_requests", []),
    ("4. scale in rows, 4 locals", "benchmarks.bench_scale", []),
    ("5. memory", "benchmarks.bench_memory", []),
    ("k-means iteration: compute vs mesh", "benchmarks.bench_kmeans", []),
    ("controller memory over 900 experiments (soak)", "benchmarks.bench_soak", []),
    ("6. side by side with Exaflow (only when MIP_BENCH_EXAFLOW_DIR is set)", "benchmarks.bench_exaflow", []),
    ("secure aggregation: round with and without masking (3 and 10 locals)", "benchmarks.bench_secure_aggregation", []),
]


def main() -> int:
    failed = []
    for title, module, extra in BENCHMARKS:
        print(f"\n== {title}", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", module, *extra], cwd=Path(__file__).resolve().parents[1], check=False
        )
        if result.returncode:
            failed.append(module)
    if failed:
        print(f"\nfailed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
