"""Federated linear regression equals statsmodels OLS on the pooled rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from algorithm_flows import AlgorithmError, Variable
from algorithm_flows.linear_regression_flow import LinearRegressionFlow
from algorithm_flows.testing import run_flow
from tests.helpers.reference import REFERENCE_DISCLOSURE
from udf_library import ArrayBundle

RTOL = 1e-8
ATOL = 1e-10
VARIABLES = {
    "y": Variable("y", "real", False),
    "x1": Variable("x1", "real", False),
    "x2": Variable("x2", "int", False),
    "group": Variable("group", "text", True, enumerations=("A", "B", "C")),
    "x1_copy": Variable("x1_copy", "real", False),
    "flat": Variable("flat", "real", False),
}


def make_partitions(sizes: list[int], seed: int = 7, levels_per_node: Any = None) -> dict[str, ArrayBundle]:
    """Seeded rows per node: y depends on x1, x2 and group, plus noise; means are large."""
    rng = np.random.default_rng(seed)
    parts = {}
    for i, size in enumerate(sizes):
        levels = (levels_per_node or {}).get(i, ["A", "B", "C"])
        x1 = rng.normal(500.0, 20.0, size)
        x2 = rng.integers(20, 90, size)
        group = rng.choice(levels, size)
        effect = np.select([group == "B", group == "C"], [3.0, -2.0], 0.0)
        y = 10.0 + 0.3 * x1 - 0.05 * x2 + effect + rng.normal(0.0, 4.0, size)
        parts[f"local{i + 1}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * size, dtype=object),
                "y": y,
                "x1": x1,
                "x2": x2,
                "group": np.array(group, dtype=object),
                "x1_copy": 2.0 * x1 + 1.0,
                "flat": np.full(size, 3.0),
            }
        )
    return parts


def pooled_ols(parts: dict[str, ArrayBundle], x: list[str]) -> Any:
    """statsmodels OLS on the pooled rows with the MIP design (sorted levels, first dropped)."""
    frame = pd.concat([pd.DataFrame({k: b[k] for k in b.names}) for b in parts.values()])
    columns = [pd.Series(1.0, index=frame.index, name="Intercept")]
    for code in [c for c in x if VARIABLES[c].is_categorical]:
        for level in sorted(frame[code].unique())[1:]:
            columns.append((frame[code] == level).astype(float).rename(f"{code}[{level}]"))
    columns += [frame[c].astype(float) for c in x if not VARIABLES[c].is_categorical]
    design = pd.concat(columns, axis=1)
    return sm.OLS(frame["y"].to_numpy(), design).fit()


def assert_matches(result: dict[str, Any], fit: Any) -> None:
    np.testing.assert_array_equal(result["indep_vars"], list(fit.model.exog_names))
    conf = fit.conf_int()
    expected = {
        "coefficients": fit.params.to_numpy(),
        "std_err": fit.bse.to_numpy(),
        "t_stats": fit.tvalues.to_numpy(),
        "pvalues": fit.pvalues.to_numpy(),
        "lower_ci": conf.iloc[:, 0].to_numpy(),
        "upper_ci": conf.iloc[:, 1].to_numpy(),
        "rse": np.sqrt(fit.scale),
        "r_squared": fit.rsquared,
        "r_squared_adjusted": fit.rsquared_adj,
        "f_stat": fit.fvalue,
        "f_pvalue": fit.f_pvalue,
        "df_resid": fit.df_resid,
        "df_model": fit.df_model,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(result[key], value, rtol=RTOL, atol=ATOL, err_msg=key)
    assert result["n_obs"] == int(fit.nobs)


def test_federated_fit_equals_pooled_statsmodels() -> None:
    # arrange
    parts = make_partitions([60, 150, 90])
    x = ["x1", "group", "x2"]

    # act
    result = run_flow(LinearRegressionFlow, parts, VARIABLES, y=("y",), x=tuple(x))

    # assert
    assert result["dependent_var"] == "y"
    assert_matches(result, pooled_ols(parts, x))


def test_design_puts_dummies_after_intercept_and_before_numbers() -> None:
    # arrange
    parts = make_partitions([40, 40, 40])

    # act
    result = run_flow(LinearRegressionFlow, parts, VARIABLES, y=("y",), x=("x1", "group"))

    # assert
    assert result["indep_vars"] == ["Intercept", "group[B]", "group[C]", "x1"]


def test_node_below_min_rows_is_left_out() -> None:
    # arrange
    parts = make_partitions([5, 120, 80])
    remaining = {k: v for k, v in parts.items() if k != "local1"}

    # act
    result = run_flow(LinearRegressionFlow, parts, VARIABLES, y=("y",), x=("x1", "x2"))

    # assert
    assert result["n_obs"] == 200
    assert_matches(result, pooled_ols(remaining, ["x1", "x2"]))


def test_level_missing_on_one_node_is_coded_from_pooled_levels() -> None:
    # arrange
    parts = make_partitions([50, 70, 60], levels_per_node={0: ["B", "C"], 2: ["A", "B"]})

    # act
    result = run_flow(LinearRegressionFlow, parts, VARIABLES, y=("y",), x=("group", "x1"))

    # assert
    assert_matches(result, pooled_ols(parts, ["group", "x1"]))


def test_perfectly_collinear_columns_raise_a_clear_error() -> None:
    # arrange
    parts = make_partitions([50, 50, 50])

    # act / assert
    with pytest.raises(AlgorithmError, match=r"perfectly collinear.*") as caught:
        run_flow(LinearRegressionFlow, parts, VARIABLES, y=("y",), x=("x1", "x2", "x1_copy"))
    assert "'x1'" in str(caught.value)
    assert "'x1_copy'" in str(caught.value)
    assert "'x2'" not in str(caught.value)


def test_constant_column_is_reported_as_collinear_with_intercept() -> None:
    # arrange
    parts = make_partitions([50, 50, 50])

    # act / assert
    with pytest.raises(AlgorithmError, match=r"\['flat'\] do not vary"):
        run_flow(LinearRegressionFlow, parts, VARIABLES, y=("y",), x=("x1", "flat"))


def test_shared_tables_are_aggregates_only() -> None:
    # arrange: a node barely above min rows with many design columns still shares one row
    parts = make_partitions([10, 30, 30])

    # act
    result = run_flow(LinearRegressionFlow, parts, VARIABLES, y=("y",), x=("x1", "x2", "group"), **REFERENCE_DISCLOSURE)

    # assert: run_flow raises PrivacyViolationError if a shared table had row-level shape
    assert result["n_obs"] == 70
