"""K-means over the rows of every local node, equal to Lloyd's algorithm on the pooled rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from algorithm_flows._errors import InvalidParametersError
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, GlobalTable, Runtime, VariableRule
from udf_library import kmeans_udfs

__all__ = ["KMeansFlow", "KMeansParams"]


@dataclass(frozen=True, slots=True)
class KMeansParams:
    """Parameters of k-means; names follow the MIP front end."""

    numOfClusters: int = param(doc="number of clusters k", minimum=1, maximum=1000)
    numOfIterations: int = param(100, doc="most Lloyd iterations to run", minimum=1, maximum=10_000)
    initialMin: float | None = param(
        None,
        doc="lower bound of the random initial centroids (0 when only initialMax is given; "
        "none given: centroids spread along the pooled first principal axis)",
    )
    initialMax: float | None = param(
        None,
        doc="upper bound of the random initial centroids (1 when only initialMin is given; "
        "none given: centroids spread along the pooled first principal axis)",
    )
    tolerance: float = param(
        0.0,
        doc="stop once no centroid moves more than this (0: once the centroids stop moving)",
        minimum=0,
    )
    seed: int = param(0, doc="seed of the random initial centroids in [initialMin, initialMax]", minimum=0)

    def __post_init__(self) -> None:
        """An explicit range must be finite and wide enough to draw from."""
        if self.initialMin is None and self.initialMax is None:
            return
        low, high = self.initial_range
        if low >= high:
            raise InvalidParametersError([f"initialMin ({low}) must be below initialMax ({high})"])
        if not math.isfinite(high - low):
            raise InvalidParametersError(
                [f"initialMax - initialMin must be a finite number; got [{low}, {high}]: choose a narrower range"]
            )

    @property
    def initial_range(self) -> tuple[float, float]:
        """The explicit start range, its missing end at the old default."""
        return (
            0.0 if self.initialMin is None else self.initialMin,
            1.0 if self.initialMax is None else self.initialMax,
        )


class KMeansFlow(AlgorithmFlow[KMeansParams]):
    """Per iteration: local per-cluster sums, summed on the global node (securely when the controller
    says so), new centroids, share back."""

    name = "kmeans"
    label = "k-means clustering"
    params_type = KMeansParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1)

    async def run(self, rt: Runtime, params: KMeansParams) -> dict[str, Any]:
        variables = list(rt.inputdata.y)
        centroids = await self._start(rt, params, variables)
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
            stats = await rt.read_global(outputs["stats"])
            is_converged = float(stats["max_shift"][0]) <= params.tolerance
            rt.report_progress("iteration", iteration=iterations, total=params.numOfIterations)
        final = await rt.create_remote_global_to_locals(centroids)
        inertia = await rt.execute_udf_locals(
            kmeans_udfs.local_inertia, data=rt.data, centroids=final, variables=variables
        )
        totals = await rt.read_global(
            await rt.execute_udf_global(
                kmeans_udfs.global_inertia, inertia=await rt.create_remote_and_merge_global(inertia)
            )
        )
        points = await rt.read_global(centroids)
        return {
            "variables": variables,
            "centroids": points.matrix(variables).tolist(),
            "n_obs": int(totals["count"][0]),
            "iterations": iterations,
            "is_converged": is_converged,
            "inertia": float(totals["sse"][0]),
        }

    @staticmethod
    async def _start(rt: Runtime, params: KMeansParams, variables: list[str]) -> GlobalTable:
        """Seeded centroids in the explicit range, else along the pooled first principal axis (one more round)."""
        if params.initialMin is not None or params.initialMax is not None:
            low, high = params.initial_range
            return await rt.execute_udf_global(
                kmeans_udfs.generate_initial_centroids,
                variables=variables,
                num_clusters=params.numOfClusters,
                initial_min=low,
                initial_max=high,
                seed=params.seed,
            )
        moments = await rt.execute_udf_locals(kmeans_udfs.local_moments, data=rt.data, variables=variables)
        return await rt.execute_udf_global(
            kmeans_udfs.global_principal_centroids,
            moments=await rt.create_remote_and_merge_global(moments),
            variables=variables,
            num_clusters=params.numOfClusters,
        )
