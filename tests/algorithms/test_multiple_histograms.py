"""Histograms over 3 synthetic nodes == numpy on the pooled rows, with each node's small bins suppressed.

A node shows a bin count of 1..min_cell_rows-1 as null (and, when it is the only one of
its histogram, the next smallest too); a pooled bin is null when any node suppressed it.
"""

from __future__ import annotations

import numpy as np

from algorithm_flows import Variable
from algorithm_flows.multiple_histograms_flow import MultipleHistogramsFlow
from algorithm_flows.testing import run_flow
from udf_library import ArrayBundle, DisclosurePolicy, small_cell_problem, udf_spec
from udf_library.histograms_udfs import global_histograms, local_categorical_counts, local_numeric_counts

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


def blank(per_node: list[np.ndarray], threshold: int) -> list[int | None]:
    """Pooled counts of ``per_node`` bin counts after each node's suppression."""
    hidden = np.zeros(len(per_node[0]), dtype=bool)
    for counts in per_node:
        small = (counts > 0) & (counts < threshold)
        if small.sum() == 1 and np.any(~small & (counts > 0)):
            rest = np.where(~small & (counts > 0), counts, np.inf)
            small[np.argmin(rest)] = True
        hidden |= small
    total = np.sum(per_node, axis=0)
    return [None if h else int(c) for h, c in zip(hidden, total, strict=True)]


def node_histograms(parts: dict[str, ArrayBundle], edges: np.ndarray, pick: str = "", level: str = "") -> list:
    chosen = [p["volume"] if not pick else p["volume"][p[pick] == level] for p in parts.values()]
    return [np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)[0] for v in chosen]


EXACT_EXTREMES = {"extremes": "exact"}


def test_numeric_histogram_matches_numpy_with_small_counts_blanked() -> None:
    # Arrange
    parts = partitions((300, 400, 500))
    _, edges = np.histogram(pooled(parts, "volume"), bins=12)

    # Act
    result = run_flow(
        MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), parameters={"bins": 12}, **EXACT_EXTREMES
    )

    # Assert
    [overall] = result["histogram"]
    np.testing.assert_allclose(overall["bins"], edges, rtol=1e-12)
    assert overall["counts"] == blank(node_histograms(parts, edges), 10)
    assert None in overall["counts"]  # the tails hold fewer than 10 rows


def test_default_edges_are_coded_and_every_row_is_counted() -> None:
    # Arrange
    parts = partitions((300, 400, 500))
    volume = pooled(parts, "volume")

    # Act
    result = run_flow(MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), parameters={"bins": 4})

    # Assert
    [overall] = result["histogram"]
    assert overall["bins"][0] > volume.min()
    assert overall["bins"][-1] < volume.max()
    assert not set(overall["bins"]) & set(volume.tolist())
    assert sum(overall["counts"]) == len(volume)


def test_grouped_histograms_follow_the_level_order() -> None:
    # Arrange
    parts = partitions((300, 400, 500))
    volume = pooled(parts, "volume")
    _, edges = np.histogram(volume, bins=8)

    # Act
    result = run_flow(
        MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), x=("group",), parameters={"bins": 8}, **EXACT_EXTREMES
    )

    # Assert
    grouped = result["histogram"][1:]
    assert [(h["grouping_var"], h["grouping_enum"]) for h in grouped] == [("group", g) for g in "abc"]
    for h in grouped:
        assert h["counts"] == blank(node_histograms(parts, edges, "group", h["grouping_enum"]), 10)


def test_categorical_histogram_counts_levels() -> None:
    # Arrange
    parts = partitions((30, 40, 50))
    group, sex = pooled(parts, "group"), pooled(parts, "sex")

    # Act
    result = run_flow(MultipleHistogramsFlow, parts, VARIABLES, y=("group",), x=("sex",), min_cell_rows=1)

    # Assert
    overall, *by_sex = result["histogram"]
    assert overall["bins"] == ["a", "b", "c"]
    assert overall["counts"] == [int(np.sum(group == g)) for g in "abc"]
    for h in by_sex:
        chosen = group[sex == h["grouping_enum"]]
        assert h["counts"] == [int(np.sum(chosen == g)) for g in "abc"]


def test_threshold_follows_the_runtime_min_rows() -> None:
    # Arrange
    parts = partitions((300, 400, 500))
    _, edges = np.histogram(pooled(parts, "volume"), bins=30)

    # Act
    result = run_flow(
        MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), parameters={"bins": 30}, min_rows=4, **EXACT_EXTREMES
    )

    # Assert
    assert result["histogram"][0]["counts"] == blank(node_histograms(parts, edges), 4)


def test_node_below_min_rows_is_left_out() -> None:
    # Arrange
    parts = partitions((300, 400, 8))
    kept = {n: parts[n] for n in ("local0", "local1")}
    _, edges = np.histogram(np.concatenate([p["volume"] for p in kept.values()]), bins=10)

    # Act
    result = run_flow(
        MultipleHistogramsFlow, parts, VARIABLES, y=("volume",), parameters={"bins": 10}, **EXACT_EXTREMES
    )

    # Assert
    np.testing.assert_allclose(result["histogram"][0]["bins"], edges, rtol=1e-12)
    assert result["histogram"][0]["counts"] == blank(node_histograms(kept, edges), 10)


def test_two_grouping_variables_keep_their_own_counts() -> None:
    # Arrange: "sex" has 2 levels, "group" 3; a UDF that matched variables to columns by
    # mapping order (which a protobuf Struct does not keep) mixes them up or fails.
    parts = partitions((300, 400, 500))
    _, edges = np.histogram(pooled(parts, "volume"), bins=6)

    # Act
    result = run_flow(
        MultipleHistogramsFlow,
        parts,
        VARIABLES,
        y=("volume",),
        x=("sex", "group"),
        parameters={"bins": 6},
        **EXACT_EXTREMES,
    )

    # Assert
    grouped = result["histogram"][1:]
    labels = [(h["grouping_var"], h["grouping_enum"]) for h in grouped]
    assert labels == [("sex", "M"), ("sex", "F"), ("group", "a"), ("group", "b"), ("group", "c")]
    for h in grouped:
        assert h["counts"] == blank(node_histograms(parts, edges, h["grouping_var"], h["grouping_enum"]), 10)


# ------------------------------------------------------------------------------ UDFs


def test_a_suppressed_bin_is_sent_as_zero_with_its_indicator_set() -> None:
    # Arrange: bin counts 12, 3, 0, 15 (min_cell_rows 10: the 3 goes, and the 12 with it)
    data = ArrayBundle({"volume": np.repeat([0.5, 1.5, 3.5], [12, 3, 15]), "sex": np.array(["M"] * 30, dtype=object)})
    policy = DisclosurePolicy(min_rows=10, min_cell_rows=10)

    # Act
    row = local_numeric_counts(data, "volume", 4, 0.0, 4.0, ["sex"], {"sex": ["M", "F"]}, policy)

    # Assert
    assert [row[f"all_{k}"][0] for k in range(4)] == [0.0, 0.0, 0.0, 15.0]
    assert [row[f"hidden_all_{k}"][0] for k in range(4)] == [1.0, 1.0, 0.0, 0.0]
    assert [row[f"hidden_g0_1_{k}"][0] for k in range(4)] == [0.0] * 4
    assert np.all(np.isfinite(row.matrix(row.names)))


def test_the_indicators_are_no_cells_so_the_node_lets_the_counts_out() -> None:
    # Arrange: every bin of local1 suppressed, so each indicator is 1 (a "cell" of 1 row if it were one)
    data = ArrayBundle({"group": np.array(["a"] * 3 + ["b"] * 4, dtype=object)})
    policy = DisclosurePolicy(min_rows=1, min_cell_rows=10)
    row = local_categorical_counts(data, "group", ["a", "b", "c"], [], {}, policy)
    (output,) = udf_spec(local_categorical_counts).outputs

    # Act
    problem = small_cell_problem(output, row, policy)

    # Assert
    assert problem is None
    assert output.is_secure_sum
    assert row["hidden_all_0"][0] == row["hidden_all_1"][0] == 1.0


def test_global_histograms_nulls_a_bin_any_node_suppressed() -> None:
    # Arrange: two nodes' rows, already summed: bin 1 hidden on one node, bin 2 on both
    counts = ArrayBundle(
        {
            "all_0": [25.0],
            "all_1": [11.0],
            "all_2": [0.0],
            "hidden_all_0": [0.0],
            "hidden_all_1": [1.0],
            "hidden_all_2": [2.0],
        }
    )

    # Act
    histograms, _ = global_histograms(counts, 3, [], {})

    # Assert
    assert histograms["c_0"][0] == 25.0
    assert np.isnan(histograms["c_1"][0])
    assert np.isnan(histograms["c_2"][0])
