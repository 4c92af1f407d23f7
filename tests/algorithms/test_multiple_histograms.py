"""Histograms over 3 synthetic nodes == numpy on the pooled rows, small counts blanked."""

from __future__ import annotations

import numpy as np

from algorithm_flows import Variable
from algorithm_flows.multiple_histograms_flow import MultipleHistogramsFlow
from algorithm_flows.testing import run_flow
from udf_library import ArrayBundle

VARIABLES = {
    "volume": Variable("volume", "real", is_categorical=False),
    "group": Variable("group", "text", is_categorical=True, enumerations=("a", "b", "c")),
    "sex": Variable("sex", "text", is_categorical=True, enumerations=("M", "F")),
}


def partitions(sizes: tuple[int, ...], seed: int = 13) -> dict[str, ArrayBundle]:
    rng = np.random.default_rng(seed)
    parts = {}
    for i, n in enumerate(sizes):
        levels = ["a", "b"] if i == 1 else ["a", "b", "c"]  # c missing on local1
        parts[f"local{i}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * n, dtype=object),
                "volume": rng.normal(3.0, 0.5, n),
                "group": rng.choice(levels, n).astype(object),
                "sex": rng.choice(["M", "F"], n).astype(object),
            }
        )
    return parts


def pooled(parts: dict[str, ArrayBundle], column: str) -> np.ndarray:
    return np.concatenate([p[column] for p in parts.values()])


def blank(counts: np.ndarray, threshold: int) -> list[int | None]:
    return [int(c) if c >= threshold else None for c in counts]


def test_numeric_histogram_matches_numpy_with_small_counts_blanked() -> None:
    # Arrange
    parts = partitions((300, 400, 500))
    expected, edges = np.histogram(pooled(parts, "volume"), bins=12)

    # Act
    result = run_flow(MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), parameters={"bins": 12})

    # Assert
    [overall] = result["histogram"]
    np.testing.assert_allclose(overall["bins"], edges, rtol=1e-12)
    assert overall["counts"] == blank(expected, 10)
    assert None in overall["counts"]  # the tails hold fewer than 10 rows


def test_grouped_histograms_follow_the_level_order() -> None:
    # Arrange
    parts = partitions((300, 400, 500))
    volume, group = pooled(parts, "volume"), pooled(parts, "group")
    _, edges = np.histogram(volume, bins=8)

    # Act
    result = run_flow(
        MultipleHistogramsFlow,
        parts,
        VARIABLES,
        y=("volume",),
        x=("group",),
        parameters={"bins": 8},
    )

    # Assert
    grouped = result["histogram"][1:]
    assert [(h["grouping_var"], h["grouping_enum"]) for h in grouped] == [("group", g) for g in "abc"]
    for h in grouped:
        counts, _ = np.histogram(volume[group == h["grouping_enum"]], bins=edges)
        assert h["counts"] == blank(counts, 10)


def test_categorical_histogram_counts_levels() -> None:
    # Arrange
    parts = partitions((30, 40, 50))
    group, sex = pooled(parts, "group"), pooled(parts, "sex")

    # Act
    result = run_flow(MultipleHistogramsFlow, parts, VARIABLES, y=("group",), x=("sex",))

    # Assert
    overall, *by_sex = result["histogram"]
    assert overall["bins"] == ["a", "b", "c"]
    assert overall["counts"] == blank(np.array([np.sum(group == g) for g in "abc"]), 10)
    for h in by_sex:
        chosen = group[sex == h["grouping_enum"]]
        assert h["counts"] == blank(np.array([np.sum(chosen == g) for g in "abc"]), 10)


def test_threshold_follows_the_runtime_min_rows() -> None:
    # Arrange
    parts = partitions((300, 400, 500))
    expected, _ = np.histogram(pooled(parts, "volume"), bins=30)

    # Act
    result = run_flow(MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), parameters={"bins": 30}, min_rows=1)

    # Assert
    assert result["histogram"][0]["counts"] == blank(expected, 1)


def test_node_below_min_rows_is_left_out() -> None:
    # Arrange
    parts = partitions((300, 400, 8))
    kept = np.concatenate([parts["local0"]["volume"], parts["local1"]["volume"]])
    expected, edges = np.histogram(kept, bins=10)

    # Act
    result = run_flow(MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), parameters={"bins": 10})

    # Assert
    np.testing.assert_allclose(result["histogram"][0]["bins"], edges, rtol=1e-12)
    assert result["histogram"][0]["counts"] == blank(expected, 10)


def test_two_grouping_variables_keep_their_own_counts() -> None:
    # Arrange: "sex" has 2 levels, "group" 3; a UDF that matched variables to columns by
    # mapping order (which a protobuf Struct does not keep) mixes them up or fails.
    parts = partitions((300, 400, 500))
    volume, group, sex = pooled(parts, "volume"), pooled(parts, "group"), pooled(parts, "sex")
    _, edges = np.histogram(volume, bins=6)

    # Act
    result = run_flow(
        MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), x=("sex", "group"), parameters={"bins": 6}
    )

    # Assert
    grouped = result["histogram"][1:]
    labels = [(h["grouping_var"], h["grouping_enum"]) for h in grouped]
    assert labels == [("sex", "M"), ("sex", "F"), ("group", "a"), ("group", "b"), ("group", "c")]
    columns = {"sex": sex, "group": group}
    for h in grouped:
        counts, _ = np.histogram(volume[columns[h["grouping_var"]] == h["grouping_enum"]], bins=edges)
        assert h["counts"] == blank(counts, 10)
