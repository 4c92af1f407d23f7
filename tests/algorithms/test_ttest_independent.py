"""Independent t-test over 3 synthetic nodes == scipy ``ttest_ind`` on the pooled rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from algorithm_flows import AlgorithmError, InvalidParametersError, Variable
from algorithm_flows.testing import run_flow
from algorithm_flows.ttest_independent_flow import TTestIndependentFlow
from udf_library import ArrayBundle

TOL = {"rtol": 1e-8, "atol": 1e-10}
VARIABLES = {
    "score": Variable("score", "real", is_categorical=False),
    "group": Variable("group", "text", is_categorical=True, enumerations=("a", "b", "c")),
}


def partitions(sizes: tuple[int, ...], seed: int = 3) -> dict[str, ArrayBundle]:
    rng = np.random.default_rng(seed)
    parts = {}
    for i, n in enumerate(sizes):
        levels = ["a", "b", "c"] if i != 1 else ["a", "c"]  # level b missing on local1
        group = rng.choice(levels, n)
        score = rng.normal(0.0, 1.0, n) + np.where(group == "a", 0.0, 0.7) * (1 + (group == "b"))
        parts[f"local{i}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * n, dtype=object),
                "score": score,
                "group": group.astype(object),
            }
        )
    return parts


def pooled_groups(parts: dict[str, ArrayBundle], a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    score = np.concatenate([p["score"] for p in parts.values()])
    group = np.concatenate([p["group"] for p in parts.values()])
    return score[group == a], score[group == b]


@pytest.mark.parametrize("equal_var", [True, False])
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_matches_scipy_on_pooled_rows(alternative: str, equal_var: bool) -> None:
    # Arrange
    parts = partitions((40, 55, 70))
    a, b = pooled_groups(parts, "b", "a")
    expected = stats.ttest_ind(a, b, equal_var=equal_var, alternative=alternative)
    low, high = expected.confidence_interval(0.95)
    pooled_sd = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))

    # Act
    result = run_flow(
        TTestIndependentFlow,
        parts,
        VARIABLES,
        y=("score",),
        x=("group",),
        parameters={
            "groupA": "b",
            "groupB": "a",
            "alt_hypothesis": alternative,
            "equal_var": equal_var,
        },
    )

    # Assert
    assert result["n_obs"] == len(a) + len(b)
    np.testing.assert_allclose(
        [result["t_stat"], result["p"], result["df"], result["mean_diff"]],
        [expected.statistic, expected.pvalue, expected.df, a.mean() - b.mean()],
        **TOL,
    )
    np.testing.assert_allclose(result["cohens_d"], (a.mean() - b.mean()) / pooled_sd, **TOL)
    for bound, want in (("ci_lower", low), ("ci_upper", high)):
        if np.isfinite(want):
            np.testing.assert_allclose(result[bound], want, **TOL)
        else:
            assert result[bound] == ("Infinity" if want > 0 else "-Infinity")


def test_node_below_min_rows_is_left_out() -> None:
    # Arrange
    parts = partitions((40, 55, 4))
    a, b = pooled_groups({k: parts[k] for k in ("local0", "local1")}, "a", "c")
    expected = stats.ttest_ind(a, b)

    # Act
    result = run_flow(
        TTestIndependentFlow,
        parts,
        VARIABLES,
        y=("score",),
        x=("group",),
        parameters={"groupA": "a", "groupB": "c"},
    )

    # Assert
    assert result["n_obs"] == len(a) + len(b)
    np.testing.assert_allclose(result["t_stat"], expected.statistic, **TOL)


def test_same_group_twice_is_rejected() -> None:
    # Arrange
    parts = partitions((40, 55, 70))

    # Act / Assert
    with pytest.raises(InvalidParametersError, match="must differ"):
        run_flow(
            TTestIndependentFlow,
            parts,
            VARIABLES,
            y=("score",),
            x=("group",),
            parameters={"groupA": "a", "groupB": "a"},
        )


def test_absent_group_is_a_clear_error() -> None:
    # Arrange
    parts = partitions((40, 55, 70))

    # Act / Assert
    with pytest.raises(AlgorithmError, match="group B"):
        run_flow(
            TTestIndependentFlow,
            parts,
            VARIABLES,
            y=("score",),
            x=("group",),
            parameters={"groupA": "a", "groupB": "zz"},
        )
