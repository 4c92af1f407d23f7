"""One-sample t-test over 3 synthetic nodes == scipy on the pooled rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from algorithm_flows import Variable
from algorithm_flows.testing import run_flow
from algorithm_flows.ttest_onesample_flow import TTestOnesampleFlow
from udf_library import ArrayBundle

TOL = {"rtol": 1e-8, "atol": 1e-10}
VARIABLES = {"score": Variable("score", "real", is_categorical=False)}


def partitions(sizes: tuple[int, ...], seed: int = 7) -> dict[str, ArrayBundle]:
    rng = np.random.default_rng(seed)
    return {
        f"local{i}": ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * n, dtype=object),
                "score": rng.normal(5.0 + i, 2.0, n),
            }
        )
        for i, n in enumerate(sizes)
    }


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_matches_scipy_on_pooled_rows(alternative: str) -> None:
    # Arrange
    parts = partitions((40, 55, 70))
    pooled = np.concatenate([p["score"] for p in parts.values()])
    expected = stats.ttest_1samp(pooled, 5.5, alternative=alternative)
    low, high = expected.confidence_interval(0.95)

    # Act
    result = run_flow(
        TTestOnesampleFlow,
        parts,
        VARIABLES,
        y=("score",),
        parameters={"mu": 5.5, "alt_hypothesis": alternative},
    )

    # Assert
    assert result["n_obs"] == len(pooled)
    np.testing.assert_allclose(
        [result["t_value"], result["p_value"], result["df"], result["mean_diff"]],
        [expected.statistic, expected.pvalue, expected.df, pooled.mean()],
        **TOL,
    )
    np.testing.assert_allclose(result["se_diff"][0], pooled.std(ddof=1) / np.sqrt(len(pooled)), **TOL)
    np.testing.assert_allclose(result["cohens_d"], abs(pooled.mean() - 5.5) / pooled.std(ddof=1), **TOL)
    for bound, want in (("ci_lower", low), ("ci_upper", high)):
        if np.isfinite(want):
            np.testing.assert_allclose(result[bound], want, **TOL)
        else:
            assert result[bound] == ("Infinity" if want > 0 else "-Infinity")


def test_node_below_min_rows_is_left_out() -> None:
    # Arrange
    parts = partitions((40, 55, 5))
    kept = np.concatenate([parts["local0"]["score"], parts["local1"]["score"]])
    expected = stats.ttest_1samp(kept, 5.5)

    # Act
    result = run_flow(TTestOnesampleFlow, parts, VARIABLES, y=("score",), parameters={"mu": 5.5})

    # Assert
    assert result["n_obs"] == len(kept)
    np.testing.assert_allclose(result["t_value"], expected.statistic, **TOL)
