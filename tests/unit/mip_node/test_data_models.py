"""Data-model folders load whole or not at all, and every refusal says where and why."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mip_client.demo_data import demo_cdes, write_demo_federation
from mip_common.errors import AlreadyExistsError, DataLoadError
from mip_node.data_models import (
    CDES_FILE,
    data_catalogue,
    load_folder,
    parse_cdes,
    primary_table_name,
)
from mip_node.db import DuckDBDatabase
from tests.helpers.mip_data import DATA, require_shared

DEMO_HEADER = [
    "subjectcode",
    "dataset",
    "age",
    "gender",
    "diagnosis",
    "hippocampus",
    "entorhinal",
    "ventricles",
    "cognition",
    "amyloid",
]
GOOD_ROW = ["s1", "demo_site1_a", "70", "F", "CN", "4.1", "2.0", "21.5", "20.0", "negative"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DuckDBDatabase]:
    database = DuckDBDatabase(tmp_path / "node.duckdb")
    yield database
    database.close()


@pytest.fixture
def federation(tmp_path: Path) -> list[Path]:
    return write_demo_federation(tmp_path / "demo", num_locals=2, rows_per_dataset=50, seed=1)


def table_rows(db: DuckDBDatabase, table: str = "primary_demo_1_0") -> int:
    return db.query(f'SELECT count(*) AS n FROM "{table}"', []).column("n")[0].as_py()  # type: ignore[no-any-return]


def make_folder(root: Path, files: dict[str, list[list[str]]], cdes: Any = None) -> Path:
    """A data-model folder with the demo CDEs (or ``cdes``) and the given CSV rows."""
    root.mkdir(parents=True, exist_ok=True)
    text = cdes if isinstance(cdes, str) else json.dumps(cdes or demo_cdes(2))
    (root / CDES_FILE).write_text(text, encoding="utf-8")
    for name, rows in files.items():
        with (root / name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(rows)
    return root


def with_cell(column: str, value: str) -> list[str]:
    row = list(GOOD_ROW)
    row[DEMO_HEADER.index(column)] = value
    return row


# --- loading demo data --------------------------------------------------------------------


def test_demo_folder_loads_every_dataset(db: DuckDBDatabase, federation: list[Path]) -> None:
    # Act
    spec, records = load_folder(db, federation[0])

    # Assert
    assert spec.key == "demo:1.0"
    assert spec.table_name == "primary_demo_1_0"
    assert [(r.code, r.row_count, r.label) for r in records] == [
        ("demo_site1_a", 50, "Demo site 1 A"),
        ("demo_site1_b", 50, "Demo site 1 B"),
    ]
    assert table_rows(db) == 100
    assert db.datasets() == records


def test_loaded_columns_have_cde_types_and_missing_values(db: DuckDBDatabase, federation: list[Path]) -> None:
    # Act
    load_folder(db, federation[0])
    table = db.read_table("primary_demo_1_0")

    # Assert
    assert table.schema.field("age").type == pa.int64()
    assert table.schema.field("hippocampus").type == pa.float64()
    assert table.schema.field("gender").type == pa.string()
    assert table.column("hippocampus").null_count == 0
    assert table.column("ventricles").null_count + table.column("age").null_count > 0


def test_rows_keep_file_order_and_values(db: DuckDBDatabase, federation: list[Path]) -> None:
    # Arrange
    with (federation[0] / "demo_site1_a.csv").open(newline="") as handle:
        first_csv_row = next(iter(csv.DictReader(handle)))

    # Act
    load_folder(db, federation[0])
    first = db.read_table("primary_demo_1_0").slice(0, 1).to_pylist()[0]

    # Assert
    assert first["subjectcode"] == first_csv_row["subjectcode"] == "demo_site1_a_00001"
    assert first["hippocampus"] == float(first_csv_row["hippocampus"])
    assert first["gender"] == first_csv_row["gender"]


def test_second_local_folder_adds_datasets_to_the_same_model(db: DuckDBDatabase, federation: list[Path]) -> None:
    # Arrange
    load_folder(db, federation[0])

    # Act
    _, records = load_folder(db, federation[1])

    # Assert
    assert [r.code for r in records] == ["demo_site2_a", "demo_site2_b"]
    assert table_rows(db) == 200
    assert list(db.data_models()) == ["demo:1.0"]


def test_excluded_files_are_not_loaded(db: DuckDBDatabase, federation: list[Path]) -> None:
    # Act
    _, records = load_folder(db, federation[0], exclude_globs=["*_b.csv"])

    # Assert
    assert [r.code for r in records] == ["demo_site1_a"]
    assert table_rows(db) == 50


def test_a_csv_missing_cde_columns_is_refused_naming_them(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange: a dropped column must not load as a column of missing values unnoticed
    keep = [i for i, c in enumerate(DEMO_HEADER) if c not in ("cognition", "amyloid")]
    folder = make_folder(
        tmp_path / "m",
        {"a.csv": [[DEMO_HEADER[i] for i in keep], [GOOD_ROW[i] for i in keep]]},
    )

    # Act
    with pytest.raises(DataLoadError) as caught:
        load_folder(db, folder)

    # Assert
    assert "a.csv line 1 (header): CDE columns ['amyloid', 'cognition'] are missing" in caught.value.message
    assert db.datasets() == []


def test_missing_cde_columns_load_as_missing_when_allowed_with_a_warning(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange
    keep = [i for i, c in enumerate(DEMO_HEADER) if c != "cognition"]
    folder = make_folder(
        tmp_path / "m",
        {"a.csv": [[DEMO_HEADER[i] for i in keep], [GOOD_ROW[i] for i in keep]]},
    )
    warnings: list[str] = []

    # Act
    load_folder(db, folder, missing_cde_columns="empty", warnings=warnings)
    table = db.read_table("primary_demo_1_0")

    # Assert
    assert table.num_rows == 1
    assert table.column("cognition").to_pylist() == [None]
    assert warnings == ["a.csv: CDE columns ['cognition'] are missing; loaded as missing values"]


def test_a_header_only_csv_loads_nothing_with_a_warning(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange
    folder = make_folder(tmp_path / "m", {"a.csv": [DEMO_HEADER]})
    warnings: list[str] = []

    # Act
    _, records = load_folder(db, folder, warnings=warnings)

    # Assert
    assert records == []
    assert warnings == ["a.csv: no rows (only a header); nothing loaded from it"]


def test_blank_lines_and_integral_floats_are_accepted(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange: MIP exports write ints as "65.0"
    folder = make_folder(tmp_path / "m", {"a.csv": [DEMO_HEADER, [], with_cell("age", "65.0")]})

    # Act
    _, records = load_folder(db, folder)

    # Assert
    assert records[0].row_count == 1
    assert db.read_table("primary_demo_1_0").column("age").to_pylist() == [65]


def test_one_file_may_hold_several_datasets(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange
    rows = [DEMO_HEADER, GOOD_ROW, with_cell("dataset", "demo_site2_b"), GOOD_ROW]
    folder = make_folder(tmp_path / "m", {"mixed.csv": rows})

    # Act
    _, records = load_folder(db, folder)

    # Assert
    assert [(r.code, r.row_count) for r in records] == [("demo_site1_a", 2), ("demo_site2_b", 1)]


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_row", "column", "value", "expected"),
    [
        (with_cell("age", "old"), "age", "'old'", "a whole number in [40, 95]"),
        (with_cell("age", "61.5"), "age", "'61.5'", "a whole number in [40, 95]"),
        (with_cell("age", "200"), "age", "'200'", "a whole number in [40, 95]"),
        (with_cell("hippocampus", "nan"), "hippocampus", "'nan'", "a finite number"),
        (with_cell("hippocampus", "1_0"), "hippocampus", "'1_0'", "a finite number"),
        (with_cell("gender", "X"), "gender", "'X'", "one of the codes [F, M]"),
        (with_cell("dataset", "nowhere"), "dataset", "'nowhere'", "one of the dataset codes"),
        (with_cell("dataset", ""), "dataset", "''", "one of the dataset codes"),
    ],
)
def test_a_bad_cell_is_refused_with_file_line_column_value_and_expectation(
    db: DuckDBDatabase,
    tmp_path: Path,
    bad_row: list[str],
    column: str,
    value: str,
    expected: str,
) -> None:
    # Arrange: the bad row is on line 3 (header = line 1)
    folder = make_folder(tmp_path / "m", {"site.csv": [DEMO_HEADER, GOOD_ROW, bad_row, GOOD_ROW]})

    # Act
    with pytest.raises(DataLoadError) as caught:
        load_folder(db, folder)

    # Assert
    message = caught.value.message
    assert f"site.csv line 3, column {column!r}: {value} is not valid; expected {expected}" in message
    assert db.datasets() == []
    assert db.data_models() == {}


def test_an_unknown_column_is_refused(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange
    folder = make_folder(tmp_path / "m", {"site.csv": [[*DEMO_HEADER, "weight"], [*GOOD_ROW, "80"]]})

    # Act
    with pytest.raises(DataLoadError) as caught:
        load_folder(db, folder)

    # Assert
    assert "site.csv line 1 (header): columns ['weight'] are not variables of demo:1.0" in (caught.value.message)
    assert db.datasets() == []


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[c for c in DEMO_HEADER if c != "dataset"]], "no 'dataset' column"),
        ([[*DEMO_HEADER, "age"]], "columns ['age'] appear more than once"),
        ([DEMO_HEADER, GOOD_ROW[:-1]], "line 2: 9 cells, expected 10"),
        ([], "empty; line 1 must be a header"),
    ],
)
def test_a_malformed_csv_is_refused(db: DuckDBDatabase, tmp_path: Path, rows: list[list[str]], expected: str) -> None:
    # Arrange
    folder = make_folder(tmp_path / "m", {"site.csv": rows})

    # Act / Assert
    with pytest.raises(DataLoadError, match=re.escape(expected)):
        load_folder(db, folder)


def test_a_bad_file_stops_the_whole_folder(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange: a.csv is fine, b.csv is not
    folder = make_folder(
        tmp_path / "m",
        {
            "a.csv": [DEMO_HEADER, GOOD_ROW],
            "b.csv": [DEMO_HEADER, with_cell("dataset", "demo_site1_b"), with_cell("age", "7")],
        },
    )

    # Act
    with pytest.raises(DataLoadError, match=re.escape("b.csv line 3, column 'age'")):
        load_folder(db, folder)

    # Assert
    assert db.datasets() == []


def test_reported_problems_are_capped(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange
    folder = make_folder(tmp_path / "m", {"a.csv": [DEMO_HEADER] + [with_cell("age", "x")] * 30})

    # Act
    with pytest.raises(DataLoadError) as caught:
        load_folder(db, folder)

    # Assert
    assert "a.csv: 30 problem(s)" in caught.value.message
    assert "and 10 more" in caught.value.message
    assert caught.value.message.count("is not valid") == 20


def test_an_already_loaded_dataset_is_refused_and_nothing_is_added(db: DuckDBDatabase, federation: list[Path]) -> None:
    # Arrange
    load_folder(db, federation[0])

    # Act
    with pytest.raises(AlreadyExistsError, match="already loaded"):
        load_folder(db, federation[0])

    # Assert
    assert table_rows(db) == 100
    assert len(db.datasets()) == 2


def test_a_dataset_in_two_files_is_refused(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange
    folder = make_folder(tmp_path / "m", {"a.csv": [DEMO_HEADER, GOOD_ROW], "b.csv": [DEMO_HEADER, GOOD_ROW]})

    # Act / Assert
    with pytest.raises(DataLoadError, match=re.escape("'demo_site1_a' is in both a.csv and b.csv")):
        load_folder(db, folder)
    assert db.datasets() == []


def test_a_model_already_on_the_node_with_other_cdes_is_refused(
    db: DuckDBDatabase, federation: list[Path], tmp_path: Path
) -> None:
    # Arrange
    load_folder(db, federation[0])
    changed = demo_cdes(2)
    changed["label"] = "changed"
    folder = make_folder(tmp_path / "m", {"a.csv": [DEMO_HEADER]}, cdes=changed)

    # Act / Assert
    with pytest.raises(DataLoadError, match="already on this node with different CDEs"):
        load_folder(db, folder)


def test_the_same_cdes_formatted_differently_are_the_same_model(
    db: DuckDBDatabase, federation: list[Path], tmp_path: Path
) -> None:
    # Arrange
    load_folder(db, federation[0])
    compact = json.dumps(demo_cdes(2), separators=(",", ":"))
    folder = make_folder(tmp_path / "m", {"a.csv": [DEMO_HEADER, with_cell("dataset", "demo_site2_a")]}, compact)

    # Act
    _, records = load_folder(db, folder)

    # Assert
    assert [r.code for r in records] == ["demo_site2_a"]


def test_a_missing_folder_is_refused(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(DataLoadError, match="not a directory"):
        load_folder(db, tmp_path / "absent")


# --- CDE files ----------------------------------------------------------------------------


def cdes_with(**changes: Any) -> dict[str, Any]:
    cdes = demo_cdes(2)
    cdes.update(changes)
    return cdes


def variable(code: str, sql_type: str = "real", **extra: Any) -> dict[str, Any]:
    return {"code": code, "sql_type": sql_type, "isCategorical": False, **extra}


DATASET_VARIABLE = {
    "code": "dataset",
    "sql_type": "text",
    "isCategorical": True,
    "enumerations": [{"code": "d1", "label": "D1"}],
}


@pytest.mark.parametrize(
    ("cdes", "expected"),
    [
        ("{not json", "not valid JSON at line 1"),
        ([1, 2], "the root must be an object"),
        (cdes_with(code=None), "needs a non-empty string 'code'"),
        (cdes_with(version=None), "needs a non-empty string 'version'"),
        (cdes_with(version=0.1), "needs a non-empty string 'version'"),
        (
            cdes_with(variables=[DATASET_VARIABLE, variable("x", "float")]),
            "unknown sql_type 'float'",
        ),
        (
            cdes_with(variables=[DATASET_VARIABLE, variable("x"), variable("x", "int")]),
            "duplicate variable code 'x'",
        ),
        (
            cdes_with(variables=[DATASET_VARIABLE, variable("x"), variable("X")]),
            "differs only in case",
        ),
        (
            cdes_with(variables=[DATASET_VARIABLE, variable("x", "text", isCategorical=True)]),
            "a categorical variable needs a non-empty 'enumerations' list",
        ),
        (
            cdes_with(variables=[DATASET_VARIABLE, variable("x", minValue=5, maxValue=1)]),
            "minValue 5.0 is above maxValue 1.0",
        ),
        (
            cdes_with(variables=[DATASET_VARIABLE, variable('x"; DROP TABLE t; --')]),
            "variable 'code' must be a string matching",
        ),
        (cdes_with(variables=[variable("x")], groups=[]), "no 'dataset' variable"),
        (
            cdes_with(variables=[variable("dataset", "text")], groups=[]),
            "'dataset' must be text and categorical",
        ),
    ],
)
def test_a_bad_cde_file_is_refused_naming_file_and_problem(tmp_path: Path, cdes: Any, expected: str) -> None:
    # Arrange
    path = tmp_path / CDES_FILE
    path.write_text(cdes if isinstance(cdes, str) else json.dumps(cdes), encoding="utf-8")

    # Act
    with pytest.raises(DataLoadError) as caught:
        parse_cdes(path)

    # Assert
    assert str(path) in caught.value.message
    assert expected in caught.value.message


def test_a_problem_inside_a_group_names_the_group(tmp_path: Path) -> None:
    # Arrange
    cdes = cdes_with(
        variables=[DATASET_VARIABLE],
        groups=[{"code": "brain", "variables": [variable("x", "bool")]}],
    )
    path = tmp_path / CDES_FILE
    path.write_text(json.dumps(cdes), encoding="utf-8")

    # Act / Assert
    with pytest.raises(DataLoadError, match=r"root.groups\[0\] \('brain'\).variables\[0\] \('x'\)"):
        parse_cdes(path)


def test_groups_are_flattened_in_file_order(federation: list[Path]) -> None:
    # Act
    spec = parse_cdes(federation[0] / CDES_FILE)

    # Assert
    assert list(spec.variables) == [
        "dataset",
        "subjectcode",
        "age",
        "gender",
        "diagnosis",
        "cognition",
        "amyloid",
        "hippocampus",
        "entorhinal",
        "ventricles",
    ]
    assert spec.variables["age"].min_value == 40
    assert spec.variables["gender"].enumerations == (("F", "Female"), ("M", "Male"))
    assert spec.filter_variables()["gender"].enumerations == ("F", "M")


@pytest.mark.parametrize(
    ("code", "version", "expected"),
    [
        ("dementia", "0.1", "primary_dementia_0_1"),
        ("Demo-Model", "1.0-beta", "primary_demo_model_1_0_beta"),
        ("x" * 80, "1", "primary_" + "x" * 55),
    ],
)
def test_table_names_are_valid(code: str, version: str, expected: str) -> None:
    # Act
    name = primary_table_name(code, version)

    # Assert
    assert name == expected
    assert re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name)


# --- persistence and the catalogue --------------------------------------------------------


def test_loaded_data_survives_a_restart(tmp_path: Path, federation: list[Path]) -> None:
    # Arrange
    path = tmp_path / "restart.duckdb"
    first = DuckDBDatabase(path)
    _, records = load_folder(first, federation[0])
    first.close()

    # Act
    reopened = DuckDBDatabase(path)
    try:
        specs, datasets = data_catalogue(reopened)
        rows = table_rows(reopened)
    finally:
        reopened.close()

    # Assert
    assert [s.key for s in specs] == ["demo:1.0"]
    assert specs[0].table_name == "primary_demo_1_0"
    assert specs[0].variables["age"].sql_type == "int"
    assert datasets == records
    assert rows == 100


def test_catalogue_of_an_empty_node_is_empty(db: DuckDBDatabase) -> None:
    # Act / Assert
    assert data_catalogue(db) == ([], [])


@pytest.mark.shared_data
def test_shared_dementia_folder_loads_2188_rows_in_30_datasets(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange
    require_shared()
    folder = DATA / "dementia_v_0_1"

    # Act
    spec, records = load_folder(db, folder, exclude_globs=["*-test.csv"], missing_cde_columns="empty")

    # Assert
    assert spec.key == "dementia:0.1"
    assert len(records) == 30
    assert sum(r.row_count for r in records) == 2188
    assert table_rows(db, spec.table_name) == 2188


def test_demo_data_is_deterministic(tmp_path: Path) -> None:
    # Arrange
    first = write_demo_federation(tmp_path / "one", num_locals=2, rows_per_dataset=20, seed=3)
    second = write_demo_federation(tmp_path / "two", num_locals=2, rows_per_dataset=20, seed=3)

    # Act
    same = [
        (a / name).read_bytes() == (b / name).read_bytes()
        for a, b in zip(first, second, strict=True)
        for name in sorted(p.name for p in a.iterdir())
    ]

    # Assert
    assert len(same) == 6
    assert all(same)


def test_demo_data_has_the_structure_algorithms_are_checked_against(db: DuckDBDatabase, tmp_path: Path) -> None:
    # Arrange
    folders = write_demo_federation(tmp_path / "demo", num_locals=3, rows_per_dataset=400)
    for folder in folders:
        load_folder(db, folder)

    # Act
    table = db.read_table("primary_demo_1_0")
    complete = db.query(
        'SELECT hippocampus, entorhinal, ventricles, age, cognition FROM "primary_demo_1_0" '
        "WHERE age IS NOT NULL AND ventricles IS NOT NULL AND cognition IS NOT NULL",
        [],
    )
    features = np.column_stack([np.ones(complete.num_rows)] + [complete.column(i).to_numpy() for i in range(4)])
    coefficients, *_ = np.linalg.lstsq(features, complete.column(4).to_numpy(), rcond=None)

    # Assert
    assert table.num_rows == 2400
    assert 0.01 < table.column("ventricles").null_count / table.num_rows < 0.05
    assert set(table.column("diagnosis").to_pylist()) == {"AD", "MCI", "CN"}
    np.testing.assert_allclose(coefficients[1:], [5.0, 2.0, -0.1, -0.05], atol=0.5)
