"""Two-way ANOVA with interaction (type I or II sums of squares), in one federation round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_flows._params import param
from algorithm_flows.runtime import AlgorithmFlow, Runtime, VariableRule
from udf_library import anova_udfs

__all__ = ["AnovaFlow", "AnovaParams"]


@dataclass(frozen=True, slots=True)
class AnovaParams:
    """Parameters of the two-way ANOVA; names follow the MIP front end."""

    sstype: int = param(2, doc="type of sums of squares: 1 (sequential) or 2", choices=(1, 2))


class AnovaFlow(AlgorithmFlow[AnovaParams]):
    """Each node shares per-cell moments of y; the global node fits the nested models."""

    name = "anova"
    label = "Two-way ANOVA"
    params_type = AnovaParams
    y = VariableRule(types=frozenset({"int", "real"}), is_categorical=False, min_count=1, max_count=1)
    x = VariableRule(is_categorical=True, min_count=2, max_count=2)

    async def run(self, rt: Runtime, params: AnovaParams) -> dict[str, Any]:
        [y] = rt.inputdata.y
        factor_a, factor_b = rt.inputdata.x
        levels_a = list(rt.variables[factor_a].enumerations)
        levels_b = list(rt.variables[factor_b].enumerations)
        local = await rt.execute_udf_locals(
            anova_udfs.local_cell_moments,
            data=rt.data,
            column=y,
            factor_a=factor_a,
            factor_b=factor_b,
            levels_a=levels_a,
            levels_b=levels_b,
        )
        merged = await rt.create_remote_and_merge_global(local)
        table = await rt.read_global(
            await rt.execute_udf_global(
                anova_udfs.global_twoway,
                moments=merged,
                factor_a=factor_a,
                factor_b=factor_b,
                levels_a=levels_a,
                levels_b=levels_b,
                sstype=params.sstype,
            )
        )
        terms = [str(t) for t in table["term"]]
        dfs = {t: int(v) for t, v in zip(terms, table["df"], strict=True)}
        untested = {t for t in terms if t != anova_udfs.RESIDUALS and dfs[t] == 0}
        return {
            "sum_sq": _by_term(terms, table["sum_sq"], set()),
            "df": dfs,
            "f_stat": _by_term(terms, table["f_stat"], untested),
            "f_pvalue": _by_term(terms, table["f_pvalue"], untested),
        }


def _by_term(terms: list[str], values: Any, untested: set[str]) -> dict[str, float | None]:
    """Values by term. A term with no degrees of freedom (collinear or nested factors) has
    no test: ``None``. Residuals' F and p read 0.0, as in the MIP reference."""
    return {t: None if t in untested else (float(v) if v == v else 0.0) for t, v in zip(terms, values, strict=True)}
