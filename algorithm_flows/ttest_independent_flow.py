"""Two-sample t-test (Student or Welch) of y between two levels of x, in one round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._errors import InvalidParametersError
from algorithm_flows._helpers import ALTERNATIVES, json_number
from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import ttest_udfs

__all__ = ["TTestIndependentFlow", "TTestIndependentParams"]


@dataclass(frozen=True, slots=True)
class TTestIndependentParams:
    """Parameters of the independent t-test; names follow the MIP front end."""

    groupA: str = param(doc="level of x forming group A")
    groupB: str = param(doc="level of x forming group B")
    alt_hypothesis: str = param("two-sided", doc="alternative hypothesis on mean(A) - mean(B)", choices=ALTERNATIVES)
    alpha: float = param(
        0.05,
        doc="significance level; accepted for MIP front ends (intervals are 95%, as in MIP)",
        minimum=0.0,
        maximum=1.0,
    )
    equal_var: bool = param(True, doc="true: Student's test with pooled variance; false: Welch's test")


class TTestIndependentFlow(AlgorithmFlow[TTestIndependentParams]):
    """Each node shares per-group moments of y; the global node pools them and tests."""

    name = "ttest_independent"
    label = "Independent two-sample t-test"
    params_type = TTestIndependentParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, max_count=1)
    x = VariableRule(is_categorical=True, min_count=1, max_count=1)

    async def run(self, rt: Runtime, params: TTestIndependentParams) -> dict[str, Any]:
        [y] = rt.inputdata.y
        [x] = rt.inputdata.x
        if params.groupA == params.groupB:
            raise InvalidParametersError([f"groupA and groupB must differ, both are {params.groupA!r}"])
        local = await rt.execute_udf_locals(
            ttest_udfs.local_group_moments,
            data=rt.data,
            column=y,
            group_column=x,
            group_a=params.groupA,
            group_b=params.groupB,
        )
        merged = await rt.create_remote_and_merge_global(local)
        result = await rt.read_global(
            await rt.execute_udf_global(
                ttest_udfs.global_independent,
                moments=merged,
                alternative=params.alt_hypothesis,
                equal_var=params.equal_var,
            )
        )
        return {
            "n_obs": int(result["n_obs"][0]),
            "t_stat": json_number(result["t_value"][0]),
            "df": json_number(result["df"][0]),
            "p": json_number(result["p_value"][0]),
            "mean_diff": json_number(result["mean"][0]),
            "se_diff": json_number(result["se"][0]),
            "ci_upper": json_number(result["ci_upper"][0]),
            "ci_lower": json_number(result["ci_lower"][0]),
            "cohens_d": json_number(result["cohens_d"][0]),
        }
