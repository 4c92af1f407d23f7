"""Student's t-tests (one-sample, paired, independent) from per-node moments.

Each node shares one row of counts, sums and sums of squares, merged by adding them
(secure aggregation can add masked ones); the global node derives the pooled means
and centred sums of squares and runs the test as R ``t.test`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._hints import GROUP_HINT
from udf_library._lazy import LazyModule
from udf_library._moments import pool_sums, sums
from udf_library._udf import shared, udf

if TYPE_CHECKING:
    from scipy import stats
else:
    stats = LazyModule("scipy.stats")

__all__ = [
    "global_independent",
    "global_onesample",
    "global_paired",
    "local_group_moments",
    "local_moments",
    "local_paired_moments",
]

ALTERNATIVES = ("two-sided", "less", "greater")
CONFIDENCE_LEVEL = 0.95
"""The MIP reference reports 95% intervals whatever ``alpha`` is (R's default conf.level)."""


@udf(outputs=(shared("moments", rows="n", merge="secure_sum"),))
def local_moments(data: ArrayBundle, column: str) -> ArrayBundle:
    """Count, sum and sum of squares of one numeric column: all a one-sample test needs."""
    n, total, squares = sums(data[column].astype(np.float64))
    return ArrayBundle({"n": [n], "sum": [total], "sxx": [squares]})


@udf(outputs=(shared("moments", rows=("a_n", "b_n", "d_n"), merge="secure_sum"),))
def local_paired_moments(data: ArrayBundle, first: str, second: str) -> ArrayBundle:
    """Moments of ``first``, ``second`` and ``first - second`` over the node's paired rows."""
    a = data[first].astype(np.float64)
    b = data[second].astype(np.float64)
    columns: dict[str, list[float]] = {}
    for prefix, values in (("a", a), ("b", b), ("d", a - b)):
        n, total, squares = sums(values)
        columns |= {f"{prefix}_n": [n], f"{prefix}_sum": [total], f"{prefix}_sxx": [squares]}
    return ArrayBundle(columns)


@udf(
    outputs=(
        shared(
            "moments", rows=("a_n", "b_n"), label="variable", hint=GROUP_HINT, merge="secure_sum", keys=("variable",)
        ),
    )
)
def local_group_moments(data: ArrayBundle, column: str, group_column: str, group_a: str, group_b: str) -> ArrayBundle:
    """Moments of ``column`` within group A and within group B of ``group_column``."""
    values = data[column].astype(np.float64)
    groups = np.array([None if g is None else str(g) for g in data[group_column]], dtype=object)
    columns: dict[str, list[Any]] = {"variable": [group_column]}
    for prefix, level in (("a", group_a), ("b", group_b)):
        n, total, squares = sums(values[groups == level])
        columns |= {f"{prefix}_n": [n], f"{prefix}_sum": [total], f"{prefix}_sxx": [squares]}
    return ArrayBundle(columns)


@udf(outputs=(shared("result"),))
def global_onesample(moments: ArrayBundle, mu: float, alternative: str) -> ArrayBundle:
    """One-sample t-test of the pooled mean against ``mu`` (R ``t.test(x, mu=mu)``)."""
    n, mean, m2 = _pool(moments, "")
    sd = _sample_sd(n, m2)
    se = sd / np.sqrt(n)
    t_value = (mean - mu) / se
    df = n - 1.0
    lower, upper = _interval(mean, se, df, alternative)
    return ArrayBundle(
        {
            "n_obs": [int(n)],
            "t_value": [t_value],
            "p_value": [_p_value(t_value, df, alternative)],
            "df": [df],
            "mean": [mean],
            "se": [se],
            "ci_lower": [lower],
            "ci_upper": [upper],
            "cohens_d": [abs(mean - mu) / sd],
        }
    )


@udf(outputs=(shared("result"),))
def global_paired(moments: ArrayBundle, alternative: str) -> ArrayBundle:
    """Paired t-test of ``first - second`` (R ``t.test(first, second, paired=TRUE)``).

    Cohen's d divides the mean difference by the root mean of the two variances, as
    the MIP reference does.
    """
    n, mean_d, m2_d = _pool(moments, "d_")
    _, _, m2_a = _pool(moments, "a_")
    _, _, m2_b = _pool(moments, "b_")
    se = _sample_sd(n, m2_d) / np.sqrt(n)
    t_value = mean_d / se
    df = n - 1.0
    lower, upper = _interval(mean_d, se, df, alternative)
    spread = np.sqrt((m2_a + m2_b) / (2.0 * (n - 1.0)))
    return ArrayBundle(
        {
            "n_obs": [int(n)],
            "t_value": [t_value],
            "p_value": [_p_value(t_value, df, alternative)],
            "df": [df],
            "mean": [mean_d],
            "se": [se],
            "ci_lower": [lower],
            "ci_upper": [upper],
            "cohens_d": [mean_d / spread if spread > 0 else np.nan],
        }
    )


@udf(outputs=(shared("result"),))
def global_independent(moments: ArrayBundle, alternative: str, equal_var: bool) -> ArrayBundle:
    """Two-sample t-test of mean(A) - mean(B): Student's (pooled variance) or Welch's.

    Cohen's d uses the pooled standard deviation in both cases.
    """
    n_a, mean_a, m2_a = _pool(moments, "a_")
    n_b, mean_b, m2_b = _pool(moments, "b_")
    for label, n in (("A", n_a), ("B", n_b)):
        if n < 2:
            raise UdfInputError(f"group {label} needs at least 2 rows, it has {int(n)}")
    var_a = m2_a / (n_a - 1.0)
    var_b = m2_b / (n_b - 1.0)
    pooled_var = (m2_a + m2_b) / (n_a + n_b - 2.0)
    if equal_var:
        se = float(np.sqrt(pooled_var * (1.0 / n_a + 1.0 / n_b)))
        df = n_a + n_b - 2.0
    else:
        va, vb = var_a / n_a, var_b / n_b
        se = float(np.sqrt(va + vb))
        df = (va + vb) ** 2 / (va**2 / (n_a - 1.0) + vb**2 / (n_b - 1.0))
    if not se > 0:
        raise UdfInputError("the outcome is constant within both groups: the t statistic is undefined")
    diff = mean_a - mean_b
    t_value = diff / se
    lower, upper = _interval(diff, se, df, alternative)
    return ArrayBundle(
        {
            "n_obs": [int(n_a + n_b)],
            "n_a": [int(n_a)],
            "n_b": [int(n_b)],
            "mean_a": [mean_a],
            "mean_b": [mean_b],
            "t_value": [t_value],
            "p_value": [_p_value(t_value, df, alternative)],
            "df": [df],
            "mean": [diff],
            "se": [se],
            "ci_lower": [lower],
            "ci_upper": [upper],
            "cohens_d": [diff / np.sqrt(pooled_var)],
        }
    )


def _pool(moments: ArrayBundle, prefix: str) -> tuple[float, float, float]:
    """The pooled count, mean and M2 from the merged sums."""
    return pool_sums(
        moments[f"{prefix}n"].astype(np.float64),
        moments[f"{prefix}sum"].astype(np.float64),
        moments[f"{prefix}sxx"].astype(np.float64),
    )


def _sample_sd(n: float, m2: float) -> float:
    if n < 2:
        raise UdfInputError(f"a t-test needs at least 2 rows, got {int(n)}")
    sd = float(np.sqrt(m2 / (n - 1.0)))
    if not sd > 0:
        raise UdfInputError("the values are constant: the t statistic is undefined")
    return sd


def _p_value(t_value: float, df: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.t.sf(t_value, df))
    if alternative == "less":
        return float(stats.t.cdf(t_value, df))
    if alternative == "two-sided":
        return float(min(1.0, 2.0 * stats.t.sf(abs(t_value), df)))
    raise UdfInputError(f"alternative must be one of {list(ALTERNATIVES)}, got {alternative!r}")


def _interval(estimate: float, se: float, df: float, alternative: str) -> tuple[float, float]:
    """Confidence bounds of ``estimate``; a one-sided test has one infinite bound."""
    if alternative == "two-sided":
        half = float(stats.t.ppf(0.5 + CONFIDENCE_LEVEL / 2.0, df)) * se
        return estimate - half, estimate + half
    margin = float(stats.t.ppf(CONFIDENCE_LEVEL, df)) * se
    if alternative == "greater":
        return estimate - margin, np.inf
    return -np.inf, estimate + margin
