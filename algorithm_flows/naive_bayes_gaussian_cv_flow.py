"""Gaussian naive Bayes k-fold cross-validation over the rows of every local node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import CLASS_RULE, class_levels, cv_report
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import naive_bayes_udfs

__all__ = ["GaussianNBCVFlow", "GaussianNBCVParams"]


@dataclass(frozen=True, slots=True)
class GaussianNBCVParams:
    """Parameters of Gaussian naive Bayes cross-validation."""

    n_splits: int = param(5, doc="number of folds", minimum=2, maximum=100)
    var_smoothing: float = param(1e-9, doc="share of the largest feature variance added to every variance", minimum=0)
    seed: int = param(0, doc="seed of each node's shuffle of its rows into folds", minimum=0)


class GaussianNBCVFlow(AlgorithmFlow[GaussianNBCVParams]):
    """Two rounds: per-fold moments give one model per fold; held-out rows give confusion counts.

    Each node assigns its own rows to folds and keeps the assignment; a fold's model is
    fitted on the other folds' rows of every node.
    """

    name = "naive_bayes_gaussian_cv"
    label = "Gaussian naive Bayes cross-validation"
    params_type = GaussianNBCVParams
    y = CLASS_RULE
    x = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, doc="the features")

    async def run(self, rt: Runtime, params: GaussianNBCVParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        x = list(rt.inputdata.x)
        classes = class_levels(rt, y)
        local = await rt.execute_udf_locals_outputs(
            naive_bayes_udfs.local_gaussian_fold_stats,
            data=rt.data,
            y=y,
            x=x,
            classes=classes,
            n_splits=params.n_splits,
            seed=params.seed,
        )
        models = await rt.execute_udf_global(
            naive_bayes_udfs.global_gaussian_fold_models,
            stats=await rt.create_remote_and_merge_global(local["stats"]),
            x=x,
            classes=classes,
            n_splits=params.n_splits,
            var_smoothing=params.var_smoothing,
        )
        confusion = await rt.execute_udf_locals(
            naive_bayes_udfs.local_gaussian_fold_confusion,
            data=rt.data,
            folds=local["folds"],
            models=await rt.create_remote_global_to_locals(models),
            y=y,
            x=x,
            classes=classes,
            n_splits=params.n_splits,
        )
        merged = await rt.create_remote_and_merge_global(confusion)
        return await cv_report(rt, merged, classes, params.n_splits)
