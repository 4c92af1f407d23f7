"""Loading a MIP data-model folder (CDEs + CSV files) into a node's database.

Every CSV of a folder is read and checked before anything is written, so a folder with
a bad file leaves the node unchanged and the error lists each problem with its file,
line, column, value and what was expected. Then each file goes in through one
``Database.load_dataset`` transaction: a file is loaded whole or not at all.

A CDE column a CSV does not have is an error naming it, because a dropped column would
otherwise load as a column of missing values unnoticed; with ``missing_cde_columns="empty"``
(real MIP exports omit some CDEs) it loads as missing values, with a warning. A column that
is not a CDE is an error, because its data would be silently lost. A CSV with only a header
loads nothing, with a warning.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pyarrow as pa

from mip_common.errors import AlreadyExistsError, DataLoadError
from mip_common.filters import DATASET_COLUMN
from mip_node.data_models._cdes import (
    CDES_FILE,
    MAX_REPORTED_PROBLEMS,
    CdeVariable,
    DataModelSpec,
    parse_cdes,
    parse_cdes_text,
)
from mip_node.db import Database, DatasetRecord

__all__ = ["data_catalogue", "load_folder"]

log = logging.getLogger(__name__)

_ARROW_TYPES = {"int": pa.int64(), "real": pa.float64(), "text": pa.string()}
_INT_TEXT = re.compile(r"[+-]?[0-9]+(\.0*)?")  # "65.0" is an int: MIP exports write ints so
_REAL_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SHOWN_VALUE_CHARS = 40


@dataclass(frozen=True, slots=True)
class _CheckedCsv:
    """A CSV file read and validated, ready for one ``load_dataset`` call."""

    path: Path
    datasets: list[DatasetRecord]
    rows: pa.Table
    missing_columns: list[str]


class _CellError(ValueError):
    """A cell that does not fit its CDE; the message says what was expected."""


def load_folder(
    db: Database,
    folder: Path,
    exclude_globs: Sequence[str] = (),
    *,
    missing_cde_columns: str = "refuse",
    warnings: list[str] | None = None,
) -> tuple[DataModelSpec, list[DatasetRecord]]:
    """Load the data model in ``folder`` and its CSV files (by name order, minus ``exclude_globs``).

    Raises ``DataLoadError`` (nothing loaded) for a bad CDE file, a bad CSV (one missing
    CDE columns too, unless ``missing_cde_columns`` is ``"empty"``), a dataset in two
    files, or a data model already on the node with other CDEs; ``AlreadyExistsError``
    (nothing loaded) when a dataset of the folder is already on the node. What loaded
    but deserves a look (a header-only file, columns loaded as missing) is appended to
    ``warnings`` and logged.
    """
    if missing_cde_columns not in ("refuse", "empty"):
        raise ValueError(f"missing_cde_columns must be 'refuse' or 'empty', got {missing_cde_columns!r}")
    if not folder.is_dir():
        raise DataLoadError(f"{folder}: not a directory; give a MIP data-model folder")
    spec = parse_cdes(folder / CDES_FILE)
    stored_models = db.data_models()
    spec = _reconcile_with_stored(spec, stored_models)

    paths = [
        path
        for path in sorted(folder.glob("*.csv"), key=lambda p: p.name)
        if path.is_file() and not any(fnmatchcase(path.name, g) for g in exclude_globs)
    ]
    checked: list[_CheckedCsv] = []
    failures: list[str] = []
    for path in paths:
        try:
            checked.append(_read_csv(path, spec, is_missing_allowed=missing_cde_columns == "empty"))
        except DataLoadError as exc:
            failures.append(exc.message)
    if failures:
        raise DataLoadError(f"{folder}: nothing was loaded; fix these files or exclude them:\n" + "\n".join(failures))
    _refuse_duplicates(folder, spec, checked, db.datasets())

    if spec.key not in stored_models:
        db.save_data_model(spec.key, spec.cdes_json, spec.table_name, spec.column_types())
    notes = [
        f"{item.path.name}: CDE columns {item.missing_columns} are missing; loaded as missing values"
        for item in checked
        if item.missing_columns
    ]
    notes += [
        f"{item.path.name}: no rows (only a header); nothing loaded from it" for item in checked if not item.datasets
    ]
    for note in notes:
        log.warning("data file loaded with a warning", extra={"fields": {"folder": str(folder), "warning": note}})
    if warnings is not None:
        warnings.extend(notes)
    loaded: list[DatasetRecord] = []
    for item in checked:
        if not item.datasets:
            continue
        try:
            db.load_dataset(spec.key, spec.table_name, item.datasets, item.rows)
        except AlreadyExistsError as exc:
            done = [d.code for d in loaded]
            raise AlreadyExistsError(
                f"{item.path.name}: {exc.message}; nothing of this file was loaded (loaded before it: {done})"
            ) from None
        loaded.extend(item.datasets)
        log.info(
            "datasets loaded",
            extra={
                "fields": {
                    "data_model": spec.key,
                    "file": item.path.name,
                    "datasets": [d.code for d in item.datasets],
                    "rows": item.rows.num_rows,
                }
            },
        )
    return spec, loaded


def data_catalogue(db: Database) -> tuple[list[DataModelSpec], list[DatasetRecord]]:
    """The data models (sorted by key) and datasets loaded on the node."""
    specs = []
    for key, (cdes_json, table_name) in sorted(db.data_models().items()):
        spec = parse_cdes_text(cdes_json, f"stored data model {key}")
        specs.append(dataclasses.replace(spec, table_name=table_name))
    return specs, db.datasets()


def _reconcile_with_stored(spec: DataModelSpec, stored_models: dict[str, tuple[str, str]]) -> DataModelSpec:
    """``spec`` with the table the node already uses for it; refuses changed CDEs."""
    if spec.key in stored_models:
        stored_json, table_name = stored_models[spec.key]
        if json.loads(stored_json) != json.loads(spec.cdes_json):
            raise DataLoadError(
                f"data model {spec.key} is already on this node with different CDEs; "
                "rows loaded under the old CDEs would no longer match them. Publish the "
                "changed data model under a new version instead."
            )
        return dataclasses.replace(spec, table_name=table_name)
    for key, (_, table_name) in stored_models.items():
        if table_name == spec.table_name:
            raise DataLoadError(
                f"data model {spec.key} would use table {table_name!r}, which data model "
                f"{key} already uses; choose a code or version that differs in more than "
                "punctuation or case"
            )
    return spec


def _refuse_duplicates(
    folder: Path, spec: DataModelSpec, checked: list[_CheckedCsv], on_node: list[DatasetRecord]
) -> None:
    first_file: dict[str, str] = {}
    for item in checked:
        for record in item.datasets:
            if record.code in first_file:
                raise DataLoadError(
                    f"{folder}: dataset {record.code!r} is in both {first_file[record.code]} "
                    f"and {item.path.name}; a dataset must be in one file. Nothing was loaded."
                )
            first_file[record.code] = item.path.name
    loaded = {d.code for d in on_node if d.data_model == spec.key}
    if clashes := sorted(loaded & first_file.keys()):
        files = sorted({first_file[c] for c in clashes})
        raise AlreadyExistsError(
            f"{folder}: datasets {clashes} of {spec.key} are already loaded on this node "
            f"(in {files}); nothing was loaded. Exclude those files to load the others."
        )


def _read_csv(path: Path, spec: DataModelSpec, *, is_missing_allowed: bool) -> _CheckedCsv:
    """The rows of one CSV as an Arrow table typed by the CDEs, or ``DataLoadError``."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _parse_rows(path, spec, csv.reader(handle, strict=True), is_missing_allowed=is_missing_allowed)
    except UnicodeDecodeError as exc:
        raise DataLoadError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise DataLoadError(f"{path.name}: not a readable CSV ({exc})") from None


def _parse_rows(path: Path, spec: DataModelSpec, reader: Any, *, is_missing_allowed: bool) -> _CheckedCsv:
    header: list[str] | None = next(reader, None)
    if not header:
        raise DataLoadError(f"{path.name}: empty; line 1 must be a header naming CDE columns")
    missing = sorted(code for code in spec.variables if code not in header)
    header_problems = _header_problems(header, spec)
    if missing and not is_missing_allowed:
        header_problems.append(
            f"CDE columns {missing} are missing; add them (empty cells are missing values), or set the "
            'node\'s missing_cde_columns = "empty" to load them as missing values'
        )
    if header_problems:
        raise DataLoadError(f"{path.name} line 1 (header): " + "; ".join(header_problems))

    position = {name: i for i, name in enumerate(header)}
    present = [v for code, v in spec.variables.items() if code in position]
    columns: dict[str, list[Any]] = {v.code: [] for v in present}
    dataset_labels = dict(spec.variables[DATASET_COLUMN].enumerations)
    row_counts: dict[str, int] = {}
    problems: list[str] = []
    for row in reader:
        if not row:
            continue  # a blank line
        line = reader.line_num
        if len(row) != len(header):
            problems.append(f"{path.name} line {line}: {len(row)} cells, expected {len(header)} (as the header)")
            continue
        values: list[Any] = []
        for variable in present:
            cell = row[position[variable.code]]
            try:
                values.append(_convert(cell, variable))
            except _CellError as exc:
                problems.append(
                    f"{path.name} line {line}, column {variable.code!r}: {_shown(cell)} is not valid; expected {exc}"
                )
                values.append(None)
        dataset = row[position[DATASET_COLUMN]]
        if dataset not in dataset_labels:
            continue  # reported above: the dataset variable is categorical and never empty
        row_counts[dataset] = row_counts.get(dataset, 0) + 1
        for variable, value in zip(present, values, strict=True):
            columns[variable.code].append(value)
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        raise DataLoadError(
            f"{path.name}: {len(problems)} problem(s), nothing of this file was loaded:\n  "
            + "\n  ".join(shown)
            + (f"\n  and {more} more" if more else "")
        )
    rows = pa.table({v.code: pa.array(columns[v.code], type=_ARROW_TYPES[v.sql_type]) for v in present})
    records = [DatasetRecord(spec.key, code, count, dataset_labels[code]) for code, count in row_counts.items()]
    return _CheckedCsv(path, records, rows, missing)


def _header_problems(header: list[str], spec: DataModelSpec) -> list[str]:
    problems = []
    if duplicates := sorted({name for name in header if header.count(name) > 1}):
        problems.append(f"columns {duplicates} appear more than once")
    if unknown := [name for name in header if name not in spec.variables]:
        problems.append(f"columns {unknown} are not variables of {spec.key}; remove them or add them to {CDES_FILE}")
    if DATASET_COLUMN not in header:
        problems.append(f"no {DATASET_COLUMN!r} column; every row must name its dataset")
    return problems


def _convert(cell: str, variable: CdeVariable) -> Any:
    """The value of ``cell`` for ``variable`` (``None`` when empty), or ``_CellError``."""
    if variable.code == DATASET_COLUMN:
        if cell not in variable.enumeration_codes:
            raise _CellError(f"one of the dataset codes in {CDES_FILE}: {_codes(variable)}")
        return cell
    if cell == "" or (variable.sql_type != "text" and not cell.strip()):
        return None
    value: Any
    if variable.sql_type == "text":
        value = cell
    elif variable.sql_type == "int":
        text = cell.strip()
        if not _INT_TEXT.fullmatch(text):
            raise _CellError(_expectation(variable))
        value = int(text.split(".")[0])
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _CellError(_expectation(variable))
    else:
        text = cell.strip()
        if not _REAL_TEXT.fullmatch(text) or not math.isfinite(value := float(text)):
            raise _CellError(_expectation(variable))
    if variable.is_categorical and str(value) not in variable.enumeration_codes:
        raise _CellError(_expectation(variable))
    if (variable.min_value is not None and value < variable.min_value) or (
        variable.max_value is not None and value > variable.max_value
    ):
        raise _CellError(_expectation(variable))
    return value


def _expectation(variable: CdeVariable) -> str:
    if variable.is_categorical:
        return f"one of the codes {_codes(variable)} (or an empty cell)"
    kind = {"int": "a whole number", "real": "a finite number"}[variable.sql_type]
    low = "-inf" if variable.min_value is None else f"{variable.min_value:g}"
    high = "inf" if variable.max_value is None else f"{variable.max_value:g}"
    if variable.min_value is None and variable.max_value is None:
        return f"{kind} (or an empty cell)"
    return f"{kind} in [{low}, {high}] (or an empty cell)"


def _codes(variable: CdeVariable) -> str:
    codes = variable.enumeration_codes
    shown = ", ".join(codes[:12])
    return f"[{shown}{', ...' if len(codes) > 12 else ''}]"


def _shown(cell: str) -> str:
    if len(cell) > _SHOWN_VALUE_CHARS:
        return repr(cell[:_SHOWN_VALUE_CHARS] + "...")
    return repr(cell)
