"""Descriptive statistics per variable, per dataset and over all datasets, in one round.

A dataset sits whole on one node, so that node computes its statistics and shares
one row per dataset. The node's ``DisclosurePolicy`` decides what may be shown: a
record with fewer than ``min_cell_rows`` values is not reported, a dataset with fewer
rows than that is not shared at all, a category count under it is suppressed (with the
next smallest count of the variable when it alone would be, so the total does not give
it away), and min, max and quartiles are coded as the node's ``extremes`` setting says.
The global node pools the reported records into the "all datasets" ones: counts, mean,
standard deviation (Chan's update), min and max; pooled quartiles are not reported, as
in the MIP reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from udf_library._bundle import ArrayBundle
from udf_library._hints import DATASET_HINT
from udf_library._policy import DisclosurePolicy
from udf_library._udf import shared, udf

__all__ = ["ALL_DATASETS", "global_all_datasets", "local_dataset_stats"]

ALL_DATASETS = "all datasets"
NUMERIC_STATS = ("mean", "std", "min", "q1", "q2", "q3", "max", "m2")
_CELLS = ("*_num_dtps", "*_num_total", "c*_count_*")


@udf(
    outputs=(
        shared("variable_based", rows=_CELLS, label="dataset", hint=DATASET_HINT),
        shared("model_based", rows=_CELLS, label="dataset", hint=DATASET_HINT),
    )
)
def local_dataset_stats(
    data: ArrayBundle,
    numeric: list[str],
    nominal: list[str],
    levels: dict[str, Any],
    policy: DisclosurePolicy,
) -> tuple[ArrayBundle, ArrayBundle]:
    """Per-dataset statistics of each variable: on its own values, and on complete rows.

    Columns are ``n<i>_<stat>`` for ``numeric[i]`` and ``c<i>_<stat>`` /
    ``c<i>_count_<j>`` for ``nominal[i]`` and its j-th level; ``<v>_is_reported`` is
    false (and the statistics zero) where a record has under ``min_cell_rows`` values.
    """
    min_cell_rows = policy.min_cell_rows
    variables = [*numeric, *nominal]
    complete = np.ones(data.num_rows, dtype=bool)
    for name in variables:
        complete &= ~_is_missing(data[name])
    datasets = np.array([str(d) for d in data["dataset"]], dtype=object)
    parts = []
    for rows in (np.ones(data.num_rows, dtype=bool), complete):
        records = [
            _dataset_row(data, rows & (datasets == name), name, numeric, nominal, levels, policy)
            for name in dict.fromkeys(datasets[rows])
            if int(np.sum(rows & (datasets == name))) >= min_cell_rows
        ]
        parts.append(_stack(records, _empty_row(numeric, nominal, levels)))
    return parts[0], parts[1]


@udf(outputs=(shared("all_datasets"),))
def global_all_datasets(
    stats: ArrayBundle, numeric: list[str], nominal: list[str], levels: dict[str, Any]
) -> ArrayBundle:
    """The "all datasets" record of each variable, pooled over its reported records."""
    row: dict[str, Any] = {"dataset": ALL_DATASETS}
    for i in range(len(numeric)):
        key = f"n{i}"
        reported = stats[f"{key}_is_reported"].astype(bool)
        ns = stats[f"{key}_num_dtps"][reported].astype(np.float64)
        row[f"{key}_is_reported"] = bool(reported.any())
        row |= _sums(stats, key, reported)
        if not reported.any():
            row |= {f"{key}_{s}": np.nan for s in NUMERIC_STATS}
            continue
        means = stats[f"{key}_mean"][reported]
        n = float(ns.sum())
        mean = float(ns @ means / n)
        m2 = float(stats[f"{key}_m2"][reported].sum() + ns @ (means - mean) ** 2)
        row |= {
            f"{key}_mean": mean,
            f"{key}_std": float(np.sqrt(m2 / (n - 1.0))) if n > 1 else np.nan,
            f"{key}_min": float(stats[f"{key}_min"][reported].min()),
            f"{key}_max": float(stats[f"{key}_max"][reported].max()),
            f"{key}_q1": np.nan,
            f"{key}_q2": np.nan,
            f"{key}_q3": np.nan,
            f"{key}_m2": m2,
        }
    for i, name in enumerate(nominal):
        key = f"c{i}"
        reported = stats[f"{key}_is_reported"].astype(bool)
        row[f"{key}_is_reported"] = bool(reported.any())
        row |= _sums(stats, key, reported)
        for j in range(len(levels[name])):
            row[f"{key}_count_{j}"] = float(stats[f"{key}_count_{j}"][reported].sum())  # NaN: suppressed
    return ArrayBundle({k: np.array([v], dtype=object if isinstance(v, str) else None) for k, v in row.items()})


def _dataset_row(
    data: ArrayBundle,
    rows: npt.NDArray[np.bool_],
    dataset: str,
    numeric: list[str],
    nominal: list[str],
    levels: dict[str, Any],
    policy: DisclosurePolicy,
) -> dict[str, Any]:
    min_cell_rows = policy.min_cell_rows
    num_total = int(rows.sum())
    row: dict[str, Any] = {"dataset": dataset}
    for i, name in enumerate(numeric):
        column = data[name][rows].astype(np.float64)
        values = column[~np.isnan(column)]
        key = f"n{i}"
        is_reported = len(values) >= min_cell_rows and len(values) > 0
        row |= _counts(key, len(values), num_total, is_reported)
        if not is_reported:
            row |= {f"{key}_{s}": np.nan for s in NUMERIC_STATS}
            continue
        mean = float(values.mean())
        low, q1, q2, q3, high = policy.quantiles(values, [0.0, 0.25, 0.5, 0.75, 1.0])
        row |= {
            f"{key}_mean": mean,
            f"{key}_std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
            f"{key}_min": low,
            f"{key}_q1": q1,
            f"{key}_q2": q2,
            f"{key}_q3": q3,
            f"{key}_max": high,
            f"{key}_m2": float(((values - mean) ** 2).sum()),
        }
    for i, name in enumerate(nominal):
        text = _as_text(data[name][rows])
        present = text[~_is_missing(text)]
        key = f"c{i}"
        is_reported = len(present) >= min_cell_rows and len(present) > 0
        row |= _counts(key, len(present), num_total, is_reported)
        counts = np.array([float(np.sum(present == str(level))) for level in levels[name]])
        for j, count in enumerate(policy.suppress_small(counts) if is_reported else np.zeros(len(counts))):
            row[f"{key}_count_{j}"] = float(count)
    return row


def _counts(key: str, num_dtps: int, num_total: int, is_reported: bool) -> dict[str, Any]:
    if not is_reported:
        return {
            f"{key}_is_reported": False,
            f"{key}_num_dtps": 0,
            f"{key}_num_na": 0,
            f"{key}_num_total": 0,
        }
    return {
        f"{key}_is_reported": True,
        f"{key}_num_dtps": num_dtps,
        f"{key}_num_na": num_total - num_dtps,
        f"{key}_num_total": num_total,
    }


def _sums(stats: ArrayBundle, key: str, reported: npt.NDArray[np.bool_]) -> dict[str, int]:
    return {
        f"{key}_{name}": int(stats[f"{key}_{name}"][reported].sum()) for name in ("num_dtps", "num_na", "num_total")
    }


def _empty_row(numeric: list[str], nominal: list[str], levels: dict[str, Any]) -> dict[str, Any]:
    """A row with every column, to give an empty table its columns and types."""
    row: dict[str, Any] = {"dataset": ""}
    for i in range(len(numeric)):
        row |= _counts(f"n{i}", 0, 0, False) | {f"n{i}_{s}": np.nan for s in NUMERIC_STATS}
    for i, name in enumerate(nominal):
        row |= _counts(f"c{i}", 0, 0, False)
        row |= {f"c{i}_count_{j}": 0.0 for j in range(len(levels[name]))}
    return row


def _stack(records: list[dict[str, Any]], template: dict[str, Any]) -> ArrayBundle:
    columns: dict[str, Any] = {}
    for name, example in template.items():
        values = [r[name] for r in records]
        if isinstance(example, str):
            columns[name] = np.array(values, dtype=object)
        elif isinstance(example, bool):
            columns[name] = np.array(values, dtype=bool)
        elif isinstance(example, int):
            columns[name] = np.array(values, dtype=np.int64)
        else:
            columns[name] = np.array(values, dtype=np.float64)
    return ArrayBundle(columns)


def _is_missing(column: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    if column.dtype == object:
        return np.array([v is None or v != v for v in column], dtype=bool)
    if column.dtype.kind == "f":
        return np.asarray(np.isnan(column), dtype=bool)
    return np.zeros(len(column), dtype=bool)


def _as_text(column: npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    """Category values as text (ints as their digits), missing as None."""
    if column.dtype == object:
        return column.astype(object)
    if column.dtype.kind == "f":
        return np.array([None if v != v else str(int(v)) for v in column], dtype=object)
    return np.array([str(v) for v in column], dtype=object)
