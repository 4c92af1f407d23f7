"""Federated logistic regression equals statsmodels Logit on the pooled rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from algorithm_flows import AlgorithmError, Variable
from algorithm_flows.logistic_regression_flow import LogisticRegressionFlow
from algorithm_flows.testing import run_flow
from udf_library import ArrayBundle, logistic_regression_udfs

RTOL = 1e-7
ATOL = 1e-9
VARIABLES = {
    "status": Variable("status", "text", True, enumerations=("AD", "CN", "MCI")),
    "x1": Variable("x1", "real", False),
    "x2": Variable("x2", "int", False),
    "group": Variable("group", "text", True, enumerations=("A", "B", "C")),
    "x1_copy": Variable("x1_copy", "real", False),
}


def make_partitions(
    sizes: list[int], seed: int = 11, levels_per_node: dict[int, list[str]] | None = None
) -> dict[str, ArrayBundle]:
    """Seeded rows per node; the chance of status AD grows with x1 and group C."""
    rng = np.random.default_rng(seed)
    parts = {}
    for i, size in enumerate(sizes):
        levels = (levels_per_node or {}).get(i, ["A", "B", "C"])
        x1 = rng.normal(50.0, 5.0, size)
        x2 = rng.integers(0, 10, size)
        group = rng.choice(levels, size)
        eta = -8.0 + 0.15 * x1 + 0.1 * x2 + np.where(group == "C", 0.8, 0.0)
        is_ad = rng.random(size) < 1.0 / (1.0 + np.exp(-eta))
        status = np.where(is_ad, "AD", rng.choice(["CN", "MCI"], size))
        parts[f"local{i + 1}"] = ArrayBundle(
            {
                "dataset": np.array([f"ds{i}"] * size, dtype=object),
                "status": np.array(status, dtype=object),
                "x1": x1,
                "x2": x2,
                "group": np.array(group, dtype=object),
                "x1_copy": 3.0 * x1,
            }
        )
    return parts


def pooled_logit(parts: dict[str, ArrayBundle], x: list[str], positive: str) -> Any:
    """statsmodels Logit on the pooled rows with the MIP design (sorted levels, first dropped)."""
    frame = pd.concat([pd.DataFrame({k: b[k] for k in b.names}) for b in parts.values()])
    columns = [pd.Series(1.0, index=frame.index, name="Intercept")]
    for code in [c for c in x if VARIABLES[c].is_categorical]:
        for level in sorted(frame[code].unique())[1:]:
            columns.append((frame[code] == level).astype(float).rename(f"{code}[{level}]"))
    columns += [frame[c].astype(float) for c in x if not VARIABLES[c].is_categorical]
    target = (frame["status"] == positive).astype(float).to_numpy()
    return sm.Logit(target, pd.concat(columns, axis=1)).fit(disp=0, tol=1e-12, maxiter=100)


def assert_matches(result: dict[str, Any], fit: Any) -> None:
    conf = fit.conf_int()
    n = fit.nobs
    expected = {
        "coefficients": fit.params.to_numpy(),
        "stderr": fit.bse.to_numpy(),
        "z_scores": fit.tvalues.to_numpy(),
        "pvalues": fit.pvalues.to_numpy(),
        "lower_ci": conf.iloc[:, 0].to_numpy(),
        "upper_ci": conf.iloc[:, 1].to_numpy(),
        "ll": fit.llf,
        "ll0": fit.llnull,
        "aic": fit.aic,
        "bic": fit.bic,
        "r_squared_mcf": fit.prsquared,
        "r_squared_cs": 1.0 - np.exp(2.0 * (fit.llnull - fit.llf) / n),
    }
    for key, value in expected.items():
        np.testing.assert_allclose(result[key], value, rtol=RTOL, atol=ATOL, err_msg=key)
    assert (result["n_obs"], result["df_model"], result["df_resid"]) == (
        int(n),
        int(fit.df_model),
        int(fit.df_resid),
    )


def test_federated_fit_equals_pooled_statsmodels() -> None:
    # arrange
    parts = make_partitions([80, 200, 120])
    x = ["x1", "group", "x2"]

    # act
    result = run_flow(
        LogisticRegressionFlow,
        parts,
        VARIABLES,
        y=("status",),
        x=tuple(x),
        parameters={"positive_class": "AD"},
    )

    # assert
    assert_matches(result, pooled_logit(parts, x, "AD"))


def test_positive_class_picks_the_level_modelled_as_one() -> None:
    # arrange
    parts = make_partitions([80, 200, 120])

    # act
    result = run_flow(
        LogisticRegressionFlow,
        parts,
        VARIABLES,
        y=("status",),
        x=("x1",),
        parameters={"positive_class": "CN"},
    )

    # assert
    assert_matches(result, pooled_logit(parts, ["x1"], "CN"))


def test_node_below_min_rows_is_left_out() -> None:
    # arrange
    parts = make_partitions([6, 200, 150])
    remaining = {k: v for k, v in parts.items() if k != "local1"}

    # act
    result = run_flow(
        LogisticRegressionFlow,
        parts,
        VARIABLES,
        y=("status",),
        x=("x1", "x2"),
        parameters={"positive_class": "AD"},
    )

    # assert
    assert result["n_obs"] == 350
    assert_matches(result, pooled_logit(remaining, ["x1", "x2"], "AD"))


def test_level_missing_on_one_node_is_coded_from_pooled_levels() -> None:
    # arrange
    parts = make_partitions([90, 150, 120], levels_per_node={1: ["A", "C"]})

    # act
    result = run_flow(
        LogisticRegressionFlow,
        parts,
        VARIABLES,
        y=("status",),
        x=("group", "x1"),
        parameters={"positive_class": "AD"},
    )

    # assert
    assert_matches(result, pooled_logit(parts, ["group", "x1"], "AD"))


def test_perfectly_collinear_columns_raise_a_clear_error() -> None:
    # arrange
    parts = make_partitions([50, 60, 70])

    # act / assert
    with pytest.raises(AlgorithmError, match=r"\['x1', 'x1_copy'\] are perfectly collinear"):
        run_flow(
            LogisticRegressionFlow,
            parts,
            VARIABLES,
            y=("status",),
            x=("x1", "x2", "x1_copy"),
            parameters={"positive_class": "AD"},
        )


def test_absent_positive_class_raises_a_clear_error() -> None:
    # arrange
    parts = make_partitions([50, 60, 70])

    # act / assert
    with pytest.raises(AlgorithmError, match="no selected row has the positive class"):
        run_flow(
            LogisticRegressionFlow,
            parts,
            VARIABLES,
            y=("status",),
            x=("x1",),
            parameters={"positive_class": "Other"},
        )


def test_perfect_separation_raises_instead_of_diverging() -> None:
    # arrange: status is AD exactly when x1 > 50
    parts = make_partitions([50, 60, 70])
    for bundle in parts.values():
        bundle["status"][:] = np.where(bundle["x1"] > 50.0, "AD", "CN")

    # act / assert
    with pytest.raises(AlgorithmError, match="separated"):
        run_flow(
            LogisticRegressionFlow,
            parts,
            VARIABLES,
            y=("status",),
            x=("x1",),
            parameters={"positive_class": "AD"},
        )


def test_first_newton_step_starts_from_the_null_model() -> None:
    # arrange: the Newton sums of rows where about one in five is positive, at zero
    rng = np.random.default_rng(5)
    x1 = rng.normal(0.0, 1.0, 400)
    target = (rng.random(400) < 1.0 / (1.0 + np.exp(1.5 - 0.7 * x1))).astype(float)
    design = np.column_stack([np.ones(400), x1])
    bundle = ArrayBundle(
        {"dataset": np.array(["ds"] * 400, dtype=object), "status": np.where(target == 1.0, "AD", "CN"), "x1": x1}
    )
    step = logistic_regression_udfs.local_newton_step(bundle, "status", "AD", [], ["x1"], {}, [0.0, 0.0])

    # act
    state, _, _ = logistic_regression_udfs.global_newton_update(step, ["x1"], [0.0, 0.0])

    # assert: one Newton step from (logit of the share, 0), at the null model's log-likelihood
    share = target.mean()
    start = np.array([np.log(share / (1.0 - share)), 0.0])
    weight = share * (1.0 - share)
    expected = start + np.linalg.solve(weight * design.T @ design, design.T @ (target - share))
    assert [state["b_0"][0], state["b_1"][0]] == pytest.approx(expected.tolist(), rel=1e-12)
    null = sm.Logit(target, np.ones(400)).fit(disp=0)
    assert state["ll"][0] == pytest.approx(null.llf, rel=1e-12)
