"""Row filters from the MIP UI (jQuery QueryBuilder rule trees) compiled to bound SQL.

A filter arrives as JSON from a researcher and runs next to private data, so it is
validated against the data model before any SQL exists: every variable must be a CDE,
every value must have the variable's type (and be one of its enumerations when it is
categorical). Identifiers are validated and double-quoted; values only ever travel as
``?`` parameters. The SQL keeps SQL's NULL semantics: a missing value matches no
comparison, including ``not_equal``, ``not_in`` and ``not_between``.

Numbers arriving through a protobuf ``Struct`` are all doubles, so an integral float
(``65.0``) is accepted for an ``int`` variable and bound as an ``int``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mip_common.errors import InvalidRequestError

__all__ = [
    "DATASET_COLUMN",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_RULES",
    "MAX_LIST_VALUES",
    "OPERATORS",
    "FilterVariable",
    "VariableInfo",
    "compile_filters",
    "compile_selection",
    "filter_problems",
    "identifier_problem",
    "is_identifying",
    "quote_column",
]

DATASET_COLUMN = "dataset"
MAX_FILTER_DEPTH = 20
"""Deepest nesting of groups accepted; deeper trees are more likely attacks than questions."""
MAX_FILTER_RULES = 1_000
MAX_LIST_VALUES = 1_000
"""Most values one ``in``/``not_in`` rule may list."""

_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}")
_COMPARISONS = {
    "equal": "=",
    "not_equal": "<>",
    "less": "<",
    "greater": ">",
    "less_or_equal": "<=",
    "greater_or_equal": ">=",
}
_RANGES = {"between": "BETWEEN", "not_between": "NOT BETWEEN"}
_LISTS = {"in": "IN", "not_in": "NOT IN"}
_NULL_CHECKS = {"is_null": "IS NULL", "is_not_null": "IS NOT NULL"}
OPERATORS: frozenset[str] = frozenset(_COMPARISONS) | set(_RANGES) | set(_LISTS) | set(_NULL_CHECKS)
_CONDITIONS = {"AND", "OR"}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class VariableInfo(Protocol):
    """What filtering needs to know of a variable (``algorithm_flows.Variable`` fits)."""

    @property
    def code(self) -> str: ...

    @property
    def sql_type(self) -> str:
        """``"int"``, ``"real"`` or ``"text"``."""

    @property
    def is_categorical(self) -> bool: ...

    @property
    def enumerations(self) -> tuple[str, ...]:
        """The codes a categorical variable may take."""


@dataclass(frozen=True, slots=True)
class FilterVariable:
    """A plain ``VariableInfo``, for callers that hold CDEs in another shape."""

    code: str
    sql_type: str
    is_categorical: bool = False
    enumerations: tuple[str, ...] = ()


def is_identifying(variable: VariableInfo) -> bool:
    """Whether a variable can single a person out: free text that is not a category (``subjectcode``)."""
    return variable.sql_type == "text" and not variable.is_categorical


def identifier_problem(where: str, code: str) -> str:
    """The refusal of an identifying variable, the same from node and controller."""
    return (
        f"{where}: variable {code!r} is free text that identifies people (not categorical); "
        "it cannot be analysed or filtered on"
    )


def quote_column(name: str) -> str:
    """A column name validated and double-quoted; values never go through here."""
    if not _COLUMN_NAME.fullmatch(name):
        raise InvalidRequestError(f"column name {name!r} must match {_COLUMN_NAME.pattern}")
    return '"' + name.replace('"', '""') + '"'


def filter_problems(filters: Mapping[str, Any] | None, variables: Mapping[str, VariableInfo]) -> list[str]:
    """Every reason ``filters`` cannot run, each naming the rule and what to fix; empty if fine."""
    compiler = _Compiler(variables)
    compiler.compile_root(filters)
    return compiler.problems


def compile_filters(filters: Mapping[str, Any] | None, variables: Mapping[str, VariableInfo]) -> tuple[str, list[Any]]:
    """``filters`` as a SQL boolean expression with ``?`` placeholders, and its parameters.

    No filter (``None``, ``{}`` or a root group without rules) compiles to ``TRUE``.
    Raises ``InvalidRequestError`` listing every problem ``filter_problems`` finds.
    """
    compiler = _Compiler(variables)
    sql = compiler.compile_root(filters)
    if compiler.problems:
        raise InvalidRequestError(_problem_message("filters", compiler.problems))
    return sql, compiler.params


def compile_selection(
    table_name: str,
    variables: Mapping[str, VariableInfo],
    datasets: Sequence[str],
    columns: Sequence[str],
    filters: Mapping[str, Any] | None,
    keep_missing: bool,
) -> tuple[str, list[Any]]:
    """A SELECT of ``dataset`` and ``columns`` from the rows of ``datasets`` that pass ``filters``.

    Without ``keep_missing``, rows with a missing value in any selected column are dropped
    (complete-case analysis, as MIP algorithms expect). There is no ORDER BY: a filtered scan
    of one DuckDB table returns rows in insertion order (``preserve_insertion_order`` is on
    by default), which keeps results deterministic without a row id.
    """
    problems: list[str] = []
    if not _TABLE_NAME.fullmatch(table_name):
        problems.append(f"table name {table_name!r} must match {_TABLE_NAME.pattern}")
    if isinstance(datasets, str) or not datasets:
        problems.append("datasets: choose at least one dataset (a list of dataset codes)")
        datasets = []
    elif bad := [d for d in datasets if not isinstance(d, str) or not d]:
        problems.append(f"datasets: every dataset must be a non-empty string, got {bad[:5]!r}")
    if DATASET_COLUMN not in variables:
        problems.append(f"the data model has no {DATASET_COLUMN!r} variable")
    selected: list[str] = []
    if isinstance(columns, str):
        problems.append("columns: give a list of variable codes, not one string")
        columns = []
    for column in columns:
        if not isinstance(column, str):
            problems.append(f"columns: {column!r} is not a variable code")
        elif column == DATASET_COLUMN:
            continue  # always selected first
        elif column in selected:
            problems.append(f"columns: {column!r} is listed twice")
        elif column not in variables:
            problems.append(f"columns: unknown variable {column!r}; use a CDE code of the data model")
        elif not _COLUMN_NAME.fullmatch(column):
            problems.append(f"columns: {column!r} must match {_COLUMN_NAME.pattern}")
        elif is_identifying(variables[column]):
            problems.append(identifier_problem("columns", column))
        else:
            selected.append(column)
    compiler = _Compiler(variables)
    has_filter = not _is_empty_filter(filters)
    filter_sql = compiler.compile_root(filters)
    problems.extend(compiler.problems)
    if problems:
        raise InvalidRequestError(_problem_message("selection", problems))

    select_list = ", ".join(quote_column(c) for c in [DATASET_COLUMN, *selected])
    placeholders = ", ".join("?" for _ in datasets)
    conditions = [f"{quote_column(DATASET_COLUMN)} IN ({placeholders})"]
    if has_filter:
        conditions.append(f"({filter_sql})")
    if not keep_missing:
        conditions.extend(f"{quote_column(c)} IS NOT NULL" for c in selected)
    sql = f'SELECT {select_list} FROM "{table_name}" WHERE ' + " AND ".join(conditions)
    return sql, [*datasets, *compiler.params]


def _is_empty_filter(filters: Mapping[str, Any] | None) -> bool:
    if filters is None or (isinstance(filters, Mapping) and not filters):
        return True
    return isinstance(filters, Mapping) and filters.get("rules") == []


def _problem_message(what: str, problems: Sequence[str]) -> str:
    return f"invalid {what} ({len(problems)} problem(s)): " + "; ".join(problems)


class _Compiler:
    """Walks a rule tree once, collecting SQL, parameters and every problem found."""

    def __init__(self, variables: Mapping[str, VariableInfo]) -> None:
        self.variables = variables
        self.problems: list[str] = []
        self.params: list[Any] = []
        self.rule_count = 0

    def compile_root(self, filters: Mapping[str, Any] | None) -> str:
        if _is_empty_filter(filters):
            return "TRUE"
        if not isinstance(filters, Mapping):
            self.problems.append(
                f"filters must be a group object {{'condition': 'AND'|'OR', 'rules': [...]}}, "
                f"got {type(filters).__name__}"
            )
            return "TRUE"
        return self._group(filters, "root", 1)

    def _group(self, group: Mapping[str, Any], where: str, depth: int) -> str:
        if depth > MAX_FILTER_DEPTH:
            self.problems.append(f"{where}: groups nest deeper than {MAX_FILTER_DEPTH} levels; flatten the filter")
            return "TRUE"
        condition = group.get("condition")
        if not isinstance(condition, str) or condition.upper() not in _CONDITIONS:
            self.problems.append(f"{where}: 'condition' must be 'AND' or 'OR', got {condition!r}")
            condition = "AND"
        negate = group.get("not", False)
        if not isinstance(negate, bool):
            self.problems.append(f"{where}: 'not' must be true or false, got {negate!r}")
            negate = False
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            self.problems.append(f"{where}: 'rules' must be a non-empty list of rules or groups")
            return "TRUE"
        parts: list[str] = []
        for i, item in enumerate(rules):
            item_where = f"{where}.rules[{i}]"
            if not isinstance(item, Mapping):
                self.problems.append(f"{item_where}: must be a rule or group object")
            elif "rules" in item or "condition" in item:
                parts.append(self._group(item, item_where, depth + 1))
            else:
                parts.append(self._rule(item, item_where))
        sql = "(" + f" {condition.upper()} ".join(parts) + ")"
        return f"(NOT {sql})" if negate else sql

    def _rule(self, rule: Mapping[str, Any], where: str) -> str:
        self.rule_count += 1
        if self.rule_count == MAX_FILTER_RULES + 1:
            self.problems.append(f"{where}: a filter may hold at most {MAX_FILTER_RULES} rules")
        code = rule.get("id") if rule.get("id") is not None else rule.get("field")
        if "id" in rule and "field" in rule and rule["id"] != rule["field"]:
            self.problems.append(f"{where}: 'id' {rule['id']!r} and 'field' {rule['field']!r} differ")
        operator = rule.get("operator")
        problems_before = len(self.problems)
        variable: VariableInfo | None = None
        if not isinstance(code, str) or not code:
            self.problems.append(f"{where}: needs 'id' (a variable code), got {code!r}")
        elif code not in self.variables:
            self.problems.append(f"{where}: unknown variable {code!r}; use a CDE code of the data model")
        elif not _COLUMN_NAME.fullmatch(code):
            self.problems.append(f"{where}: variable code {code!r} must match {_COLUMN_NAME.pattern}")
        else:
            variable = self.variables[code]
            if is_identifying(variable):
                self.problems.append(identifier_problem(where, code))
                variable = None
            elif variable.sql_type not in ("int", "real", "text"):
                self.problems.append(
                    f"{where}: variable {code!r} has sql_type {variable.sql_type!r}; "
                    "only int, real and text can be filtered"
                )
                variable = None
        if not isinstance(operator, str) or operator not in OPERATORS:
            self.problems.append(f"{where}: unknown operator {operator!r}; use one of {sorted(OPERATORS)}")
            return "TRUE"
        if "type" in rule and rule["type"] is not None and not isinstance(rule["type"], str):
            self.problems.append(f"{where}: 'type' must be a string, got {rule['type']!r}")
        if variable is None:
            return "TRUE"
        column = quote_column(variable.code)
        label = f"{where} ({variable.code} {operator})"
        value = rule.get("value")
        if operator in _NULL_CHECKS:
            return f"{column} {_NULL_CHECKS[operator]}"
        if operator in _COMPARISONS:
            if isinstance(value, list | tuple):
                self.problems.append(f"{label}: give a single value, not a list")
                return "TRUE"
            bound = self._value(value, variable, label)
            if len(self.problems) > problems_before:
                return "TRUE"
            self.params.append(bound)
            return f"{column} {_COMPARISONS[operator]} ?"
        if operator in _RANGES:
            if not isinstance(value, list | tuple) or len(value) != 2:
                self.problems.append(f"{label}: 'value' must be a list of two values [low, high]")
                return "TRUE"
            low = self._value(value[0], variable, label)
            high = self._value(value[1], variable, label)
            if len(self.problems) > problems_before:
                return "TRUE"
            if low > high:
                self.problems.append(f"{label}: low {low!r} is above high {high!r}; swap them")
                return "TRUE"
            self.params.extend([low, high])
            return f"{column} {_RANGES[operator]} ? AND ?"
        # in / not_in
        if not isinstance(value, list | tuple) or not value:
            self.problems.append(f"{label}: 'value' must be a non-empty list of values")
            return "TRUE"
        if len(value) > MAX_LIST_VALUES:
            self.problems.append(f"{label}: at most {MAX_LIST_VALUES} values, got {len(value)}")
            return "TRUE"
        bound_values = [self._value(v, variable, label) for v in value]
        if len(self.problems) > problems_before:
            return "TRUE"
        self.params.extend(bound_values)
        return f"{column} {_LISTS[operator]} ({', '.join('?' for _ in bound_values)})"

    def _value(self, value: Any, variable: VariableInfo, label: str) -> Any:
        """``value`` as bound for ``variable``, or a recorded problem (and ``None``)."""
        bound: Any
        if variable.sql_type == "text":
            if not isinstance(value, str):
                self.problems.append(f"{label}: {value!r} is not text; {variable.code} is a text variable")
                return None
            bound = value
        elif isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{label}: {value!r} is not a number; {variable.code} is {variable.sql_type}")
            return None
        elif not math.isfinite(value):
            self.problems.append(f"{label}: {value!r} is not a finite number")
            return None
        elif variable.sql_type == "int":
            if isinstance(value, float) and not value.is_integer():
                self.problems.append(f"{label}: {value!r} is not a whole number; {variable.code} is int")
                return None
            bound = int(value)
            if not _INT64_MIN <= bound <= _INT64_MAX:
                self.problems.append(f"{label}: {value!r} is outside the 64-bit integer range")
                return None
        else:
            bound = float(value)
        if variable.is_categorical and str(bound) not in variable.enumerations:
            shown = list(variable.enumerations[:20])
            more = "" if len(variable.enumerations) <= 20 else f" (+{len(variable.enumerations) - 20} more)"
            self.problems.append(f"{label}: {value!r} is not a category of {variable.code}; use one of {shown}{more}")
            return None
        return bound
