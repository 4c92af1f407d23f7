"""Paired t-test of x - y over rows that hold both, in one federation round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._helpers import ALTERNATIVES, json_number
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import ttest_udfs

__all__ = ["TTestPairedFlow", "TTestPairedParams"]

_NUMERIC = frozenset({"int", "real"})


@dataclass(frozen=True, slots=True)
class TTestPairedParams:
    """Parameters of the paired t-test; names follow the MIP front end."""

    alt_hypothesis: str = param("two-sided", doc="alternative hypothesis on the mean of x - y", choices=ALTERNATIVES)
    alpha: float = param(
        0.05,
        doc="significance level; accepted for MIP front ends (intervals are 95%, as in MIP)",
        minimum=0.0,
        maximum=1.0,
    )


class TTestPairedFlow(AlgorithmFlow[TTestPairedParams]):
    """Each node shares the moments of x, y and x - y; the global node pools and tests.

    The difference is x - y, as in the MIP reference (``t.test(x, y, paired=TRUE)``).
    """

    name = "ttest_paired"
    label = "Paired t-test"
    params_type = TTestPairedParams
    y = VariableRule(types=_NUMERIC, is_categorical=False, min_count=1, max_count=1)
    x = VariableRule(types=_NUMERIC, is_categorical=False, min_count=1, max_count=1)

    async def run(self, rt: Runtime, params: TTestPairedParams) -> dict[str, Any]:
        [y] = rt.inputdata.y
        [x] = rt.inputdata.x
        local = await rt.execute_udf_locals(ttest_udfs.local_paired_moments, data=rt.data, first=x, second=y)
        merged = await rt.create_remote_and_merge_global(local)
        result = await rt.read_global(
            await rt.execute_udf_global(ttest_udfs.global_paired, moments=merged, alternative=params.alt_hypothesis)
        )
        return {
            "n_obs": int(result["n_obs"][0]),
            "statistic": [json_number(result["t_value"][0])],
            "p_value": [json_number(result["p_value"][0])],
            "df": [json_number(result["df"][0])],
            "mean_diff": [json_number(result["mean"][0])],
            "se_difference": [json_number(result["se"][0])],
            "ci_upper": json_number(result["ci_upper"][0]),
            "ci_lower": json_number(result["ci_lower"][0]),
            "cohens_d": [json_number(result["cohens_d"][0])],
        }
