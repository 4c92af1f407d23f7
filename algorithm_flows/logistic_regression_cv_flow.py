"""K-fold cross-validated logistic regression, equal to scikit-learn metrics on the pooled folds."""

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
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import logistic_regression_udfs

__all__ = ["LogisticRegressionCVFlow", "LogisticRegressionCVParams"]


@dataclass(frozen=True, slots=True)
class LogisticRegressionCVParams:
    """Parameters of cross-validated logistic regression."""

    positive_class: str = param(doc="the level of y modelled as 1; every other level is 0")
    n_splits: int = param(5, doc="number of folds k", minimum=2, maximum=20)
    seed: int = param(0, doc="seed of each node's fold assignment", minimum=0)


class LogisticRegressionCVFlow(AlgorithmFlow[LogisticRegressionCVParams]):
    """Each node assigns its folds (``assign_folds`` with ``seed``); a pooled fold is their union.

    A levels round when x has categoricals, one round per Newton step (all folds' models
    step together), and one round of test-fold counts. Every result list has one value per
    fold: test rows, accuracy, precision, recall, F1 (prediction: probability > 0.5) and
    the ROC AUC (trapezoid over a fixed grid of thresholds).
    """

    name = "logistic_regression_cv"
    label = "Logistic regression cross-validation"
    params_type = LogisticRegressionCVParams
    y = VariableRule(types=frozenset({"int", "text"}), is_categorical=True, min_count=1, max_count=1)
    x = VariableRule(min_count=1)

    async def run(self, rt: Runtime, params: LogisticRegressionCVParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        categoricals, numerics = split_x(rt)
        levels = await observed_levels(rt, categoricals)
        names = design_names(categoricals, numerics, levels)
        design = {
            "y": y,
            "positive_class": params.positive_class,
            "categoricals": categoricals,
            "numerics": numerics,
            "levels": levels,
            "n_splits": params.n_splits,
            "seed": params.seed,
        }
        coefficients = [0.0] * ((len(names) + 1) * params.n_splits)
        for iteration in range(1, MAX_ITERATIONS + 1):
            step = await rt.execute_udf_locals(
                logistic_regression_udfs.local_cv_newton_step,
                data=rt.data,
                coefficients=coefficients,
                **design,
            )
            state = await rt.read_global(
                await rt.execute_udf_global(
                    logistic_regression_udfs.global_cv_newton_update,
                    step=await rt.create_remote_and_merge_global(step),
                    names=names,
                    n_splits=params.n_splits,
                    coefficients=coefficients,
                )
            )
            rt.report_progress("Newton step", iteration=iteration, total=MAX_ITERATIONS)
            coefficients = coefficients_of(state, len(coefficients))
            if is_converged(state, coefficients):
                break
        else:
            raise AlgorithmError(
                f"logistic regression did not converge in {MAX_ITERATIONS} Newton steps on "
                "some fold; the classes may be (nearly) perfectly separated by the x variables"
            )
        scores = await rt.execute_udf_locals(
            logistic_regression_udfs.local_cv_scores,
            data=rt.data,
            coefficients=coefficients,
            **design,
        )
        metrics = await rt.read_global(
            await rt.execute_udf_global(
                logistic_regression_udfs.global_cv_metrics,
                scores=await rt.create_remote_and_merge_global(scores),
                n_splits=params.n_splits,
            )
        )
        return {
            "dependent_var": y,
            "indep_vars": ["Intercept", *names],
            "n_obs": [int(n) for n in metrics["n_obs"]],
            "accuracy": metrics["accuracy"].tolist(),
            "precision": metrics["precision"].tolist(),
            "recall": metrics["recall"].tolist(),
            "fscore": metrics["fscore"].tolist(),
            "auc": metrics["auc"].tolist(),
        }
