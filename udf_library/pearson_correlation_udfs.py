"""Pearson correlation matrix with p-values and Fisher-z confidence intervals (as scipy).

One round: each node sends the moments of its variables (count, means, centered
cross-products); the global node merges them exactly and derives every correlation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from udf_library import _design
from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._lazy import LazyModule
from udf_library._udf import shared, udf

if TYPE_CHECKING:
    from scipy import stats
else:
    stats = LazyModule("scipy.stats")

__all__ = ["global_correlations", "local_moments"]

ROW_LABELS = "variables"


@udf(outputs=(shared("moments", rows="n", merge="secure_sum"),))
def local_moments(data: ArrayBundle, variables: list[str]) -> ArrayBundle:
    """Moments of ``variables`` as one row."""
    return _design.moments_row(_design.moments_of(data.matrix(variables)))


@udf(
    outputs=(
        shared("correlations"),
        shared("pvalues"),
        shared("ci_low"),
        shared("ci_high"),
        shared("n_obs"),
    )
)
def global_correlations(
    moments: ArrayBundle, y: list[str], x: list[str], alpha: float
) -> tuple[ArrayBundle, ArrayBundle, ArrayBundle, ArrayBundle, ArrayBundle]:
    """Correlations of each y (rows) with each x (columns; x = y when empty).

    The p-value is scipy's two-sided exact test (a beta distribution on [-1, 1]); the
    interval is ``tanh(atanh(r) ± z(1 - alpha/2) / sqrt(n - 3))``.
    """
    columns = x or y
    variables = y + [c for c in columns if c not in y]
    pooled = _design.merged_moments(moments, len(variables))
    n = pooled.n
    if n < 3:
        raise UdfInputError(f"Pearson correlation needs at least 3 rows, got {int(n)}")
    spread = np.sqrt(np.diag(pooled.m2))
    constant = [v for v, s in zip(variables, spread, strict=True) if s == 0]
    if constant:
        raise UdfInputError(f"variables {constant} do not vary: their correlation is undefined")
    rows_at = [variables.index(v) for v in y]
    cols_at = [variables.index(v) for v in columns]
    m2 = pooled.m2[np.ix_(rows_at, cols_at)]
    r = np.clip(m2 / np.outer(spread[rows_at], spread[cols_at]), -1.0, 1.0)
    for i, name in enumerate(y):
        if name in columns:
            r[i, columns.index(name)] = 1.0
    shape = n / 2.0 - 1.0
    pvalues = 2.0 * stats.beta.sf(np.abs(r), shape, shape, loc=-1.0, scale=2.0)
    with np.errstate(divide="ignore"):
        z = np.arctanh(r)
    margin = stats.norm.ppf(1.0 - alpha / 2.0) / np.sqrt(n - 3.0)
    return (
        _matrix_table(r, y, columns),
        _matrix_table(pvalues, y, columns),
        _matrix_table(np.tanh(z - margin), y, columns),
        _matrix_table(np.tanh(z + margin), y, columns),
        ArrayBundle({"n_obs": [round(n)]}),
    )


def _matrix_table(matrix: np.ndarray, rows: list[str], columns: list[str]) -> ArrayBundle:
    table = {ROW_LABELS: np.array(rows, dtype=object)}
    table |= {name: matrix[:, j] for j, name in enumerate(columns)}
    return ArrayBundle(table)
