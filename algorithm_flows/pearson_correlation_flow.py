"""Pearson correlation matrix of the pooled rows of every local node, as scipy.stats.pearsonr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import ArrayBundle, pearson_correlation_udfs

__all__ = ["PearsonCorrelationFlow", "PearsonCorrelationParams"]

_NUMERIC = frozenset({"int", "real"})


@dataclass(frozen=True, slots=True)
class PearsonCorrelationParams:
    """Parameters of the Pearson correlation; names follow the MIP front end."""

    alpha: float = param(0.95, doc="confidence intervals cover 1 - alpha", minimum=0.0, maximum=1.0)


class PearsonCorrelationFlow(AlgorithmFlow[PearsonCorrelationParams]):
    """One round of moments, merged and turned into correlations on the global node.

    Each matrix field is ``{"variables": [y...], "<x>": [value per y], ...}``; without x
    the columns are the y variables themselves.
    """

    name = "pearson_correlation"
    label = "Pearson correlation"
    params_type = PearsonCorrelationParams
    y = VariableRule(types=_NUMERIC, is_categorical=False, min_count=1)
    x = VariableRule(types=_NUMERIC, is_categorical=False)

    async def run(self, rt: Runtime, params: PearsonCorrelationParams) -> dict[str, Any]:
        y = list(rt.inputdata.y)
        x = list(rt.inputdata.x)
        moments = await rt.execute_udf_locals(pearson_correlation_udfs.local_moments, data=rt.data, variables=y + x)
        merged = await rt.create_remote_and_merge_global(moments)
        tables = await rt.execute_udf_global_outputs(
            pearson_correlation_udfs.global_correlations,
            moments=merged,
            y=y,
            x=x,
            alpha=params.alpha,
        )
        n_obs = await rt.read_global(tables["n_obs"])
        return {
            "n_obs": int(n_obs["n_obs"][0]),
            "correlations": _matrix(await rt.read_global(tables["correlations"])),
            "p-values": _matrix(await rt.read_global(tables["pvalues"])),
            "low_confidence_intervals": _matrix(await rt.read_global(tables["ci_low"])),
            "high_confidence_intervals": _matrix(await rt.read_global(tables["ci_high"])),
        }


def _matrix(table: ArrayBundle) -> dict[str, list[Any]]:
    return {name: [v if isinstance(v, str) else float(v) for v in table[name]] for name in table}
