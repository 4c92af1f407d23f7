"""A MIP data model (``CDEsMetadata.json``) parsed and checked before anything is stored.

The CDE file decides column types, allowed categories and ranges for every row a node
loads, so a mistake in it is reported whole (every problem, with where it is) instead of
surfacing later as a confusing CSV error or a wrong analysis.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mip_common.errors import DataLoadError
from mip_common.filters import DATASET_COLUMN, FilterVariable

__all__ = [
    "CDES_FILE",
    "CdeVariable",
    "DataModelSpec",
    "parse_cdes",
    "parse_cdes_text",
    "primary_table_name",
]

CDES_FILE = "CDEsMetadata.json"
SQL_TYPES = ("int", "real", "text")
MAX_REPORTED_PROBLEMS = 20
_MAX_GROUP_DEPTH = 50
_VARIABLE_CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}")
_TABLE_NAME_LENGTH = 63


@dataclass(frozen=True, slots=True)
class CdeVariable:
    """One common data element: a column of the data model's primary table."""

    code: str
    label: str
    sql_type: str
    is_categorical: bool
    enumerations: tuple[tuple[str, str], ...] = ()
    """(code, label) pairs in display order."""
    min_value: float | None = None
    max_value: float | None = None
    description: str = ""
    units: str = ""

    @property
    def enumeration_codes(self) -> tuple[str, ...]:
        """The codes a categorical value may take, in display order."""
        return tuple(code for code, _ in self.enumerations)


@dataclass(frozen=True, slots=True)
class DataModelSpec:
    """A data model as a node stores it: its variables (groups flattened) and its table."""

    code: str
    version: str
    label: str
    variables: dict[str, CdeVariable]
    """Variables by code, in the order of the CDE file (depth first through groups)."""
    cdes_json: str = field(repr=False)
    """The CDE file's original text, stored so the catalogue can be read back exactly."""
    table_name: str = ""
    """The primary-data table; derived from code and version when not given."""

    def __post_init__(self) -> None:
        if not self.table_name:
            object.__setattr__(self, "table_name", primary_table_name(self.code, self.version))

    @property
    def key(self) -> str:
        """How requests address the model: ``code:version``."""
        return f"{self.code}:{self.version}"

    def column_types(self) -> dict[str, str]:
        """Column -> CDE sql_type, in CDE order, for ``Database.save_data_model``."""
        return {code: v.sql_type for code, v in self.variables.items()}

    def filter_variables(self) -> dict[str, FilterVariable]:
        """The variables as ``mip_common.filters`` sees them (enumerations as codes)."""
        return {
            code: FilterVariable(code, v.sql_type, v.is_categorical, v.enumeration_codes)
            for code, v in self.variables.items()
        }


def primary_table_name(code: str, version: str) -> str:
    """``primary_<code>_<version>`` squeezed into a valid table name (``[a-z][a-z0-9_]{0,62}``)."""
    raw = f"primary_{code}_{version}".lower()
    return re.sub(r"[^a-z0-9]+", "_", raw).rstrip("_")[:_TABLE_NAME_LENGTH]


def parse_cdes(path: Path) -> DataModelSpec:
    """The data model in ``path``; ``DataLoadError`` naming the file and every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataLoadError(f"{path}: no such file; a data-model folder needs {CDES_FILE}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataLoadError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    return parse_cdes_text(text, str(path))


def parse_cdes_text(text: str, source: str) -> DataModelSpec:
    """The data model in ``text`` (from ``source``, named in errors)."""
    try:
        root = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataLoadError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    problems: list[str] = []
    if not isinstance(root, dict):
        raise DataLoadError(f"{source}: the root must be an object with code, version, variables")
    code = root.get("code")
    version = root.get("version")
    if not isinstance(code, str) or not code.strip():
        problems.append("the data model needs a non-empty string 'code'")
    if not isinstance(version, str) or not version.strip():
        problems.append(f"the data model needs a non-empty string 'version' (e.g. \"0.1\"), got {version!r}")
    if isinstance(code, str) and ":" in code:
        problems.append(f"the data-model code {code!r} must not contain ':'")
    label = root.get("label", code)

    variables: dict[str, CdeVariable] = {}
    seen_folded: dict[str, str] = {}
    for where, raw in _iter_variables(root, "root", 0, problems):
        variable = _parse_variable(raw, where, problems)
        if variable is None:
            continue
        folded = variable.code.lower()  # SQL column names ignore case
        if variable.code in variables:
            problems.append(f"{where}: duplicate variable code {variable.code!r}")
        elif folded in seen_folded:
            problems.append(
                f"{where}: variable code {variable.code!r} differs only in case from "
                f"{seen_folded[folded]!r}; column names must differ ignoring case"
            )
        else:
            variables[variable.code] = variable
            seen_folded[folded] = variable.code

    dataset = variables.get(DATASET_COLUMN)
    if dataset is None:
        problems.append(
            f"no {DATASET_COLUMN!r} variable; add a categorical text variable "
            f"{DATASET_COLUMN!r} whose enumerations are the dataset codes"
        )
    elif dataset.sql_type != "text" or not dataset.is_categorical:
        problems.append(
            f"variable {DATASET_COLUMN!r} must be text and categorical, "
            f"got sql_type {dataset.sql_type!r}, isCategorical {dataset.is_categorical}"
        )

    if problems:
        raise DataLoadError(_problem_report(source, problems))
    assert isinstance(code, str)
    assert isinstance(version, str)
    return DataModelSpec(
        code=code,
        version=version,
        label=label if isinstance(label, str) else code,
        variables=variables,
        cdes_json=text,
    )


def _iter_variables(node: Mapping[str, Any], where: str, depth: int, problems: list[str]) -> Iterator[tuple[str, Any]]:
    """Every raw variable of a group tree, depth first, with where it sits."""
    if depth > _MAX_GROUP_DEPTH:
        problems.append(f"{where}: groups nest deeper than {_MAX_GROUP_DEPTH} levels")
        return
    raw_variables = node.get("variables", [])
    raw_groups = node.get("groups", [])
    if not isinstance(raw_variables, list):
        problems.append(f"{where}: 'variables' must be a list")
        raw_variables = []
    if not isinstance(raw_groups, list):
        problems.append(f"{where}: 'groups' must be a list")
        raw_groups = []
    for i, raw in enumerate(raw_variables):
        name = raw.get("code") if isinstance(raw, dict) else None
        yield (f"{where}.variables[{i}]" + (f" ({name!r})" if isinstance(name, str) else "")), raw
    for i, group in enumerate(raw_groups):
        name = group.get("code") if isinstance(group, dict) else None
        group_where = f"{where}.groups[{i}]" + (f" ({name!r})" if isinstance(name, str) else "")
        if not isinstance(group, dict):
            problems.append(f"{group_where}: a group must be an object")
            continue
        yield from _iter_variables(group, group_where, depth + 1, problems)


def _parse_variable(raw: Any, where: str, problems: list[str]) -> CdeVariable | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: a variable must be an object")
        return None
    before = len(problems)
    code = raw.get("code")
    if not isinstance(code, str) or not _VARIABLE_CODE.fullmatch(code):
        problems.append(f"{where}: variable 'code' must be a string matching {_VARIABLE_CODE.pattern}, got {code!r}")
        code = "?"
    sql_type = raw.get("sql_type")
    if sql_type not in SQL_TYPES:
        problems.append(f"{where}: unknown sql_type {sql_type!r}; use one of {list(SQL_TYPES)}")
    is_categorical = raw.get("isCategorical", False)
    if not isinstance(is_categorical, bool):
        problems.append(f"{where}: 'isCategorical' must be true or false, got {is_categorical!r}")
        is_categorical = False
    enumerations = _parse_enumerations(raw.get("enumerations"), where, sql_type, problems)
    if is_categorical and sql_type == "real":
        problems.append(f"{where}: a real variable cannot be categorical; make it int or text")
    elif is_categorical and not enumerations:
        problems.append(f"{where}: a categorical variable needs a non-empty 'enumerations' list")
    min_value = _parse_bound(raw, "minValue", where, sql_type, problems)
    max_value = _parse_bound(raw, "maxValue", where, sql_type, problems)
    if min_value is not None and max_value is not None and min_value > max_value:
        problems.append(f"{where}: minValue {min_value} is above maxValue {max_value}")
    texts = {}
    for key in ("label", "description", "units"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}: {key!r} must be a string, got {value!r}")
            value = None
        texts[key] = value or ""
    if len(problems) > before:
        return None
    return CdeVariable(
        code=code,
        label=texts["label"] or code,
        sql_type=str(sql_type),
        is_categorical=is_categorical,
        enumerations=enumerations,
        min_value=min_value,
        max_value=max_value,
        description=texts["description"],
        units=texts["units"],
    )


def _parse_enumerations(raw: Any, where: str, sql_type: Any, problems: list[str]) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where}: 'enumerations' must be a list of {{code, label}} objects")
        return ()
    pairs: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        code = item.get("code") if isinstance(item, dict) else None
        if not isinstance(code, str) or not code:
            problems.append(f"{where}: enumerations[{i}] needs a non-empty string 'code'")
            continue
        if sql_type == "int" and not re.fullmatch(r"-?[0-9]+", code):
            problems.append(f"{where}: enumeration code {code!r} of an int variable is not an int")
        if code in (c for c, _ in pairs):
            problems.append(f"{where}: duplicate enumeration code {code!r}")
            continue
        label = item.get("label", code)
        pairs.append((code, label if isinstance(label, str) and label else code))
    return tuple(pairs)


def _parse_bound(raw: Mapping[str, Any], key: str, where: str, sql_type: Any, problems: list[str]) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{where}: {key} must be a finite number, got {value!r}")
        return None
    if sql_type not in ("int", "real"):
        problems.append(f"{where}: {key} only applies to int and real variables")
        return None
    return float(value)


def _problem_report(source: str, problems: list[str]) -> str:
    shown = problems[:MAX_REPORTED_PROBLEMS]
    more = len(problems) - len(shown)
    tail = f"; and {more} more" if more else ""
    return f"{source}: {len(problems)} problem(s): " + "; ".join(shown) + tail
