"""Two-way ANOVA over 3 synthetic nodes == statsmodels ``anova_lm`` on the pooled rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from algorithm_flows import Variable
from algorithm_flows.anova_flow import AnovaFlow
from algorithm_flows.testing import run_flow
from tests.helpers.reference import REFERENCE_DISCLOSURE
from udf_library import ArrayBundle

TOL = {"rtol": 1e-6, "atol": 1e-9}
VARIABLES = {
    "score": Variable("score", "real", is_categorical=False),
    "drug": Variable("drug", "text", is_categorical=True, enumerations=("p", "q", "r")),
    "sex": Variable("sex", "text", is_categorical=True, enumerations=("M", "F")),
}


def partitions(sizes: tuple[int, ...], seed: int = 21) -> dict[str, ArrayBundle]:
    rng = np.random.default_rng(seed)
    parts = {}
    for i, n in enumerate(sizes):
        drugs = ["p", "q", "r"] if i != 0 else ["p", "q"]  # r missing on local0
        drug = rng.choice(drugs, n)
        sex = rng.choice(["M", "F"], n, p=[0.3, 0.7])
        score = rng.normal(0, 1, n) + (drug == "q") * 0.5 + (sex == "F") * 0.4 + (drug == "r") * (sex == "F")
        parts[f"local{i}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * n, dtype=object),
                "score": score,
                "drug": drug.astype(object),
                "sex": sex.astype(object),
            }
        )
    return parts


def pooled(parts: dict[str, ArrayBundle]) -> pd.DataFrame:
    return pd.DataFrame({c: np.concatenate([p[c] for p in parts.values()]) for c in ("score", "drug", "sex")})


@pytest.mark.parametrize("sstype", [1, 2])
def test_matches_statsmodels_anova_lm(sstype: int) -> None:
    # Arrange
    parts = partitions((50, 60, 80))
    fit = smf.ols("score ~ C(drug) * C(sex)", data=pooled(parts)).fit()
    table = sm.stats.anova_lm(fit, typ=sstype)
    names = {
        "C(drug)": "drug",
        "C(sex)": "sex",
        "C(drug):C(sex)": "drug:sex",
        "Residual": "Residuals",
    }

    # Act
    result = run_flow(
        AnovaFlow,
        parts,
        VARIABLES,
        y=("score",),
        x=("drug", "sex"),
        parameters={"sstype": sstype},
        **REFERENCE_DISCLOSURE,
    )

    # Assert
    for theirs, ours in names.items():
        np.testing.assert_allclose(result["sum_sq"][ours], table.loc[theirs, "sum_sq"], **TOL)
        assert result["df"][ours] == int(table.loc[theirs, "df"])
    for theirs in ("C(drug)", "C(sex)", "C(drug):C(sex)"):
        np.testing.assert_allclose(result["f_stat"][names[theirs]], table.loc[theirs, "F"], **TOL)
        np.testing.assert_allclose(result["f_pvalue"][names[theirs]], table.loc[theirs, "PR(>F)"], **TOL)


def test_empty_cell_counts_no_interaction_degree_of_freedom() -> None:
    # Arrange: sex F never takes drug r anywhere
    parts = partitions((50, 60, 80))
    for name, part in parts.items():
        keep = ~((part["drug"] == "r") & (part["sex"] == "F"))
        parts[name] = part.take(keep)
    fit = smf.ols("score ~ C(drug) + C(sex)", data=pooled(parts)).fit()
    main_effects = sm.stats.anova_lm(fit, typ=1)

    # Act
    result = run_flow(
        AnovaFlow, parts, VARIABLES, y=("score",), x=("drug", "sex"), parameters={"sstype": 1}, **REFERENCE_DISCLOSURE
    )

    # Assert
    assert result["df"]["drug:sex"] == 1
    np.testing.assert_allclose(result["sum_sq"]["drug"], main_effects.loc["C(drug)", "sum_sq"], **TOL)


def test_node_below_min_rows_is_left_out() -> None:
    # Arrange
    parts = partitions((50, 60, 7))
    table = sm.stats.anova_lm(
        smf.ols("score ~ C(drug) * C(sex)", data=pooled({k: parts[k] for k in ("local0", "local1")})).fit(),
        typ=2,
    )

    # Act
    result = run_flow(AnovaFlow, parts, VARIABLES, y=("score",), x=("drug", "sex"), **REFERENCE_DISCLOSURE)

    # Assert
    np.testing.assert_allclose(result["sum_sq"]["Residuals"], table.loc["Residual", "sum_sq"], **TOL)
    assert result["df"]["Residuals"] == int(table.loc["Residual", "df"])


def test_term_without_degrees_of_freedom_has_no_test() -> None:
    # Arrange: sex is nested in drug (p and q only men, r only women), so the interaction
    # adds nothing to the main effects: df 0, no F test
    parts = partitions((50, 60, 80))
    for name, part in parts.items():
        nested = np.where(part["drug"] == "r", "F", "M").astype(object)
        parts[name] = ArrayBundle({c: (nested if c == "sex" else part[c]) for c in part.names})

    # Act
    result = run_flow(AnovaFlow, parts, VARIABLES, y=("score",), x=("drug", "sex"), parameters={"sstype": 1})

    # Assert
    assert result["df"]["drug:sex"] == 0
    assert result["f_stat"]["drug:sex"] is None
    assert result["f_pvalue"]["drug:sex"] is None
    assert result["f_pvalue"]["drug"] is not None
