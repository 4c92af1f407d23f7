"""Checks a step's variables against its flow's rules before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithm_flows._errors import InvalidInputDataError
from algorithm_flows.runtime import AlgorithmFlow, InputData, Variable, VariableRule

__all__ = ["validate_variables"]


def validate_variables(flow: type[AlgorithmFlow[Any]], inputdata: InputData, variables: Mapping[str, Variable]) -> None:
    """Raise ``InvalidInputDataError`` naming every way ``inputdata`` breaks the flow's rules."""
    problems = _check("y", flow.y, inputdata.y, variables) + _check("x", flow.x, inputdata.x, variables)
    overlap = set(inputdata.x) & set(inputdata.y)
    if overlap:
        problems.append(f"variables {sorted(overlap)} appear in both x and y")
    if problems:
        raise InvalidInputDataError([f"{flow.name}: {p}" for p in problems])


def _check(role: str, rule: VariableRule, codes: tuple[str, ...], variables: Mapping[str, Variable]) -> list[str]:
    problems = []
    if len(codes) < rule.min_count:
        problems.append(f"{role} needs at least {rule.min_count} variable(s), got {len(codes)}")
    if rule.max_count is not None and len(codes) > rule.max_count:
        problems.append(
            f"{role} takes at most {rule.max_count} variable(s), got {len(codes)}"
            if rule.max_count
            else f"{role} takes no variables, got {list(codes)}"
        )
    for code in codes:
        variable = variables.get(code)
        if variable is None:
            continue  # unknown variables are reported by the catalogue check
        if variable.sql_type == "text" and not variable.is_categorical:
            problems.append(
                f"{role} variable {code!r} is free text that identifies people (not categorical); "
                "it cannot be analysed or filtered on"
            )
            continue
        if variable.sql_type not in rule.types:
            problems.append(f"{role} variable {code!r} is {variable.sql_type}; allowed: {sorted(rule.types)}")
        if rule.is_categorical is not None and variable.is_categorical != rule.is_categorical:
            kind = "categorical" if rule.is_categorical else "numerical"
            problems.append(f"{role} variable {code!r} must be {kind}")
    return problems
