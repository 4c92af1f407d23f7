"""Histograms of one variable, overall and per level of each grouping categorical."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, GlobalTable, Runtime, VariableRule
from udf_library import ArrayBundle, histograms_udfs

__all__ = ["MultipleHistogramsFlow", "MultipleHistogramsParams"]


@dataclass(frozen=True, slots=True)
class MultipleHistogramsParams:
    """Parameters of the histograms; names follow the MIP front end."""

    bins: int = param(20, doc="number of equal-width bins of a numeric variable", minimum=1, maximum=1000)


class MultipleHistogramsFlow(AlgorithmFlow[MultipleHistogramsParams]):
    """Numeric y: pooled range, then bin counts (2 rounds). Categorical y: level counts (1).

    Counts merge by secure sum (masked under secure aggregation); the range is a minimum and
    a maximum, which do not add up, so it merges in the clear as coded extremes. A bin that
    some node suppressed (under its cell minimum) is reported as ``null``.
    """

    name = "multiple_histograms"
    label = "Histograms"
    params_type = MultipleHistogramsParams
    y = VariableRule(min_count=1, max_count=1)
    x = VariableRule(is_categorical=True, min_count=0, max_count=None)

    async def run(self, rt: Runtime, params: MultipleHistogramsParams) -> dict[str, Any]:
        [column] = rt.inputdata.y
        groups = [x for x in rt.inputdata.x if x != column]
        group_levels: dict[str, Any] = {x: list(rt.variables[x].enumerations) for x in groups}
        variable = rt.variables[column]
        bins: list[Any]
        if variable.is_categorical:
            levels = list(variable.enumerations)
            counts = await rt.execute_udf_locals(
                histograms_udfs.local_categorical_counts,
                data=rt.data,
                column=column,
                levels=levels,
                groups=groups,
                group_levels=group_levels,
            )
            outputs = await self._pool(rt, counts, len(levels), groups, group_levels)
            bins = levels
        else:
            ranges = await rt.execute_udf_locals(histograms_udfs.local_range, data=rt.data, column=column)
            pooled_range = await rt.read_global(
                await rt.execute_udf_global(
                    histograms_udfs.global_range,
                    ranges=await rt.create_remote_and_merge_global(ranges),
                )
            )
            low, high = float(pooled_range["min"][0]), float(pooled_range["max"][0])
            counts = await rt.execute_udf_locals(
                histograms_udfs.local_numeric_counts,
                data=rt.data,
                column=column,
                bins=params.bins,
                low=low,
                high=high,
                groups=groups,
                group_levels=group_levels,
            )
            outputs = await self._pool(rt, counts, params.bins, groups, group_levels, low=low, high=high)
            edges = await rt.read_global(outputs["edges"])
            bins = [float(e) for e in edges["edge"]]
        table = await rt.read_global(outputs["histograms"])
        num_bins = len(bins) - (0 if variable.is_categorical else 1)
        return {"histogram": [_histogram(table, i, column, bins, num_bins) for i in range(table.num_rows)]}

    @staticmethod
    async def _pool(
        rt: Runtime, counts: Any, num_bins: int, groups: list[str], group_levels: dict[str, Any], **bounds: float
    ) -> dict[str, GlobalTable]:
        merged = await rt.create_remote_and_merge_global(counts)
        return await rt.execute_udf_global_outputs(
            histograms_udfs.global_histograms,
            counts=merged,
            num_bins=num_bins,
            groups=groups,
            group_levels=group_levels,
            **bounds,
        )


def _histogram(table: ArrayBundle, row: int, column: str, bins: list[Any], num_bins: int) -> dict[str, Any]:
    counts = [table[f"c_{k}"][row] for k in range(num_bins)]
    group = table["grouping_var"][row]
    level = table["grouping_enum"][row]
    return {
        "var": column,
        "grouping_var": None if group is None else str(group),
        "grouping_enum": None if level is None else str(level),
        "bins": bins,
        "counts": [None if c != c else int(c) for c in counts],
    }
