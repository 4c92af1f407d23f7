"""One-way ANOVA over 3 synthetic nodes == statsmodels on the pooled rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.stats.multicomp import pairwise_tukeyhsd

from algorithm_flows import Variable
from algorithm_flows.anova_oneway_flow import AnovaOnewayFlow
from algorithm_flows.testing import run_flow
from udf_library import ArrayBundle

TOL = {"rtol": 1e-6, "atol": 1e-9}
VARIABLES = {
    "score": Variable("score", "real", is_categorical=False),
    "group": Variable("group", "text", is_categorical=True, enumerations=("c", "a", "b", "d")),
}


def partitions(sizes: tuple[int, ...], seed: int = 5) -> dict[str, ArrayBundle]:
    rng = np.random.default_rng(seed)
    parts = {}
    for i, n in enumerate(sizes):
        levels = ["a", "b", "c"] if i != 2 else ["a", "c"]  # b missing on local2; d nowhere
        group = rng.choice(levels, n)
        score = rng.normal(3.0, 1.0, n) + (group == "b") * 0.8 - (group == "c") * 0.3
        parts[f"local{i}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * n, dtype=object),
                "score": score,
                "group": group.astype(object),
            }
        )
    return parts


def pooled(parts: dict[str, ArrayBundle]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "score": np.concatenate([p["score"] for p in parts.values()]),
            "group": np.concatenate([p["group"] for p in parts.values()]),
        }
    )


def test_anova_table_matches_statsmodels() -> None:
    # Arrange
    parts = partitions((40, 55, 70))
    frame = pooled(parts)
    table = sm.stats.anova_lm(smf.ols("score ~ C(group)", data=frame).fit())

    # Act
    result = run_flow(AnovaOnewayFlow, parts, VARIABLES, y=("score",), x=("group",))

    # Assert
    assert result["n_obs"] == len(frame)
    np.testing.assert_allclose(
        [result[k] for k in ("df_explained", "ss_explained", "ms_explained", "f_stat", "p_value")],
        table.loc["C(group)", ["df", "sum_sq", "mean_sq", "F", "PR(>F)"]].to_numpy(dtype=float),
        **TOL,
    )
    np.testing.assert_allclose(
        [result[k] for k in ("df_residual", "ss_residual", "ms_residual")],
        table.loc["Residual", ["df", "sum_sq", "mean_sq"]].to_numpy(dtype=float),
        **TOL,
    )


def test_tukey_matches_statsmodels() -> None:
    # Arrange
    parts = partitions((40, 55, 70))
    frame = pooled(parts)
    tukey = pairwise_tukeyhsd(frame["score"], frame["group"])
    pairs = [
        (str(tukey.groupsunique[i]), str(tukey.groupsunique[j])) for i, j in zip(*np.triu_indices(3, 1), strict=True)
    ]

    # Act
    result = run_flow(AnovaOnewayFlow, parts, VARIABLES, y=("score",), x=("group",))

    # Assert
    rows = result["tuckey_test"]
    assert [(r["groupA"], r["groupB"]) for r in rows] == pairs
    np.testing.assert_allclose([r["diff"] for r in rows], -tukey.meandiffs, **TOL)
    np.testing.assert_allclose([r["se"] / np.sqrt(2) for r in rows], tukey.std_pairs, **TOL)
    np.testing.assert_allclose([r["p_tuckey"] for r in rows], tukey.pvalues, rtol=1e-5, atol=1e-8)


def test_node_below_min_rows_is_left_out() -> None:
    # Arrange
    parts = partitions((40, 55, 3))
    frame = pooled({k: parts[k] for k in ("local0", "local1")})
    table = sm.stats.anova_lm(smf.ols("score ~ C(group)", data=frame).fit())

    # Act
    result = run_flow(AnovaOnewayFlow, parts, VARIABLES, y=("score",), x=("group",))

    # Assert
    assert result["n_obs"] == len(frame)
    np.testing.assert_allclose(result["f_stat"], table.loc["C(group)", "F"], **TOL)
