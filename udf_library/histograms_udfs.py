"""Histograms of one variable, overall and within each level of grouping categoricals.

A numeric variable takes two rounds: the pooled range first (so every node bins on
the same edges), then per-node bin counts. A categorical one takes one round of
per-level counts. The node's ``DisclosurePolicy`` codes the range's ends (so the edges
are no patient's value) and suppresses bin counts under its cell minimum, with the next
smallest of the same histogram when one alone would be; values beyond coded ends fall in
the outer bins. The global node adds the counts; a bin suppressed on any node is null.

The counts merge by secure sum. A suppressed count cannot be summed as NaN (fixed-point
words hold only finite numbers), so a node sends it as 0 beside an indicator column
``hidden_<bin>`` of 1: the summed indicator is above 0 exactly when some node suppressed
the bin. The range is a minimum and a maximum, which do not add up: it merges in the clear
(as coded extremes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._policy import DisclosurePolicy
from udf_library._udf import shared, udf

_CELLS = ("all_*", "g*_*")
_HIDDEN = "hidden_"
"""Prefix of a bin's suppression indicator; it matches no cell pattern (it counts nodes, not rows)."""
_BIN_HINT = "a bin holds fewer rows on a node than its minimum"

__all__ = [
    "global_histograms",
    "global_range",
    "local_categorical_counts",
    "local_numeric_counts",
    "local_range",
]


@udf(outputs=(shared("range", rows="n"),))
def local_range(data: ArrayBundle, column: str, policy: DisclosurePolicy) -> ArrayBundle:
    """The node's smallest and largest value of ``column``, coded by its policy, and how many values it has."""
    values = data[column].astype(np.float64)
    values = values[~np.isnan(values)]
    low, high = policy.quantiles(values, [0.0, 1.0])
    if len(values) == 0 or np.isnan(low) or np.isnan(high):
        return ArrayBundle({"n": [0], "min": [np.inf], "max": [-np.inf]})
    return ArrayBundle({"n": [len(values)], "min": [low], "max": [high]})


@udf(outputs=(shared("range"),))
def global_range(ranges: ArrayBundle) -> ArrayBundle:
    """The pooled range of the variable, on which every node bins."""
    if int(ranges["n"].sum()) == 0:
        raise UdfInputError("the variable has no values to draw a histogram of")
    return ArrayBundle({"min": [ranges["min"].min()], "max": [ranges["max"].max()]})


@udf(outputs=(shared("counts", rows=_CELLS, hint=_BIN_HINT, merge="secure_sum"),))
def local_numeric_counts(
    data: ArrayBundle,
    column: str,
    bins: int,
    low: float,
    high: float,
    groups: list[str],
    group_levels: dict[str, Any],
    policy: DisclosurePolicy,
) -> ArrayBundle:
    """Counts in ``bins`` equal bins over [low, high], overall and per group level (one row, see ``_counts_row``).

    ``groups`` are the grouping variables in display order and ``group_levels`` maps each
    to its levels; a mapping that crossed the wire keeps no order, so only ``groups`` orders.
    Values below ``low`` or above ``high`` (the ends are coded) count in the first or last bin.
    """
    values = np.clip(data[column].astype(np.float64), low, high)

    def count(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        counts, _ = np.histogram(values[mask], bins=bins, range=(low, high))
        return policy.suppress_small(counts.astype(np.float64))

    return _counts_row(data, count, groups, group_levels)


@udf(outputs=(shared("counts", rows=_CELLS, hint=_BIN_HINT, merge="secure_sum"),))
def local_categorical_counts(
    data: ArrayBundle,
    column: str,
    levels: list[str],
    groups: list[str],
    group_levels: dict[str, Any],
    policy: DisclosurePolicy,
) -> ArrayBundle:
    """Counts of each of ``levels`` of ``column``, overall and per group level (one row, see ``_counts_row``)."""
    values = _as_text(data[column])

    def count(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        chosen = values[mask]
        counts = np.array([float(np.sum(chosen == level)) for level in levels])
        return policy.suppress_small(counts)

    return _counts_row(data, count, groups, group_levels)


@udf(outputs=(shared("histograms"), shared("edges")))
def global_histograms(
    counts: ArrayBundle,
    num_bins: int,
    groups: list[str],
    group_levels: dict[str, Any],
    low: float | None = None,
    high: float | None = None,
) -> tuple[ArrayBundle, ArrayBundle]:
    """Pooled counts, one row per histogram; a bin suppressed on any node (summed indicator > 0) is NaN.

    Rows: the overall histogram, then each grouping variable's levels in order. Columns
    ``c_0`` ... hold the counts. ``edges`` holds the bin edges of a numeric variable
    (the same ones ``numpy.histogram`` draws over [low, high]), none for a categorical.
    """
    names: list[str | None] = [None]
    levels: list[str | None] = [None]
    prefixes = ["all"]
    for i, variable in enumerate(groups):
        for j, level in enumerate(group_levels[variable]):
            names.append(variable)
            levels.append(str(level))
            prefixes.append(f"g{i}_{j}")
    table = np.array([[counts[f"{p}_{k}"].sum() for k in range(num_bins)] for p in prefixes], dtype=np.float64)
    hidden = np.array([[counts[f"{_HIDDEN}{p}_{k}"].sum() for k in range(num_bins)] for p in prefixes])
    table[hidden > 0] = np.nan
    histograms: dict[str, Any] = {
        "grouping_var": np.array(names, dtype=object),
        "grouping_enum": np.array(levels, dtype=object),
    }
    histograms |= {f"c_{k}": table[:, k] for k in range(num_bins)}
    if low is None or high is None:
        edges = np.empty(0)
    else:
        edges = np.histogram_bin_edges(np.empty(0), bins=num_bins, range=(low, high))
    return ArrayBundle(histograms), ArrayBundle({"edge": edges})


def _counts_row(
    data: ArrayBundle,
    count: Callable[[npt.NDArray[np.bool_]], npt.NDArray[np.float64]],
    groups: list[str],
    group_levels: dict[str, Any],
) -> ArrayBundle:
    """One row of counts: ``all_<k>`` overall and ``g<i>_<j>_<k>`` for level j of group i.

    ``count`` gives a histogram with its suppressed bins as NaN; each such bin is sent as
    a count of 0 and ``hidden_<column>`` of 1 (else 0), so that every value can be summed.
    """
    everyone = np.ones(data.num_rows, dtype=bool)
    histograms = {"all": count(everyone)}
    for i, variable in enumerate(groups):
        values = _as_text(data[variable])
        for j, level in enumerate(group_levels[variable]):
            histograms[f"g{i}_{j}"] = count(values == str(level))
    columns: dict[str, list[float]] = {}
    for prefix, counts in histograms.items():
        for k, value in enumerate(counts):
            columns[f"{prefix}_{k}"] = [0.0 if np.isnan(value) else float(value)]
    for prefix, counts in histograms.items():
        for k, value in enumerate(counts):
            columns[f"{_HIDDEN}{prefix}_{k}"] = [float(np.isnan(value))]
    return ArrayBundle(columns)


def _as_text(column: npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    """Category values as text (ints as their digits), missing as None."""
    if column.dtype == object:
        return column.astype(object)
    if column.dtype.kind == "f":
        return np.array([None if v != v else str(int(v)) for v in column], dtype=object)
    return np.array([str(v) for v in column], dtype=object)
