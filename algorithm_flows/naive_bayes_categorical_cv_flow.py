"""Categorical naive Bayes k-fold cross-validation over the rows of every local node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import CLASS_RULE, FEATURE_RULE, class_levels, cv_report
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime
from udf_library import naive_bayes_udfs

__all__ = ["CategoricalNBCVFlow", "CategoricalNBCVParams"]


@dataclass(frozen=True, slots=True)
class CategoricalNBCVParams:
    """Parameters of categorical naive Bayes cross-validation."""

    n_splits: int = param(5, doc="number of folds", minimum=2, maximum=100)
    alpha: float = param(1.0, doc="additive (Laplace/Lidstone) smoothing", minimum=1e-10)
    seed: int = param(0, doc="seed of each node's shuffle of its rows into folds", minimum=0)


class CategoricalNBCVFlow(AlgorithmFlow[CategoricalNBCVParams]):
    """Two rounds: per-fold counts give one model per fold; held-out rows give confusion counts.

    Every fold's model covers every category level of each feature (scikit-learn's
    ``min_categories``), so a held-out category unseen in training still gets a score.
    """

    name = "naive_bayes_categorical_cv"
    label = "Categorical naive Bayes cross-validation"
    params_type = CategoricalNBCVParams
    y = CLASS_RULE
    x = FEATURE_RULE

    async def run(self, rt: Runtime, params: CategoricalNBCVParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        x = list(rt.inputdata.x)
        classes = class_levels(rt, y)
        categories: dict[str, Any] = {name: class_levels(rt, name) for name in x}
        common: dict[str, Any] = {
            "y": y,
            "x": x,
            "classes": classes,
            "categories": categories,
            "n_splits": params.n_splits,
        }
        local = await rt.execute_udf_locals_outputs(
            naive_bayes_udfs.local_categorical_fold_counts, data=rt.data, seed=params.seed, **common
        )
        models = await rt.execute_udf_global_outputs(
            naive_bayes_udfs.global_categorical_fold_models,
            counts=await rt.create_remote_and_merge_global(local["counts"]),
            x=x,
            classes=classes,
            categories=categories,
            n_splits=params.n_splits,
            alpha=params.alpha,
        )
        confusion = await rt.execute_udf_locals(
            naive_bayes_udfs.local_categorical_fold_confusion,
            data=rt.data,
            folds=local["folds"],
            priors=await rt.create_remote_global_to_locals(models["priors"]),
            log_probs=await rt.create_remote_global_to_locals(models["log_probs"]),
            **common,
        )
        merged = await rt.create_remote_and_merge_global(confusion)
        return await cv_report(rt, merged, classes, params.n_splits)
