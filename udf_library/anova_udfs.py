"""One-way ANOVA with Tukey's HSD, and two-way ANOVA (type I and II sums of squares).

Nodes share one row of per-group (or per-cell) counts, sums and sums of squares, merged
by adding them (on masked words under secure aggregation); the global node derives the
means and centred sums of squares. That is enough for every factorial model: each model's residual sum of
squares is the within-cell sum plus a weighted least-squares fit of the cell means.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._hints import GROUP_HINT
from udf_library._lazy import LazyModule
from udf_library._moments import pool_sums, sums
from udf_library._studentized_range import studentized_range_sf
from udf_library._udf import shared, udf

if TYPE_CHECKING:
    from scipy import stats
else:
    stats = LazyModule("scipy.stats")

__all__ = [
    "global_oneway",
    "global_twoway",
    "local_cell_moments",
    "local_group_moments",
]

RESIDUALS = "Residuals"
VARIABLE = "variable"
"""Names the grouping variable of a moments row, so a refusal can name it (never a group's count)."""


@udf(outputs=(shared("moments", rows="n_*", label=VARIABLE, hint=GROUP_HINT, merge="secure_sum", keys=(VARIABLE,)),))
def local_group_moments(data: ArrayBundle, column: str, group_column: str, levels: list[str]) -> ArrayBundle:
    """Count, sum and sum of squares of ``column`` for each of ``levels`` of ``group_column`` (one row)."""
    values = data[column].astype(np.float64)
    groups = _as_text(data[group_column])
    columns: dict[str, list[Any]] = {VARIABLE: [group_column]}
    for j, level in enumerate(levels):
        n, total, squares = sums(values[groups == level])
        columns |= {f"n_{j}": [n], f"sum_{j}": [total], f"sxx_{j}": [squares]}
    return ArrayBundle(columns)


@udf(outputs=(shared("moments", rows="n_*", label=VARIABLE, hint=GROUP_HINT, merge="secure_sum", keys=(VARIABLE,)),))
def local_cell_moments(
    data: ArrayBundle,
    column: str,
    factor_a: str,
    factor_b: str,
    levels_a: list[str],
    levels_b: list[str],
) -> ArrayBundle:
    """Count, sum and sum of squares of ``column`` in every cell of ``factor_a`` x ``factor_b`` (one row)."""
    values = data[column].astype(np.float64)
    a = _as_text(data[factor_a])
    b = _as_text(data[factor_b])
    columns: dict[str, list[Any]] = {VARIABLE: [f"{factor_a} x {factor_b}"]}
    for i, level_a in enumerate(levels_a):
        in_a = a == level_a
        for j, level_b in enumerate(levels_b):
            n, total, squares = sums(values[in_a & (b == level_b)])
            key = f"{i}_{j}"
            columns |= {f"n_{key}": [n], f"sum_{key}": [total], f"sxx_{key}": [squares]}
    return ArrayBundle(columns)


@udf(outputs=(shared("anova"), shared("tukey")))
def global_oneway(moments: ArrayBundle, levels: list[str]) -> tuple[ArrayBundle, ArrayBundle]:
    """The one-way ANOVA table and Tukey's HSD for every pair of observed levels.

    Pairs run over the observed levels sorted by name, as statsmodels'
    ``pairwise_tukeyhsd`` orders them; p-values use the studentized range
    distribution (``_studentized_range``: all pairs integrated at once).
    """
    pooled = [_pool(moments, str(j)) for j in range(len(levels))]
    observed = sorted((level, n, mean, m2) for level, (n, mean, m2) in zip(levels, pooled, strict=True) if n > 0)
    if len(observed) < 2:
        raise UdfInputError("one-way ANOVA needs at least two observed levels of the factor")
    names = [o[0] for o in observed]
    ns = np.array([o[1] for o in observed])
    means = np.array([o[2] for o in observed])
    m2s = np.array([o[3] for o in observed])
    n_obs = float(ns.sum())
    k = len(names)
    grand_mean = float(ns @ means / n_obs)
    ss_explained = float(ns @ (means - grand_mean) ** 2)
    ss_residual = float(m2s.sum())
    df_explained = k - 1.0
    df_residual = n_obs - k
    if df_residual <= 0 or not ss_residual > 0:
        raise UdfInputError("one-way ANOVA needs more rows than levels and some spread within groups")
    ms_explained = ss_explained / df_explained
    ms_residual = ss_residual / df_residual
    f_stat = ms_explained / ms_residual
    anova = ArrayBundle(
        {
            "n_obs": [int(n_obs)],
            "df_explained": [df_explained],
            "df_residual": [df_residual],
            "ss_explained": [ss_explained],
            "ss_residual": [ss_residual],
            "ms_explained": [ms_explained],
            "ms_residual": [ms_residual],
            "f_stat": [f_stat],
            "p_value": [float(stats.f.sf(f_stat, df_explained, df_residual))],
        }
    )
    first, second = (np.array(p) for p in zip(*itertools.combinations(range(k), 2), strict=True))
    diff = means[first] - means[second]
    se = np.sqrt(ms_residual / ns[first] + ms_residual / ns[second])
    t_stat = diff / se
    p_tukey = studentized_range_sf(np.sqrt(2.0) * np.abs(t_stat), k, df_residual)
    tukey = ArrayBundle(
        {
            "group_a": np.array([names[i] for i in first], dtype=object),
            "group_b": np.array([names[i] for i in second], dtype=object),
            "mean_a": means[first],
            "mean_b": means[second],
            "diff": diff,
            "se": se,
            "t_stat": t_stat,
            "p_tukey": np.clip(np.asarray(p_tukey, dtype=np.float64), 0.0, 1.0),
        }
    )
    return anova, tukey


@udf(outputs=(shared("table"),))
def global_twoway(
    moments: ArrayBundle,
    factor_a: str,
    factor_b: str,
    levels_a: list[str],
    levels_b: list[str],
    sstype: int,
) -> ArrayBundle:
    """Two-way ANOVA with interaction, type I (sequential) or II sums of squares.

    One row per term (A, B, A:B, Residuals). A term's degrees of freedom is the rank
    it adds, so empty cells and aliased columns count as R and statsmodels count them.
    """
    if sstype not in (1, 2):
        raise UdfInputError(f"sstype must be 1 or 2, got {sstype}")
    cells = [(i, j, *_pool(moments, f"{i}_{j}")) for i in range(len(levels_a)) for j in range(len(levels_b))]
    cells = [c for c in cells if c[2] > 0]
    if not cells:
        raise UdfInputError("two-way ANOVA has no rows to work on")
    cell_a = np.array([c[0] for c in cells])
    cell_b = np.array([c[1] for c in cells])
    ns = np.array([c[2] for c in cells], dtype=np.float64)
    means = np.array([c[3] for c in cells], dtype=np.float64)
    ss_within = float(sum(c[4] for c in cells))
    n_obs = float(ns.sum())

    dummies_a = _dummies(cell_a)
    dummies_b = _dummies(cell_b)
    ones = np.ones((len(cells), 1))
    weights = np.sqrt(ns)

    def fit(*blocks: npt.NDArray[np.float64]) -> tuple[float, int]:
        design = np.hstack((ones, *blocks)) * weights[:, None]
        target = means * weights
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = target - design @ coef
        return ss_within + float(residual @ residual), int(np.linalg.matrix_rank(design))

    rss_0, rank_0 = fit()
    rss_a, rank_a = fit(dummies_a)
    rss_b, rank_b = fit(dummies_b)
    rss_ab, rank_ab = fit(dummies_a, dummies_b)
    # With the interaction the model fits every non-empty cell's mean exactly: its
    # residual sum of squares is the within-cell one and its rank the cell count.
    rank_full = len(cells)
    df_residual = n_obs - rank_full
    if df_residual <= 0:
        raise UdfInputError("two-way ANOVA needs more rows than non-empty cells")
    if sstype == 1:
        ss_a, df_a = rss_0 - rss_a, rank_a - rank_0
    else:
        ss_a, df_a = rss_b - rss_ab, rank_ab - rank_b
    ss_b, df_b = rss_a - rss_ab, rank_ab - rank_a
    ss_int, df_int = rss_ab - ss_within, rank_full - rank_ab
    ms_residual = ss_within / df_residual

    terms = [factor_a, factor_b, f"{factor_a}:{factor_b}"]
    sums = [ss_a, ss_b, ss_int]
    dfs = [float(df_a), float(df_b), float(df_int)]
    f_stats: list[float] = []
    p_values: list[float] = []
    for k, (ss, df) in enumerate(zip(sums, dfs, strict=True)):
        if df <= 0:
            sums[k] = 0.0
            f_stats.append(np.nan)
            p_values.append(np.nan)
            continue
        sums[k] = max(ss, 0.0)
        f_value = (sums[k] / df) / ms_residual
        f_stats.append(f_value)
        p_values.append(float(stats.f.sf(f_value, df, df_residual)))
    return ArrayBundle(
        {
            "term": np.array([*terms, RESIDUALS], dtype=object),
            "sum_sq": [*sums, ss_within],
            "df": [*dfs, df_residual],
            "f_stat": [*f_stats, np.nan],
            "f_pvalue": [*p_values, np.nan],
        }
    )


def _as_text(column: npt.NDArray[np.generic]) -> npt.NDArray[np.object_]:
    """Category values as text (ints as their digits), missing as None."""
    if column.dtype == object:
        return column.astype(object)
    if column.dtype.kind == "f":
        return np.array([None if v != v else str(int(v)) for v in column], dtype=object)
    return np.array([str(v) for v in column], dtype=object)


def _pool(moments: ArrayBundle, key: str) -> tuple[float, float, float]:
    """The pooled count, mean and M2 of one group from the merged sums."""
    return pool_sums(
        moments[f"n_{key}"].astype(np.float64),
        moments[f"sum_{key}"].astype(np.float64),
        moments[f"sxx_{key}"].astype(np.float64),
    )


def _dummies(codes: npt.NDArray[np.int_]) -> npt.NDArray[np.float64]:
    """Treatment dummies of the observed codes, the first observed one as reference."""
    observed = np.unique(codes)
    return (
        np.column_stack([(codes == c).astype(np.float64) for c in observed[1:]])
        if len(observed) > 1
        else np.empty((len(codes), 0))
    )
