"""Linear regression (OLS) on the pooled rows of every local node, equal to statsmodels OLS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import design_names, observed_levels, split_x
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import linear_regression_udfs

__all__ = ["LinearRegressionFlow", "LinearRegressionParams"]


@dataclass(frozen=True, slots=True)
class LinearRegressionParams:
    """Linear regression takes no parameters."""


class LinearRegressionFlow(AlgorithmFlow[LinearRegressionParams]):
    """A levels round when x has categoricals, then one round of moments; solved globally."""

    name = "linear_regression"
    label = "Linear regression"
    params_type = LinearRegressionParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, max_count=1)
    x = VariableRule(min_count=1)

    async def run(self, rt: Runtime, params: LinearRegressionParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        categoricals, numerics = split_x(rt)
        levels = await observed_levels(rt, categoricals)
        names = design_names(categoricals, numerics, levels)
        moments = await rt.execute_udf_locals(
            linear_regression_udfs.local_moments,
            data=rt.data,
            y=y,
            categoricals=categoricals,
            numerics=numerics,
            levels=levels,
        )
        merged = await rt.create_remote_and_merge_global(moments)
        fit = await rt.execute_udf_global_outputs(linear_regression_udfs.global_fit, moments=merged, names=names)
        coefficients = await rt.read_global(fit["coefficients"])
        summary = await rt.read_global(fit["summary"])
        return {
            "dependent_var": y,
            "n_obs": int(summary["n_obs"][0]),
            "df_resid": float(summary["df_resid"][0]),
            "df_model": float(summary["df_model"][0]),
            "rse": float(summary["rse"][0]),
            "r_squared": float(summary["r_squared"][0]),
            "r_squared_adjusted": float(summary["r_squared_adjusted"][0]),
            "f_stat": float(summary["f_stat"][0]),
            "f_pvalue": float(summary["f_pvalue"][0]),
            "indep_vars": [str(n) for n in coefficients["name"]],
            "coefficients": coefficients["coefficient"].tolist(),
            "std_err": coefficients["std_err"].tolist(),
            "t_stats": coefficients["t_stat"].tolist(),
            "pvalues": coefficients["pvalue"].tolist(),
            "lower_ci": coefficients["lower_ci"].tolist(),
            "upper_ci": coefficients["upper_ci"].tolist(),
        }
