"""K-fold cross-validated linear regression, equal to scikit-learn metrics on the pooled folds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import design_names, observed_levels, split_x
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import linear_regression_udfs

__all__ = ["LinearRegressionCVFlow", "LinearRegressionCVParams"]


@dataclass(frozen=True, slots=True)
class LinearRegressionCVParams:
    """Parameters of cross-validated linear regression."""

    n_splits: int = param(5, doc="number of folds k", minimum=2, maximum=20)
    seed: int = param(0, doc="seed of each node's fold assignment", minimum=0)


class LinearRegressionCVFlow(AlgorithmFlow[LinearRegressionCVParams]):
    """Each node assigns its folds (``assign_folds`` with ``seed``); a pooled fold is their union.

    A levels round when x has categoricals, one round of per-fold moments (every fold's
    model is fitted from the other folds' moments), one round of per-fold test errors.
    Every result list has one value per fold: test rows, test MSE, MAE and R², and the F
    statistic of the training fit.
    """

    name = "linear_regression_cv"
    label = "Linear regression cross-validation"
    params_type = LinearRegressionCVParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, max_count=1)
    x = VariableRule(min_count=1)

    async def run(self, rt: Runtime, params: LinearRegressionCVParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        categoricals, numerics = split_x(rt)
        levels = await observed_levels(rt, categoricals)
        names = design_names(categoricals, numerics, levels)
        design = {
            "y": y,
            "categoricals": categoricals,
            "numerics": numerics,
            "levels": levels,
            "n_splits": params.n_splits,
            "seed": params.seed,
        }
        moments = await rt.execute_udf_locals(linear_regression_udfs.local_cv_moments, data=rt.data, **design)
        models = await rt.execute_udf_global(
            linear_regression_udfs.global_cv_fits,
            moments=await rt.create_remote_and_merge_global(moments),
            names=names,
            n_splits=params.n_splits,
        )
        errors = await rt.execute_udf_locals(
            linear_regression_udfs.local_cv_errors,
            data=rt.data,
            models=await rt.create_remote_global_to_locals(models),
            **design,
        )
        scores = await rt.read_global(
            await rt.execute_udf_global(
                linear_regression_udfs.global_cv_scores,
                errors=await rt.create_remote_and_merge_global(errors),
                models=models,
                n_splits=params.n_splits,
            )
        )
        return {
            "dependent_var": y,
            "indep_vars": ["Intercept", *names],
            "n_obs": [int(n) for n in scores["n_obs"]],
            "mean_sq_error": scores["mean_sq_error"].tolist(),
            "mean_abs_error": scores["mean_abs_error"].tolist(),
            "r_squared": scores["r_squared"].tolist(),
            "f_stat": scores["f_stat"].tolist(),
        }
