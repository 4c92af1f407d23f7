"""Descriptive statistics of every variable, per dataset and over all datasets (one round).

``variable_based`` uses every non-missing value of each variable on its own;
``model_based`` uses only the rows complete in every variable. So the flow sees the
rows unfiltered (``drop_missing = False``) and the UDFs drop what each part needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import json_number
from algorithm_flows.runtime import DATASET_COLUMN, AlgorithmFlow, Runtime, VariableRule
from udf_library import ArrayBundle, descriptive_stats_udfs

__all__ = ["DescriptiveStatsFlow", "DescriptiveStatsParams"]

_NUMERIC_FIELDS = ("mean", "std", "min", "q1", "q2", "q3", "max")


@dataclass(frozen=True, slots=True)
class DescriptiveStatsParams:
    """Descriptive statistics take no parameters."""


class DescriptiveStatsFlow(AlgorithmFlow[DescriptiveStatsParams]):
    """Each node shares one row of exact statistics per dataset it holds; the global node
    pools them into the "all datasets" records."""

    name = "descriptive_stats"
    label = "Descriptive statistics"
    params_type = DescriptiveStatsParams
    y = VariableRule(min_count=1)
    x = VariableRule(min_count=0, max_count=None)
    drop_missing = False

    async def run(self, rt: Runtime, params: DescriptiveStatsParams) -> dict[str, Any]:
        variables = [v for v in dict.fromkeys([*rt.inputdata.y, *rt.inputdata.x]) if v != DATASET_COLUMN]
        numeric = [v for v in variables if not rt.variables[v].is_categorical]
        nominal = [v for v in variables if rt.variables[v].is_categorical]
        levels: dict[str, Any] = {v: list(rt.variables[v].enumerations) for v in nominal}
        parts = await rt.execute_udf_locals_outputs(
            descriptive_stats_udfs.local_dataset_stats,
            data=rt.data,
            numeric=numeric,
            nominal=nominal,
            levels=levels,
        )
        result: dict[str, Any] = {}
        for part in ("variable_based", "model_based"):
            merged = await rt.create_remote_and_merge_global(parts[part])
            pooled = await rt.execute_udf_global(
                descriptive_stats_udfs.global_all_datasets,
                stats=merged,
                numeric=numeric,
                nominal=nominal,
                levels=levels,
            )
            per_dataset = await rt.read_global(merged)
            overall = await rt.read_global(pooled)
            result[part] = _records([per_dataset, overall], list(rt.inputdata.datasets), variables, numeric, levels)
        return result


def _records(
    tables: list[ArrayBundle],
    datasets: list[str],
    variables: list[str],
    numeric: list[str],
    levels: dict[str, Any],
) -> list[dict[str, Any]]:
    """One record per dataset and variable, in request order, then the "all datasets" ones."""
    rows: dict[str, tuple[ArrayBundle, int]] = {}
    for table in tables:
        for i, name in enumerate(table["dataset"]):
            rows[str(name)] = (table, i)
    order = [*datasets, descriptive_stats_udfs.ALL_DATASETS]
    records = []
    for dataset in order:
        for variable in variables:
            data = None
            if dataset in rows:
                table, i = rows[dataset]
                if variable in numeric:
                    data = _numeric(table, f"n{numeric.index(variable)}", i)
                else:
                    key = f"c{list(levels).index(variable)}"
                    data = _nominal(table, key, i, levels[variable])
            records.append({"variable": variable, "dataset": dataset, "data": data})
    return records


def _numeric(table: ArrayBundle, key: str, i: int) -> dict[str, Any] | None:
    if not bool(table[f"{key}_is_reported"][i]):
        return None
    data: dict[str, Any] = {name: int(table[f"{key}_{name}"][i]) for name in ("num_dtps", "num_na", "num_total")}
    return data | {name: json_number(table[f"{key}_{name}"][i]) for name in _NUMERIC_FIELDS}


def _nominal(table: ArrayBundle, key: str, i: int, levels: list[Any]) -> dict[str, Any] | None:
    if not bool(table[f"{key}_is_reported"][i]):
        return None
    data: dict[str, Any] = {name: int(table[f"{key}_{name}"][i]) for name in ("num_dtps", "num_na", "num_total")}
    counts = {str(level): float(table[f"{key}_count_{j}"][i]) for j, level in enumerate(levels)}
    return data | {"counts": {level: None if n != n else int(n) for level, n in counts.items() if not n <= 0}}
