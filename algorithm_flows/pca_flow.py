"""PCA of the standardized pooled rows of every local node, equal to scikit-learn PCA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import run_pca
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule

__all__ = ["PcaFlow", "PcaParams"]


@dataclass(frozen=True, slots=True)
class PcaParams:
    """PCA takes no parameters."""


class PcaFlow(AlgorithmFlow[PcaParams]):
    """PCA of the y variables, standardized with their pooled means and sigmas."""

    name = "pca"
    label = "Principal component analysis"
    params_type = PcaParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1)

    async def run(self, rt: Runtime, params: PcaParams) -> dict[str, Any]:
        result = await run_pca(rt, {})
        return {key: result[key] for key in ("n_obs", "eigen_vals", "eigen_vecs")}
