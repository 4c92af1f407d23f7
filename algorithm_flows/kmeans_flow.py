"""K-means over the rows of every local node, equal to Lloyd's algorithm on the pooled rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import kmeans_udfs

__all__ = ["KMeansFlow", "KMeansParams"]


@dataclass(frozen=True, slots=True)
class KMeansParams:
    """Parameters of k-means; names follow the MIP front end."""

    numOfClusters: int = param(doc="number of clusters k", minimum=1, maximum=1000)
    numOfIterations: int = param(100, doc="most Lloyd iterations to run", minimum=1, maximum=10_000)
    initialMin: float = param(0.0, doc="lower bound of the random initial centroids")
    initialMax: float = param(1.0, doc="upper bound of the random initial centroids")
    tolerance: float = param(
        0.0,
        doc="stop early once no centroid moves more than this (0: run every iteration)",
        minimum=0,
    )
    seed: int = param(0, doc="seed of the initial centroids", minimum=0)


class KMeansFlow(AlgorithmFlow[KMeansParams]):
    """Per iteration: local per-cluster sums, merge on the global node, new centroids, share back."""

    name = "kmeans"
    label = "k-means clustering"
    params_type = KMeansParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1)

    async def run(self, rt: Runtime, params: KMeansParams) -> dict[str, Any]:
        variables = list(rt.inputdata.y)
        centroids = await rt.execute_udf_global(
            kmeans_udfs.generate_initial_centroids,
            variables=variables,
            num_clusters=params.numOfClusters,
            initial_min=params.initialMin,
            initial_max=params.initialMax,
            seed=params.seed,
        )
        iterations = 0
        is_converged = False
        while iterations < params.numOfIterations and not is_converged:
            local_centroids = await rt.create_remote_global_to_locals(centroids)
            sums = await rt.execute_udf_locals(
                kmeans_udfs.local_calc, data=rt.data, centroids=local_centroids, variables=variables
            )
            merged = await rt.create_remote_and_merge_global(sums)
            outputs = await rt.execute_udf_global_outputs(
                kmeans_udfs.global_calc, sums=merged, centroids=centroids, variables=variables
            )
            centroids = outputs["centroids"]
            iterations += 1
            if params.tolerance > 0:
                stats = await rt.read_global(outputs["stats"])
                is_converged = float(stats["max_shift"][0]) <= params.tolerance
            rt.report_progress("iteration", iteration=iterations, total=params.numOfIterations)
        final = await rt.create_remote_global_to_locals(centroids)
        inertia = await rt.execute_udf_locals(
            kmeans_udfs.local_inertia, data=rt.data, centroids=final, variables=variables
        )
        totals = await rt.read_global(await rt.create_remote_and_merge_global(inertia))
        points = await rt.read_global(centroids)
        return {
            "variables": variables,
            "centroids": points.matrix(variables).tolist(),
            "n_obs": int(totals["count"].sum()),
            "iterations": iterations,
            "is_converged": is_converged,
            "inertia": float(totals["sse"].sum()),
        }
