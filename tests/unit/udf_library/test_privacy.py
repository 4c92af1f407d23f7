"""The cell rule, the row rule and the node's coding of extremes, as the node and the in-memory runtime apply them."""

from __future__ import annotations

import numpy as np
import pytest

from udf_library import (
    WHOLE_VIEW,
    ArrayBundle,
    DisclosurePolicy,
    discover_udfs,
    shareable_output_problem,
    shared,
    small_cell_problem,
)

POLICY = DisclosurePolicy(min_rows=10, min_cell_rows=10, extremes="coded")


def test_cells_of_zero_missing_or_at_least_the_minimum_pass() -> None:
    bundle = ArrayBundle({"cluster": [0, 1, 2, 3], "count": [0.0, np.nan, 10.0, 250.0]})
    assert small_cell_problem(shared("sums", rows="count", label="cluster"), bundle, POLICY) is None


def test_a_small_cell_is_refused_naming_the_rule_and_cell_not_the_count() -> None:
    # Arrange
    bundle = ArrayBundle({"cluster": [0, 1, 2], "count": [40, 7, 25]})

    # Act
    problem = small_cell_problem(shared("sums", rows="count", label="cluster", hint="ask for fewer"), bundle, POLICY)

    # Assert
    assert problem is not None
    assert "cell rule (min_cell_rows)" in problem
    assert "(cluster 1)" in problem
    assert "ask for fewer" in problem
    assert "7" not in problem


def test_wide_cells_are_found_by_pattern() -> None:
    bundle = ArrayBundle({"all_0": [12.0], "all_1": [0.0], "g0_1_0": [3.0], "other": [1.0]})
    assert small_cell_problem(shared("counts", rows=("all_*", "g*_*")), bundle, POLICY) is not None
    assert small_cell_problem(shared("counts", rows=("all_*",)), bundle, POLICY) is None


def test_a_declaration_that_matches_no_column_is_refused() -> None:
    bundle = ArrayBundle({"n": [50]})
    problem = small_cell_problem(shared("x", rows="count"), bundle, POLICY)
    assert problem is not None
    assert "none of its declared cell columns" in problem


def test_an_undeclared_output_over_private_rows_is_refused() -> None:
    bundle = ArrayBundle({"n": [50]})
    problem = shareable_output_problem(shared("x"), bundle, 50, 100_000)
    assert problem is not None
    assert "does not declare its cells" in problem
    assert shareable_output_problem(shared("x"), bundle, None, 100_000) is None  # global outputs
    assert shareable_output_problem(shared("x", rows=WHOLE_VIEW), bundle, 50, 100_000) is None


def test_coded_extremes_are_means_of_the_cell_minimum_of_values() -> None:
    # Arrange
    values = np.arange(1.0, 101.0)

    # Act
    low, median, high = POLICY.quantiles(values, [0.0, 0.5, 1.0])

    # Assert
    assert low == pytest.approx(np.mean(values[:10]))
    assert high == pytest.approx(np.mean(values[-10:]))
    assert median == pytest.approx(np.mean(values[45:55]))
    assert POLICY.minimum(values[:9]) != POLICY.minimum(values[:9])  # fewer values than a cell: NaN


def test_suppress_and_exact_modes() -> None:
    values = np.array([3.0, 1.0, 2.0, np.nan])
    assert np.isnan(DisclosurePolicy(extremes="suppress").maximum(values))
    assert DisclosurePolicy(extremes="exact").minimum(values) == 1.0
    with pytest.raises(ValueError, match="extremes"):
        DisclosurePolicy(extremes="rounded")


def test_a_lone_small_count_takes_the_next_smallest_with_it() -> None:
    # Arrange: the 3 would follow from the total minus the others
    counts = np.array([40.0, 3.0, 0.0, 12.0, 25.0])

    # Act
    shown = POLICY.suppress_small(counts)

    # Assert
    assert np.isnan(shown[1])
    assert np.isnan(shown[3])
    assert shown[0] == 40.0
    assert shown[2] == 0.0


def test_every_library_udf_sharing_from_private_data_declares_its_cells() -> None:
    # Arrange: local UDFs take private tables; every shared output of one says what its cells are
    udfs = discover_udfs()

    # Act
    undeclared = [
        f"{spec.name}:{output.name}"
        for spec in udfs.values()
        if spec.name.split(".", 1)[1].startswith("local_")
        for output in spec.outputs
        if output.shared and not output.rows
    ]

    # Assert
    assert undeclared == []
    assert not [name for name in udfs if name.startswith(("fault_probe.", "privacy_probe."))]
