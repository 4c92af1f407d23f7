"""A node's own min_rows, not a default, decides which counts a result may show (the node suppresses them)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from mip_client.client import Controller
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation

THRESHOLD = 50


def test_counts_under_the_nodes_threshold_are_suppressed(tmp_path: Path) -> None:
    # Arrange: one hospital with min_rows 50; its diagnosis counts straddle 50
    folders = write_demo_federation(tmp_path / "data", num_locals=1, rows_per_dataset=100, seed=3)
    counts: Counter[str] = Counter()
    for path in folders[0].glob("*.csv"):
        with path.open(newline="") as handle:
            counts.update(row["diagnosis"] for row in csv.DictReader(handle) if row["diagnosis"])
    assert min(counts.values()) < THRESHOLD < max(counts.values())

    # Act
    federation = LocalFederation(tmp_path, [folders], node_settings={"min_rows": THRESHOLD})
    with federation, Controller(federation.controller_address) as controller:
        outcome = controller.run(
            "multiple_histograms",
            data_model="demo:1.0",
            datasets=["demo_site1_a", "demo_site1_b"],
            y=["diagnosis"],
        )

    # Assert
    histogram = outcome.result["histogram"][0]
    shown = dict(zip(histogram["bins"], histogram["counts"], strict=True))
    hidden = {level for level, count in counts.items() if count < THRESHOLD}
    if len(hidden) == 1:  # a lone suppressed count would follow from the total: the next smallest goes too
        hidden.add(min((c, level) for level, c in counts.items() if level not in hidden)[1])
    for level, count in counts.items():
        assert shown[level] == (None if level in hidden else count), level
