"""One-way ANOVA of a numeric y over the levels of a categorical x, with Tukey's HSD."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import json_number
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import anova_udfs

__all__ = ["AnovaOnewayFlow", "AnovaOnewayParams"]


@dataclass(frozen=True, slots=True)
class AnovaOnewayParams:
    """One-way ANOVA takes no parameters."""


class AnovaOnewayFlow(AlgorithmFlow[AnovaOnewayParams]):
    """One round: per-level moments from each node, pooled into the table and Tukey's HSD."""

    name = "anova_oneway"
    label = "One-way ANOVA"
    params_type = AnovaOnewayParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, max_count=1)
    x = VariableRule(is_categorical=True, min_count=1, max_count=1)

    async def run(self, rt: Runtime, params: AnovaOnewayParams) -> dict[str, Any]:
        [y] = rt.inputdata.y
        [x] = rt.inputdata.x
        levels = list(rt.variables[x].enumerations)
        local = await rt.execute_udf_locals(
            anova_udfs.local_group_moments, data=rt.data, column=y, group_column=x, levels=levels
        )
        merged = await rt.create_remote_and_merge_global(local)
        outputs = await rt.execute_udf_global_outputs(anova_udfs.global_oneway, moments=merged, levels=levels)
        table = await rt.read_global(outputs["anova"])
        tukey = await rt.read_global(outputs["tukey"])
        result: dict[str, Any] = {"n_obs": int(table["n_obs"][0])}
        for name in (
            "df_residual",
            "df_explained",
            "ss_residual",
            "ss_explained",
            "ms_residual",
            "ms_explained",
            "p_value",
            "f_stat",
        ):
            result[name] = json_number(table[name][0])
        result["tuckey_test"] = [
            {
                "groupA": str(tukey["group_a"][i]),
                "groupB": str(tukey["group_b"][i]),
                "meanA": json_number(tukey["mean_a"][i]),
                "meanB": json_number(tukey["mean_b"][i]),
                "diff": json_number(tukey["diff"][i]),
                "se": json_number(tukey["se"][i]),
                "t_stat": json_number(tukey["t_stat"][i]),
                "p_tuckey": json_number(tukey["p_tukey"][i]),
            }
            for i in range(tukey.num_rows)
        ]
        return result
