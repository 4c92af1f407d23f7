"""Ordinary least squares (as statsmodels OLS) and its k-fold cross-validation.

One round of sufficient statistics: each node sends the moments (count, means, centered
cross-products) of its design columns and y; the global node merges them exactly and solves
the normal equations in centered form, which is as accurate as a QR fit for data whose
means dwarf their spreads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from udf_library import _design
from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._folds import assign_folds
from udf_library._hints import FOLD_HINT, LEVEL_HINT
from udf_library._lazy import LazyModule
from udf_library._udf import shared, udf

if TYPE_CHECKING:
    from scipy import stats
else:
    stats = LazyModule("scipy.stats")

__all__ = [
    "global_cv_fits",
    "global_cv_scores",
    "global_fit",
    "local_cv_errors",
    "local_cv_moments",
    "local_moments",
]

NAME = "name"
FOLD = "fold"


@udf(outputs=(shared("moments", rows=("n", "cell_*"), hint=LEVEL_HINT, merge="secure_sum"),))
def local_moments(
    data: ArrayBundle, y: str, categoricals: list[str], numerics: list[str], levels: dict[str, Any]
) -> ArrayBundle:
    """Moments of the design columns (no intercept) and y, as one row, with the rows per level."""
    matrix = np.column_stack([_design.design_matrix(data, categoricals, numerics, levels), data.matrix([y])])
    return ArrayBundle(
        _design.pack_moments(_design.moments_of(matrix)) | _design.level_cells(data, categoricals, levels)
    )


@udf(outputs=(shared("coefficients"), shared("summary")))
def global_fit(moments: ArrayBundle, names: list[str]) -> tuple[ArrayBundle, ArrayBundle]:
    """Coefficients with standard errors, t tests and 95% intervals, and the fit summary.

    ``names`` are the design columns after the intercept, in the order the locals used.
    """
    pooled = _design.merged_moments(moments, len(names) + 1)
    fit = _Fit.solve(pooled, names)
    t_stats = fit.coefficients / fit.std_err
    pvalues = 2.0 * stats.t.sf(np.abs(t_stats), fit.df_resid)
    margin = stats.t.ppf(0.975, fit.df_resid) * fit.std_err
    coefficients = ArrayBundle(
        {
            NAME: np.array([_design.INTERCEPT, *names], dtype=object),
            "coefficient": fit.coefficients,
            "std_err": fit.std_err,
            "t_stat": t_stats,
            "pvalue": pvalues,
            "lower_ci": fit.coefficients - margin,
            "upper_ci": fit.coefficients + margin,
        }
    )
    summary = ArrayBundle(
        {
            "n_obs": [round(pooled.n)],
            "df_resid": [fit.df_resid],
            "df_model": [fit.df_model],
            "rse": [float(np.sqrt(fit.ssr / fit.df_resid))],
            "r_squared": [fit.r_squared],
            "r_squared_adjusted": [1.0 - (pooled.n - 1.0) / fit.df_resid * (1.0 - fit.r_squared)],
            "f_stat": [fit.f_stat],
            "f_pvalue": [float(stats.f.sf(fit.f_stat, fit.df_model, fit.df_resid))],
        }
    )
    return coefficients, summary


@udf(outputs=(shared("moments", rows=("f*_n", "cell_*"), hint=FOLD_HINT, merge="secure_sum"),))
def local_cv_moments(
    data: ArrayBundle,
    y: str,
    categoricals: list[str],
    numerics: list[str],
    levels: dict[str, Any],
    n_splits: int,
    seed: int,
) -> ArrayBundle:
    """Per-fold moments of the design columns and y, as one wide row (``f<k>_`` prefixes)."""
    matrix = np.column_stack([_design.design_matrix(data, categoricals, numerics, levels), data.matrix([y])])
    folds = assign_folds(data.num_rows, n_splits, seed)
    columns: dict[str, Any] = {}
    for fold in range(n_splits):
        columns |= _design.pack_moments(_design.moments_of(matrix[folds == fold]), f"f{fold}_")
    return ArrayBundle(columns | _design.level_cells(data, categoricals, levels))


@udf(outputs=(shared("models"),))
def global_cv_fits(moments: ArrayBundle, names: list[str], n_splits: int) -> ArrayBundle:
    """One OLS fit per fold on the other folds' rows: a row of coefficients per fold."""
    p = len(names) + 1
    per_fold = [_design.merged_moments(moments, p, f"f{k}_") for k in range(n_splits)]
    rows = []
    for fold in range(n_splits):
        train = _design.merge_moments([m for k, m in enumerate(per_fold) if k != fold])
        try:
            rows.append(_Fit.solve(train, names))
        except UdfInputError as exc:
            raise UdfInputError(f"training rows of fold {fold + 1}: {exc}") from None
    columns: dict[str, Any] = {FOLD: np.arange(n_splits)}
    for j in range(p):
        columns[f"b_{j}"] = np.array([fit.coefficients[j] for fit in rows])
    columns["f_stat"] = np.array([fit.f_stat for fit in rows])
    columns["test_n"] = np.array([m.n for m in per_fold])
    columns["test_tss"] = np.array([m.m2[-1, -1] for m in per_fold])
    return ArrayBundle(columns)


@udf(outputs=(shared("errors", rows="f*_n", hint=FOLD_HINT),))
def local_cv_errors(
    data: ArrayBundle,
    models: ArrayBundle,
    y: str,
    categoricals: list[str],
    numerics: list[str],
    levels: dict[str, Any],
    n_splits: int,
    seed: int,
) -> ArrayBundle:
    """Squared and absolute test errors of each fold's model, summed per fold (one row)."""
    design = _design.design_matrix(data, categoricals, numerics, levels)
    design = np.column_stack([np.ones(data.num_rows), design])
    target = data.matrix([y])[:, 0]
    folds = assign_folds(data.num_rows, n_splits, seed)
    p = design.shape[1]
    columns: dict[str, Any] = {}
    for fold in range(n_splits):
        coefficients = np.array([models[f"b_{j}"][fold] for j in range(p)])
        test = folds == fold
        residuals = target[test] - design[test] @ coefficients
        columns[f"f{fold}_n"] = [int(test.sum())]
        columns[f"f{fold}_sse"] = [float(residuals @ residuals)]
        columns[f"f{fold}_sae"] = [float(np.abs(residuals).sum())]
    return ArrayBundle(columns)


@udf(outputs=(shared("scores"),))
def global_cv_scores(errors: ArrayBundle, models: ArrayBundle, n_splits: int) -> ArrayBundle:
    """Test-fold mean squared error, mean absolute error and R², one row per fold."""
    n = models["test_n"]
    sse = np.array([errors[f"f{k}_sse"].sum() for k in range(n_splits)])
    sae = np.array([errors[f"f{k}_sae"].sum() for k in range(n_splits)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return ArrayBundle(
            {
                FOLD: np.arange(n_splits),
                "n_obs": n.astype(np.int64),
                "mean_sq_error": sse / n,
                "mean_abs_error": sae / n,
                "r_squared": 1.0 - sse / models["test_tss"],
                "f_stat": models["f_stat"],
            }
        )


class _Fit:
    """An OLS fit from pooled moments of [design columns..., y]."""

    def __init__(
        self,
        coefficients: np.ndarray,
        std_err: np.ndarray,
        ssr: float,
        r_squared: float,
        df_model: float,
        df_resid: float,
        f_stat: float,
    ) -> None:
        self.coefficients = coefficients
        self.std_err = std_err
        self.ssr = ssr
        self.r_squared = r_squared
        self.df_model = df_model
        self.df_resid = df_resid
        self.f_stat = f_stat

    @classmethod
    def solve(cls, pooled: _design.Moments, names: list[str]) -> _Fit:
        p_x = len(names)
        if pooled.n <= p_x + 1:
            raise UdfInputError(
                f"linear regression needs more rows than coefficients: {int(pooled.n)} rows for {p_x + 1} coefficients"
            )
        sxx = pooled.m2[:p_x, :p_x]
        sxy = pooled.m2[:p_x, p_x]
        syy = float(pooled.m2[p_x, p_x])
        _design.check_full_rank(sxx, names)
        sxx_inv = np.linalg.inv(sxx)
        slopes = sxx_inv @ sxy
        x_mean = pooled.mean[:p_x]
        intercept = pooled.mean[p_x] - slopes @ x_mean
        ssr = max(float(syy - 2.0 * slopes @ sxy + slopes @ sxx @ slopes), 0.0)
        df_resid = pooled.n - p_x - 1.0
        df_model = float(p_x)
        sigma2 = ssr / df_resid
        std_err = np.sqrt(
            np.concatenate(
                [
                    [sigma2 * (1.0 / pooled.n + x_mean @ sxx_inv @ x_mean)],
                    sigma2 * np.diag(sxx_inv),
                ]
            )
        )
        r_squared = 1.0 - ssr / syy if syy > 0 else float("nan")
        f_stat = ((syy - ssr) / df_model) / sigma2 if df_model > 0 else float("nan")
        return cls(
            np.concatenate([[intercept], slopes]),
            std_err,
            float(ssr),
            float(r_squared),
            df_model,
            float(df_resid),
            float(f_stat),
        )
