"""Gaussian naive Bayes fit, equal to scikit-learn's ``GaussianNB`` on the pooled rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import CLASS_RULE, class_levels
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import naive_bayes_udfs

__all__ = ["GaussianNBFitFlow", "GaussianNBParams"]


@dataclass(frozen=True, slots=True)
class GaussianNBParams:
    """Parameters of Gaussian naive Bayes; names follow scikit-learn."""

    var_smoothing: float = param(1e-9, doc="share of the largest feature variance added to every variance", minimum=0)


class GaussianNBFitFlow(AlgorithmFlow[GaussianNBParams]):
    """One round: local per-class moments, merged into the pooled model on the global node."""

    name = "naive_bayes_gaussian_fit"
    label = "Gaussian naive Bayes"
    params_type = GaussianNBParams
    y = CLASS_RULE
    x = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, doc="the features")

    async def run(self, rt: Runtime, params: GaussianNBParams) -> dict[str, Any]:
        y = rt.inputdata.y[0]
        x = list(rt.inputdata.x)
        classes = class_levels(rt, y)
        stats = await rt.execute_udf_locals(
            naive_bayes_udfs.local_gaussian_stats, data=rt.data, y=y, x=x, classes=classes
        )
        model = await rt.read_global(
            await rt.execute_udf_global(
                naive_bayes_udfs.global_gaussian_model,
                stats=await rt.create_remote_and_merge_global(stats),
                x=x,
                classes=classes,
                var_smoothing=params.var_smoothing,
            )
        )
        return {
            "classes": [str(c) for c in model["class"]],
            "features": x,
            "theta": model.matrix([f"theta_{j}" for j in range(len(x))]).tolist(),
            "var": model.matrix([f"var_{j}" for j in range(len(x))]).tolist(),
            "class_count": [float(c) for c in model["count"]],
            "class_prior": [float(p) for p in model["prior"]],
            "n_obs": int(model["count"].sum()),
        }
