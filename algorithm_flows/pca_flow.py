"""PCA of the standardized pooled rows of every local node, equal to scikit-learn PCA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import pca_udfs

__all__ = ["PcaFlow", "PcaParams", "run_pca"]


@dataclass(frozen=True, slots=True)
class PcaParams:
    """PCA takes no parameters."""


async def run_pca(rt: Runtime, transformations: dict[str, list[str]]) -> dict[str, Any]:
    """One round of moments, the eigen-decomposition on the global node, then private outputs.

    Exposes ``transformed`` (the rows after ``transformations``) and ``scores`` (each
    row's component scores) on every local node for later steps; neither leaves a node.
    """
    variables = list(rt.inputdata.y)
    moments = await rt.execute_udf_locals(
        pca_udfs.local_moments, data=rt.data, variables=variables, transformations=transformations
    )
    merged = await rt.create_remote_and_merge_global(moments)
    outputs = await rt.execute_udf_global_outputs(
        pca_udfs.global_pca, moments=merged, variables=variables, transformations=transformations
    )
    local_stats = await rt.create_remote_global_to_locals(outputs["stats"])
    local_eigen = await rt.create_remote_global_to_locals(outputs["eigen"])
    private = await rt.execute_udf_locals_outputs(
        pca_udfs.local_transform_and_scores,
        data=rt.data,
        stats=local_stats,
        eigen=local_eigen,
        variables=variables,
        transformations=transformations,
    )
    rt.expose("transformed", private["transformed"])
    rt.expose("scores", private["scores"])
    eigen = await rt.read_global(outputs["eigen"])
    stats = await rt.read_global(outputs["stats"])
    return {
        "n_obs": int(stats["n_obs"][0]),
        "eigen_vals": eigen["eigen_val"].tolist(),
        "eigen_vecs": eigen.matrix(variables).tolist(),
        "means": stats["mean"].tolist(),
        "sigmas": stats["sigma"].tolist(),
    }


class PcaFlow(AlgorithmFlow[PcaParams]):
    """PCA of the y variables, standardized with their pooled means and sigmas."""

    name = "pca"
    label = "Principal component analysis"
    params_type = PcaParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1)

    async def run(self, rt: Runtime, params: PcaParams) -> dict[str, Any]:
        result = await run_pca(rt, {})
        return {key: result[key] for key in ("n_obs", "eigen_vals", "eigen_vecs")}
