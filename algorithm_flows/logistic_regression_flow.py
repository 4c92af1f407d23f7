"""Binary logistic regression on the pooled rows of every local node, equal to statsmodels Logit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._errors import AlgorithmError
from algorithm_flows._helpers import (
    MAX_ITERATIONS,
    coefficients_of,
    design_names,
    is_converged,
    observed_levels,
    split_x,
)
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, GlobalTable, Runtime, VariableRule
from udf_library import logistic_regression_udfs

__all__ = ["LogisticRegressionFlow", "LogisticRegressionParams"]


@dataclass(frozen=True, slots=True)
class LogisticRegressionParams:
    """Parameters of logistic regression; names follow the MIP front end."""

    positive_class: str = param(doc="the level of y modelled as 1; every other level is 0")


class LogisticRegressionFlow(AlgorithmFlow[LogisticRegressionParams]):
    """A levels round when x has categoricals, then one round per Newton step.

    The first step starts from the null model, and the global update of the round whose
    step is negligible also yields the final statistics, so a fit that converges in k
    steps takes k rounds (plus the levels round).
    """

    name = "logistic_regression"
    label = "Logistic regression"
    params_type = LogisticRegressionParams
    y = VariableRule(types=frozenset({"int", "text"}), is_categorical=True, min_count=1, max_count=1)
    x = VariableRule(min_count=1)

    async def run(self, rt: Runtime, params: LogisticRegressionParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        categoricals, numerics = split_x(rt)
        levels = await observed_levels(rt, categoricals)
        names = design_names(categoricals, numerics, levels)
        coefficients = [0.0] * (len(names) + 1)
        for iteration in range(1, MAX_ITERATIONS + 1):
            merged = await self._newton_sums(rt, y, params, categoricals, numerics, levels, coefficients)
            outputs = await rt.execute_udf_global_outputs(
                logistic_regression_udfs.global_newton_update,
                step=merged,
                names=names,
                coefficients=coefficients,
            )
            state = await rt.read_global(outputs["state"])
            rt.report_progress("Newton step", iteration=iteration, total=MAX_ITERATIONS)
            coefficients = coefficients_of(state, len(coefficients))
            if is_converged(state, coefficients):
                return await self._summary(rt, outputs)
        raise AlgorithmError(
            f"logistic regression did not converge in {MAX_ITERATIONS} Newton steps; "
            "the classes may be (nearly) perfectly separated by the x variables"
        )

    @staticmethod
    async def _newton_sums(
        rt: Runtime,
        y: str,
        params: LogisticRegressionParams,
        categoricals: list[str],
        numerics: list[str],
        levels: dict[str, list[str]],
        coefficients: list[float],
    ) -> GlobalTable:
        step = await rt.execute_udf_locals(
            logistic_regression_udfs.local_newton_step,
            data=rt.data,
            y=y,
            positive_class=params.positive_class,
            categoricals=categoricals,
            numerics=numerics,
            levels=levels,
            coefficients=coefficients,
        )
        return await rt.create_remote_and_merge_global(step)

    @staticmethod
    async def _summary(rt: Runtime, outputs: dict[str, GlobalTable]) -> dict[str, Any]:
        table = await rt.read_global(outputs["coefficients"])
        summary = await rt.read_global(outputs["summary"])
        return {
            "n_obs": int(summary["n_obs"][0]),
            "coefficients": table["coefficient"].tolist(),
            "stderr": table["stderr"].tolist(),
            "lower_ci": table["lower_ci"].tolist(),
            "upper_ci": table["upper_ci"].tolist(),
            "z_scores": table["z_score"].tolist(),
            "pvalues": table["pvalue"].tolist(),
            "df_model": int(summary["df_model"][0]),
            "df_resid": int(summary["df_resid"][0]),
            "r_squared_cs": float(summary["r_squared_cs"][0]),
            "r_squared_mcf": float(summary["r_squared_mcf"][0]),
            "ll0": float(summary["ll0"][0]),
            "ll": float(summary["ll"][0]),
            "aic": float(summary["aic"][0]),
            "bic": float(summary["bic"][0]),
        }
