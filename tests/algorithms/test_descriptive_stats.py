"""Descriptive statistics over 3 synthetic nodes == pandas on the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from algorithm_flows import Variable
from algorithm_flows.descriptive_stats_flow import DescriptiveStatsFlow
from algorithm_flows.testing import run_flow
from tests.helpers.reference import REFERENCE_DISCLOSURE
from udf_library import ArrayBundle

TOL = {"rtol": 1e-6, "atol": 1e-9}
VARIABLES = {
    "dataset": Variable("dataset", "text", is_categorical=True),
    "age": Variable("age", "real", is_categorical=False),
    "group": Variable("group", "text", is_categorical=True, enumerations=("a", "b", "c")),
}
DATASETS = {"local0": ["d0", "d1"], "local1": ["d2"], "local2": ["d3", "d4"]}


def partitions(seed: int = 9, small: str | None = None) -> dict[str, ArrayBundle]:
    rng = np.random.default_rng(seed)
    parts = {}
    for node, datasets in DATASETS.items():
        frames = []
        for d in datasets:
            n = 4 if d == small else int(rng.integers(30, 60))
            levels = ["a", "c"] if node == "local1" else ["a", "b", "c"]  # b missing on local1
            age = rng.normal(60, 10, n)
            age[rng.random(n) < 0.15] = np.nan
            group = rng.choice(levels, n).astype(object)
            group[rng.random(n) < 0.1] = None
            frames.append(pd.DataFrame({"dataset": d, "age": age, "group": group}))
        frame = pd.concat(frames, ignore_index=True)
        parts[node] = ArrayBundle(
            {
                "dataset": frame["dataset"].to_numpy(dtype=object),
                "age": frame["age"].to_numpy(),
                "group": np.array([None if pd.isna(g) else g for g in frame["group"]], dtype=object),
            }
        )
    return parts


def pooled(parts: dict[str, ArrayBundle]) -> pd.DataFrame:
    return pd.DataFrame({c: np.concatenate([p[c] for p in parts.values()]) for c in ("dataset", "age", "group")})


def record(result: list[dict[str, Any]], variable: str, dataset: str) -> Any:
    [found] = [r["data"] for r in result if r["variable"] == variable and r["dataset"] == dataset]
    return found


def test_per_dataset_numeric_matches_pandas_describe() -> None:
    # Arrange
    parts = partitions()
    frame = pooled(parts)

    # Act
    result = run_flow(DescriptiveStatsFlow, parts, VARIABLES, y=("age", "group"), **REFERENCE_DISCLOSURE)

    # Assert
    for dataset, rows in frame.groupby("dataset"):
        want = rows["age"].describe()
        got = record(result["variable_based"], "age", str(dataset))
        assert (got["num_dtps"], got["num_na"], got["num_total"]) == (
            int(want["count"]),
            len(rows) - int(want["count"]),
            len(rows),
        )
        np.testing.assert_allclose(
            [got[k] for k in ("mean", "std", "min", "q1", "q2", "q3", "max")],
            want[["mean", "std", "min", "25%", "50%", "75%", "max"]].to_numpy(dtype=float),
            **TOL,
        )


def test_all_datasets_pools_every_value() -> None:
    # Arrange
    parts = partitions()
    frame = pooled(parts)

    # Act
    result = run_flow(DescriptiveStatsFlow, parts, VARIABLES, y=("age",), x=("group",), **REFERENCE_DISCLOSURE)

    # Assert
    got = record(result["variable_based"], "age", "all datasets")
    np.testing.assert_allclose(
        [got["mean"], got["std"], got["min"], got["max"]],
        [frame["age"].mean(), frame["age"].std(), frame["age"].min(), frame["age"].max()],
        **TOL,
    )
    assert (got["q1"], got["q2"], got["q3"]) == (None, None, None)
    counts = record(result["variable_based"], "group", "all datasets")["counts"]
    assert counts == frame["group"].value_counts().to_dict()


def test_model_based_uses_complete_rows_only() -> None:
    # Arrange
    parts = partitions()
    complete = pooled(parts).dropna()

    # Act
    result = run_flow(DescriptiveStatsFlow, parts, VARIABLES, y=("age", "group"))

    # Assert
    got = record(result["model_based"], "age", "all datasets")
    assert got["num_dtps"] == len(complete)
    np.testing.assert_allclose(got["mean"], complete["age"].mean(), **TOL)
    assert record(result["model_based"], "group", "d2")["counts"] == (
        complete[complete.dataset == "d2"]["group"].value_counts().to_dict()
    )


def test_small_dataset_is_not_reported_nor_pooled() -> None:
    # Arrange
    parts = partitions(small="d3")
    frame = pooled(parts)
    kept = frame[frame.dataset != "d3"]

    # Act
    result = run_flow(DescriptiveStatsFlow, parts, VARIABLES, y=("age",))

    # Assert
    assert record(result["variable_based"], "age", "d3") is None
    got = record(result["variable_based"], "age", "all datasets")
    assert got["num_total"] == len(kept)
    np.testing.assert_allclose(got["std"], kept["age"].std(), **TOL)


def test_node_below_min_rows_is_left_out() -> None:
    # Arrange
    parts = partitions()
    parts["local1"] = parts["local1"].take(np.arange(5))
    kept = pooled({k: parts[k] for k in ("local0", "local2")})

    # Act
    result = run_flow(DescriptiveStatsFlow, parts, VARIABLES, y=("age",))

    # Assert
    assert record(result["variable_based"], "age", "d2") is None
    assert record(result["variable_based"], "age", "all datasets")["num_total"] == len(kept)
