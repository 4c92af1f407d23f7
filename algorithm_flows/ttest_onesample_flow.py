"""One-sample t-test of a numeric variable's mean against ``mu``, in one federation round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import ALTERNATIVES, json_number
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import ttest_udfs

__all__ = ["TTestOnesampleFlow", "TTestOnesampleParams"]


@dataclass(frozen=True, slots=True)
class TTestOnesampleParams:
    """Parameters of the one-sample t-test; names follow the MIP front end."""

    alt_hypothesis: str = param(
        "two-sided",
        doc="alternative hypothesis: mean differs from, is below or is above mu",
        choices=ALTERNATIVES,
    )
    alpha: float = param(
        0.05,
        doc="significance level; accepted for MIP front ends (intervals are 95%, as in MIP)",
        minimum=0.0,
        maximum=1.0,
    )
    mu: float = param(0.0, doc="the hypothesised population mean")


class TTestOnesampleFlow(AlgorithmFlow[TTestOnesampleParams]):
    """Each node shares (n, mean, M2) of y; the global node pools them and tests."""

    name = "ttest_onesample"
    label = "One-sample t-test"
    params_type = TTestOnesampleParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, max_count=1)

    async def run(self, rt: Runtime, params: TTestOnesampleParams) -> dict[str, Any]:
        [column] = rt.inputdata.y
        local = await rt.execute_udf_locals(ttest_udfs.local_moments, data=rt.data, column=column)
        merged = await rt.create_remote_and_merge_global(local)
        result = await rt.read_global(
            await rt.execute_udf_global(
                ttest_udfs.global_onesample,
                moments=merged,
                mu=params.mu,
                alternative=params.alt_hypothesis,
            )
        )
        return {
            "n_obs": int(result["n_obs"][0]),
            "t_value": json_number(result["t_value"][0]),
            "p_value": json_number(result["p_value"][0]),
            "df": json_number(result["df"][0]),
            "mean_diff": json_number(result["mean"][0]),
            "se_diff": [json_number(result["se"][0])],
            "ci_upper": json_number(result["ci_upper"][0]),
            "ci_lower": json_number(result["ci_lower"][0]),
            "cohens_d": json_number(result["cohens_d"][0]),
        }
