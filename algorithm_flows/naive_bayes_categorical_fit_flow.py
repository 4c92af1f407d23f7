"""Categorical naive Bayes fit, equal to scikit-learn's ``CategoricalNB`` on the pooled rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import CLASS_RULE, FEATURE_RULE, class_levels
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime
from udf_library import naive_bayes_udfs

__all__ = ["CategoricalNBFitFlow", "CategoricalNBParams"]


@dataclass(frozen=True, slots=True)
class CategoricalNBParams:
    """Parameters of categorical naive Bayes; names follow scikit-learn."""

    alpha: float = param(1.0, doc="additive (Laplace/Lidstone) smoothing", minimum=1e-10)


class CategoricalNBFitFlow(AlgorithmFlow[CategoricalNBParams]):
    """One round: local class and class-by-category counts, summed on the global node.

    Categories are each feature's enumerations in sorted order; like scikit-learn, a
    feature keeps the categories up to its highest observed one.
    """

    name = "naive_bayes_categorical_fit"
    label = "Categorical naive Bayes"
    params_type = CategoricalNBParams
    y = CLASS_RULE
    x = FEATURE_RULE

    async def run(self, rt: Runtime, params: CategoricalNBParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        x = list(rt.inputdata.x)
        classes = class_levels(rt, y)
        categories: dict[str, Any] = {name: class_levels(rt, name) for name in x}
        counts = await rt.execute_udf_locals(
            naive_bayes_udfs.local_categorical_counts,
            data=rt.data,
            y=y,
            x=x,
            classes=classes,
            categories=categories,
        )
        outputs = await rt.execute_udf_global_outputs(
            naive_bayes_udfs.global_categorical_model,
            counts=await rt.create_remote_and_merge_global(counts),
            x=x,
            classes=classes,
            categories=categories,
            alpha=params.alpha,
        )
        class_table = await rt.read_global(outputs["classes"])
        table = await rt.read_global(outputs["categories"])
        n_classes = class_table.num_rows
        category_count: list[list[list[int]]] = []
        feature_log_prob: list[list[list[float]]] = []
        kept_categories: list[list[str]] = []
        for j, name in enumerate(x):
            part = table.take(table["feature"] == j)
            n_categories = part.num_rows // n_classes
            counts_j = part["count"].reshape(n_classes, n_categories)
            log_prob_j = part["log_prob"].reshape(n_classes, n_categories)
            category_count.append(counts_j.astype(int).tolist())
            feature_log_prob.append(log_prob_j.tolist())
            kept_categories.append(categories[name][:n_categories])
        return {
            "classes": [str(c) for c in class_table["class"]],
            "features": x,
            "categories": kept_categories,
            "class_count": [int(c) for c in class_table["count"]],
            "category_count": category_count,
            "class_log_prior": [float(v) for v in class_table["log_prior"]],
            "feature_log_prob": feature_log_prob,
            "n_obs": int(class_table["count"].sum()),
        }
