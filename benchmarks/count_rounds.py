"""Count each algorithm's federation rounds in a real run (not part of the tests).

A round is one ``execute_udf_locals`` call: one ExecuteUDF on every participating local
node. The script starts dementia:0.1 split over 3 locals, runs each algorithm once, and
counts the "udf ran" lines each local node logs during the run (the most on any node),
and beside them the global node's UDF calls (each one more sequential call).

    .venv/bin/python -m benchmarks.count_rounds [--out benchmarks/results/rounds.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from mip_client.client import Controller
from mip_client.federation import LocalFederation, split_data_folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dementia_v_0_1"
HIPPOCAMPUS = ["lefthippocampus", "righthippocampus"]
REQUESTS: dict[str, dict[str, Any]] = {
    "anova": {"y": ["lefthippocampus"], "x": ["gender", "agegroup"], "parameters": {"sstype": 2}},
    "anova_oneway": {"y": ["lefthippocampus"], "x": ["agegroup"]},
    "decision_tree": {"y": ["alzheimerbroadcategory"], "x": HIPPOCAMPUS, "parameters": {"max_depth": 3}},
    "descriptive_stats": {"y": ["lefthippocampus", "gender"]},
    "kmeans": {"y": HIPPOCAMPUS, "parameters": {"numOfClusters": 3, "numOfIterations": 10, "initialMax": 4.0}},
    "linear_regression": {"y": ["lefthippocampus"], "x": ["gender", "leftamygdala"]},
    "linear_regression_cv": {"y": ["lefthippocampus"], "x": ["gender", "leftamygdala"], "parameters": {"n_splits": 3}},
    "logistic_regression": {"y": ["gender"], "x": HIPPOCAMPUS, "parameters": {"positive_class": "F"}},
    "logistic_regression_cv": {
        "y": ["gender"],
        "x": HIPPOCAMPUS,
        "parameters": {"positive_class": "F", "n_splits": 3},
    },
    "multiple_histograms": {"y": ["lefthippocampus"], "x": ["gender"], "parameters": {"bins": 10}},
    "naive_bayes_categorical_cv": {"y": ["alzheimerbroadcategory"], "x": ["gender", "agegroup"]},
    "naive_bayes_categorical_fit": {"y": ["alzheimerbroadcategory"], "x": ["gender", "agegroup"]},
    "naive_bayes_gaussian_cv": {"y": ["alzheimerbroadcategory"], "x": HIPPOCAMPUS},
    "naive_bayes_gaussian_fit": {"y": ["alzheimerbroadcategory"], "x": HIPPOCAMPUS},
    "pca": {"y": [*HIPPOCAMPUS, "leftamygdala"]},
    "pca_with_transformation": {"y": HIPPOCAMPUS, "parameters": {"data_transformation": {"log": HIPPOCAMPUS}}},
    "pearson_correlation": {"y": [*HIPPOCAMPUS, "leftamygdala"]},
    "ttest_independent": {"y": ["lefthippocampus"], "x": ["gender"], "parameters": {"groupA": "F", "groupB": "M"}},
    "ttest_onesample": {"y": ["lefthippocampus"], "parameters": {"mu": 3.0}},
    "ttest_paired": {"y": ["lefthippocampus"], "x": ["righthippocampus"]},
}


def _udf_runs(logs: list[Path]) -> dict[str, dict[str, int]]:
    """Per experiment (in order of first appearance), the "udf ran" lines of each local node."""
    runs: dict[str, dict[str, int]] = {}
    for log in logs:
        for line in log.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "udf ran" and event.get("experiment_id"):
                per_node = runs.setdefault(event["experiment_id"], {})
                per_node[log.stem] = per_node.get(log.stem, 0) + 1
    return runs


def count_rounds(workdir: Path) -> dict[str, dict[str, Any]]:
    """Rounds (and what the result reports about iterations) of each algorithm's run."""
    folders = split_data_folder(DATA, workdir / "data", 3)
    rounds: dict[str, dict[str, Any]] = {}
    with (
        LocalFederation(
            workdir,
            [[f] for f in folders],
            # the ANOVA requests have cells under the default minimum, and the decision tree's
            # split search needs exact extremes: rounds are counted, not disclosure
            node_settings={"log_json": True, "missing_cde_columns": "empty", "min_cell_rows": 1, "extremes": "exact"},
        ) as federation,
        Controller(federation.controller_address) as client,
    ):
        datasets = [d.code for d in client.datasets("dementia:0.1")]
        logs = [Path(federation.processes[n].log) for n in federation.local_ids]
        global_log = Path(federation.processes["global"].log)
        for algorithm, request in REQUESTS.items():
            seen = set(_udf_runs([*logs, global_log]))
            outcome = client.run(algorithm, data_model="dementia:0.1", datasets=datasets, **request)
            time.sleep(0.5)  # let the nodes' last log lines reach their files
            new = [runs for experiment, runs in _udf_runs(logs).items() if experiment not in seen]
            on_global = [runs for experiment, runs in _udf_runs([global_log]).items() if experiment not in seen]
            rounds[algorithm] = {
                "rounds": max((max(r.values()) for r in new), default=0),
                "global_calls": sum(sum(r.values()) for r in on_global),
                "experiments": len(new),
                "iterations": outcome.result.get("iterations"),
                "request": request,
            }
            figures = rounds[algorithm]
            print(f"{algorithm:28} {figures['rounds']:4} {figures['global_calls']:4}  {figures['iterations'] or ''}")
    return rounds


def main() -> None:
    """Print and save the rounds of every algorithm."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rounds.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rounds = count_rounds(Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rounds, indent=2) + "\n")


if __name__ == "__main__":
    main()
