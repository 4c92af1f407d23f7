"""Paired t-test over 3 synthetic nodes == scipy ``ttest_rel(x, y)`` on the pooled rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from algorithm_flows import Variable
from algorithm_flows.testing import run_flow
from algorithm_flows.ttest_paired_flow import TTestPairedFlow
from udf_library import ArrayBundle

TOL = {"rtol": 1e-8, "atol": 1e-10}
VARIABLES = {
    "after": Variable("after", "real", is_categorical=False),
    "before": Variable("before", "real", is_categorical=False),
}


def partitions(sizes: tuple[int, ...], seed: int = 11) -> dict[str, ArrayBundle]:
    rng = np.random.default_rng(seed)
    parts = {}
    for i, n in enumerate(sizes):
        before = rng.normal(10.0, 3.0, n)
        after = before + rng.normal(0.4 * i, 1.0, n)
        after[::9] = np.nan  # rows missing one side are dropped before the flow sees them
        parts[f"local{i}"] = ArrayBundle(
            {"dataset": np.array([f"ds{i}"] * n, dtype=object), "after": after, "before": before}
        )
    return parts


def pooled_pairs(parts: dict[str, ArrayBundle]) -> tuple[np.ndarray, np.ndarray]:
    after = np.concatenate([p["after"] for p in parts.values()])
    before = np.concatenate([p["before"] for p in parts.values()])
    keep = ~np.isnan(after)
    return before[keep], after[keep]


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_matches_scipy_on_pooled_rows(alternative: str) -> None:
    # Arrange
    parts = partitions((40, 55, 70))
    x, y = pooled_pairs(parts)
    expected = stats.ttest_rel(x, y, alternative=alternative)
    low, high = expected.confidence_interval(0.95)
    d = (x.mean() - y.mean()) / np.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)

    # Act
    result = run_flow(
        TTestPairedFlow,
        parts,
        VARIABLES,
        y=("after",),
        x=("before",),
        parameters={"alt_hypothesis": alternative},
    )

    # Assert
    assert result["n_obs"] == len(x)
    np.testing.assert_allclose(
        [result["statistic"][0], result["p_value"][0], result["df"][0], result["mean_diff"][0]],
        [expected.statistic, expected.pvalue, expected.df, (x - y).mean()],
        **TOL,
    )
    np.testing.assert_allclose(result["cohens_d"][0], d, **TOL)
    for bound, want in (("ci_lower", low), ("ci_upper", high)):
        if np.isfinite(want):
            np.testing.assert_allclose(result[bound], want, **TOL)
        else:
            assert result[bound] == ("Infinity" if want > 0 else "-Infinity")


def test_node_below_min_rows_is_left_out() -> None:
    # Arrange
    parts = partitions((40, 55, 6))
    x, y = pooled_pairs({k: parts[k] for k in ("local0", "local1")})
    expected = stats.ttest_rel(x, y)

    # Act
    result = run_flow(TTestPairedFlow, parts, VARIABLES, y=("after",), x=("before",))

    # Assert
    assert result["n_obs"] == len(x)
    np.testing.assert_allclose(result["statistic"][0], expected.statistic, **TOL)
