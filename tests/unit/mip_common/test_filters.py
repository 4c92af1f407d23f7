"""Filters compile to bound SQL that selects what pandas selects, and nothing unsafe runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from mip_common.errors import InvalidRequestError
from mip_common.filters import (
    MAX_FILTER_DEPTH,
    OPERATORS,
    FilterVariable,
    compile_filters,
    compile_selection,
    filter_problems,
)

HOSTILE = ("x' OR '1'='1", "'; DROP TABLE rows; --", 'apple" OR "1"="1', "apple\x00")
VARIABLES = {
    "row_no": FilterVariable("row_no", "int"),
    "dataset": FilterVariable("dataset", "text", True, ("d1", "d2", "d3")),
    "age": FilterVariable("age", "int"),
    "score": FilterVariable("score", "real"),
    "gender": FilterVariable("gender", "text", True, ("F", "M")),
    "note": FilterVariable(
        "note", "text", True, ("apple", "banana", "cherry", "date", "elder", "fig", "grape", *HOSTILE)
    ),
    "subject": FilterVariable("subject", "text"),
    "grade": FilterVariable("grade", "int", True, ("1", "2", "3")),
}
_N = None
ROWS = [
    # row_no, dataset, age, score, gender, note, grade
    (0, "d1", 45, 0.5, "F", "apple", 1),
    (1, "d1", 60, 1.5, "M", "banana", 2),
    (2, "d1", _N, 2.5, "F", _N, 3),
    (3, "d2", 72, _N, _N, "cherry", _N),
    (4, "d2", 60, -1.0, "M", "apple", 1),
    (5, "d2", 81, 0.0, "F", "date", 2),
    (6, "d3", 33, 3.25, "M", "elder", _N),
    (7, "d3", _N, _N, _N, _N, _N),
    (8, "d3", 59, 1.5, "F", "fig", 3),
    (9, "d1", 61, 2.0, "M", "grape", 1),
]
COLUMNS = ["row_no", "dataset", "age", "score", "gender", "note", "grade"]
SQL_TYPES = ["BIGINT", "VARCHAR", "BIGINT", "DOUBLE", "VARCHAR", "VARCHAR", "BIGINT"]
PANDAS_TYPES = ["Int64", "string", "Int64", "Float64", "string", "string", "Int64"]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    columns = ", ".join(f'"{c}" {t}' for c, t in zip(COLUMNS, SQL_TYPES, strict=True))
    connection.execute(f"CREATE TABLE rows ({columns})")
    connection.executemany(f"INSERT INTO rows VALUES ({', '.join('?' * len(COLUMNS))})", ROWS)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    raw = pd.DataFrame(ROWS, columns=COLUMNS)
    return raw.astype(dict(zip(COLUMNS, PANDAS_TYPES, strict=True)))


def selected_rows(con: duckdb.DuckDBPyConnection, filters: dict[str, Any] | None) -> list[int]:
    sql, params = compile_filters(filters, VARIABLES)
    result = con.execute(f"SELECT row_no FROM rows WHERE {sql} ORDER BY row_no", params)
    return [r[0] for r in result.fetchall()]


def expected_rows(frame: pd.DataFrame, mask: pd.Series) -> list[int]:
    """Rows where a nullable (Kleene) mask is true; NA counts as not selected, as in SQL."""
    return [int(r) for r in frame.loc[mask.fillna(False).astype(bool), "row_no"]]


def rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"id": field, "field": field, "type": "string", "operator": operator, "value": value}


def group(condition: str, *rules: dict[str, Any], negate: bool = False) -> dict[str, Any]:
    return {"condition": condition, "rules": list(rules), "not": negate}


PandasMask = Callable[[pd.Series, Any], pd.Series]
PANDAS_OPERATORS: dict[str, PandasMask] = {
    "equal": lambda s, v: s == v,
    "not_equal": lambda s, v: s != v,
    "less": lambda s, v: s < v,
    "greater": lambda s, v: s > v,
    "less_or_equal": lambda s, v: s <= v,
    "greater_or_equal": lambda s, v: s >= v,
    "between": lambda s, v: (s >= v[0]) & (s <= v[1]),
    "not_between": lambda s, v: ~((s >= v[0]) & (s <= v[1])),
    "is_null": lambda s, v: s.isna(),
    "is_not_null": lambda s, v: s.notna(),
    "in": lambda s, v: s.isin(v),
    "not_in": lambda s, v: ~s.isin(v) & s.notna(),
}

OPERATOR_CASES = [
    ("age", "equal", 60),
    ("age", "not_equal", 60),
    ("age", "less", 60),
    ("age", "greater", 60),
    ("age", "less_or_equal", 60),
    ("age", "greater_or_equal", 60),
    ("age", "between", [45, 72]),
    ("age", "not_between", [45, 72]),
    ("age", "is_null", None),
    ("age", "is_not_null", None),
    ("age", "in", [33, 60, 99]),
    ("age", "not_in", [33, 60]),
    ("score", "equal", 1.5),
    ("score", "not_equal", 1.5),
    ("score", "less", 1),
    ("score", "greater", 0.25),
    ("score", "less_or_equal", 0.0),
    ("score", "greater_or_equal", 2.5),
    ("score", "between", [-1, 1.5]),
    ("score", "not_between", [0.0, 2.0]),
    ("score", "is_null", None),
    ("score", "in", [0.5, 2.0]),
    ("score", "not_in", [0.5, 2.0]),
    ("gender", "equal", "F"),
    ("gender", "not_equal", "F"),
    ("gender", "in", ["M"]),
    ("gender", "not_in", ["M"]),
    ("gender", "is_null", None),
    ("gender", "is_not_null", None),
    ("note", "less", "cherry"),
    ("note", "greater_or_equal", "date"),
    ("note", "between", ["banana", "elder"]),
    ("note", "not_equal", "apple"),
    ("grade", "equal", 2),
    ("grade", "not_in", [1, 3]),
    ("grade", "greater", 1),
]


def test_cases_cover_every_operator() -> None:
    # Arrange
    covered = {operator for _, operator, _ in OPERATOR_CASES}

    # Act / Assert
    assert covered == OPERATORS == set(PANDAS_OPERATORS)


@pytest.mark.parametrize(("field", "operator", "value"), OPERATOR_CASES)
def test_operator_selects_what_pandas_selects(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, field: str, operator: str, value: Any
) -> None:
    # Arrange
    expected = expected_rows(frame, PANDAS_OPERATORS[operator](frame[field], value))

    # Act
    actual = selected_rows(con, group("AND", rule(field, operator, value)))

    # Assert
    assert actual == expected


@pytest.mark.parametrize("operator", ["not_equal", "not_in", "not_between", "less", "equal"])
def test_a_missing_value_never_matches_a_comparison(con: duckdb.DuckDBPyConnection, operator: str) -> None:
    # Arrange: row 7 has every variable missing
    value = {"not_in": [1], "not_between": [0, 1]}.get(operator, 1000)

    # Act
    actual = selected_rows(con, group("AND", rule("age", operator, value)))

    # Assert
    assert 7 not in actual
    assert 2 not in actual


def test_nested_groups_follow_sql_three_valued_logic(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    # Arrange: (age >= 60 AND gender = F) OR NOT (score < 1.5 OR note IN (apple, fig))
    filters = group(
        "OR",
        group("AND", rule("age", "greater_or_equal", 60), rule("gender", "equal", "F")),
        group(
            "OR",
            rule("score", "less", 1.5),
            rule("note", "in", ["apple", "fig"]),
            negate=True,
        ),
    )
    older = (frame["age"] >= 60).astype("boolean")
    women = (frame["gender"] == "F").astype("boolean")
    low_score = (frame["score"] < 1.5).astype("boolean")
    # SQL's IN is unknown (NULL) on a missing value; pandas' isin says False, so mask it.
    fruit = frame["note"].isin(["apple", "fig"]).astype("boolean").mask(frame["note"].isna())
    older_women = older & women
    excluded = low_score | fruit
    expected = expected_rows(frame, older_women | ~excluded)

    # Act
    actual = selected_rows(con, filters)

    # Assert
    assert actual == expected
    assert actual  # the case selects something, so it can fail


def test_deep_but_allowed_nesting_compiles(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    # Arrange
    filters = group("AND", rule("age", "greater", 50))
    for _ in range(MAX_FILTER_DEPTH - 1):
        filters = group("OR", filters)

    # Act
    actual = selected_rows(con, filters)

    # Assert
    assert actual == expected_rows(frame, frame["age"] > 50)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    # Arrange
    filters = group("AND", rule("age", "greater", 50))
    for _ in range(MAX_FILTER_DEPTH):
        filters = group("OR", filters)

    # Act
    problems = filter_problems(filters, VARIABLES)

    # Assert
    assert len(problems) == 1
    assert f"deeper than {MAX_FILTER_DEPTH}" in problems[0]


@pytest.mark.parametrize("filters", [None, {}, {"condition": "AND", "rules": []}])
def test_no_filter_compiles_to_true(filters: dict[str, Any] | None) -> None:
    # Act
    sql, params = compile_filters(filters, VARIABLES)

    # Assert
    assert (sql, params) == ("TRUE", [])


def test_field_is_accepted_in_place_of_id(con: duckdb.DuckDBPyConnection) -> None:
    # Arrange
    filters = group("AND", {"field": "gender", "operator": "equal", "value": "M"})

    # Act
    actual = selected_rows(con, filters)

    # Assert
    assert actual == [1, 4, 6, 9]


def test_integral_float_is_bound_as_int_for_an_int_variable() -> None:
    # Arrange: numbers arriving through protobuf Struct are doubles
    filters = group("AND", rule("age", "between", [45.0, 60.0]))

    # Act
    _, params = compile_filters(filters, VARIABLES)

    # Assert
    assert params == [45, 60]
    assert all(type(p) is int for p in params)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (group("AND", rule("weight", "equal", 1)), "unknown variable 'weight'"),
        (group("AND", rule("age", "contains", 1)), "unknown operator 'contains'"),
        (group("AND", rule("age", "equal", "60")), "'60' is not a number"),
        (group("AND", rule("age", "equal", True)), "True is not a number"),
        (group("AND", rule("age", "equal", 60.5)), "60.5 is not a whole number"),
        (group("AND", rule("age", "less", 2**63)), "outside the 64-bit integer range"),
        (group("AND", rule("score", "equal", float("nan"))), "not a finite number"),
        (group("AND", rule("gender", "equal", 1)), "1 is not text"),
        (group("AND", rule("gender", "equal", "X")), "'X' is not a category of gender"),
        (group("AND", rule("grade", "in", [1, 4])), "4 is not a category of grade"),
        (group("AND", rule("dataset", "equal", "d9")), "'d9' is not a category of dataset"),
        (group("AND", rule("age", "between", [45])), "list of two values"),
        (group("AND", rule("age", "between", 45)), "list of two values"),
        (group("AND", rule("age", "between", [72, 45])), "swap them"),
        (group("AND", rule("age", "in", [])), "non-empty list"),
        (group("AND", rule("age", "equal", [60])), "single value"),
        (group("AND", {"operator": "equal", "value": 1}), "needs 'id'"),
        (group("XOR", rule("age", "equal", 60)), "'condition' must be 'AND' or 'OR'"),
        ({"condition": "AND", "rules": "age = 60"}, "'rules' must be a non-empty list"),
        (group("AND", group("OR")), "'rules' must be a non-empty list"),
        (group("AND", "age = 60"), "must be a rule or group object"),  # type: ignore[arg-type]
        ({"condition": "AND", "not": "yes", "rules": [rule("age", "equal", 1)]}, "'not' must be"),
        (
            group("AND", {"id": "age", "field": "score", "operator": "is_null"}),
            "'id' 'age' and 'field' 'score' differ",
        ),
    ],
)
def test_each_problem_is_reported_with_its_rule(filters: dict[str, Any], expected: str) -> None:
    # Act
    problems = filter_problems(filters, VARIABLES)

    # Assert
    assert len(problems) == 1, problems
    assert expected in problems[0]
    assert problems[0].startswith("root")


def test_a_filter_that_is_not_an_object_is_refused() -> None:
    # Act
    problems = filter_problems(["age", "=", 60], VARIABLES)  # type: ignore[arg-type]

    # Assert
    assert problems == ["filters must be a group object {'condition': 'AND'|'OR', 'rules': [...]}, got list"]


def test_every_problem_is_listed_once() -> None:
    # Arrange
    filters = group(
        "AND",
        rule("weight", "equal", 1),
        group("OR", rule("age", "equal", "old"), rule("gender", "in", ["F", "X"])),
    )

    # Act
    problems = filter_problems(filters, VARIABLES)

    # Assert
    assert len(problems) == 3
    assert problems[0].startswith("root.rules[0]:")
    assert problems[1].startswith("root.rules[1].rules[0] (age equal):")
    assert problems[2].startswith("root.rules[1].rules[1] (gender in):")


def test_compile_raises_with_all_problems() -> None:
    # Arrange
    filters = group("AND", rule("weight", "equal", 1), rule("age", "less", "x"))

    # Act
    with pytest.raises(InvalidRequestError) as caught:
        compile_filters(filters, VARIABLES)

    # Assert
    assert "2 problem(s)" in caught.value.message
    assert "unknown variable 'weight'" in caught.value.message
    assert "'x' is not a number" in caught.value.message


# --- injection attempts -------------------------------------------------------------------


def row_count(con: duckdb.DuckDBPyConnection) -> int:
    result = con.execute("SELECT count(*) FROM rows").fetchone()
    assert result is not None
    return int(result[0])


@pytest.mark.parametrize(
    "hostile",
    ['age" OR 1=1 --', 'age"; DROP TABLE rows; --', "age' OR '1'='1", "age) OR (1=1"],
)
def test_a_hostile_variable_name_in_a_filter_is_refused(hostile: str) -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError, match="unknown variable"):
        compile_filters(group("AND", rule(hostile, "is_null")), VARIABLES)


def test_a_hostile_variable_code_in_the_data_model_is_never_quoted_into_sql() -> None:
    # Arrange: a data model that itself carries a hostile code
    hostile = 'x" IS NULL OR 1=1; DROP TABLE rows; --'
    variables = {**VARIABLES, hostile: FilterVariable(hostile, "int")}

    # Act
    problems = filter_problems(group("AND", rule(hostile, "is_null")), variables)

    # Assert
    assert len(problems) == 1
    assert "must match" in problems[0]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_value_is_bound_not_spliced(con: duckdb.DuckDBPyConnection, hostile: str) -> None:
    # Arrange
    before = row_count(con)
    filters = group("OR", rule("note", "equal", hostile), rule("note", "in", [hostile]))

    # Act
    sql, params = compile_filters(filters, VARIABLES)
    matched = con.execute(f"SELECT row_no FROM rows WHERE {sql}", params).fetchall()

    # Assert
    assert hostile not in sql
    assert params == [hostile, hostile]
    assert matched == []
    assert row_count(con) == before


def test_a_hostile_dataset_name_is_bound_not_spliced(con: duckdb.DuckDBPyConnection) -> None:
    # Arrange
    before = row_count(con)
    hostile = "d1') OR 1=1; DROP TABLE rows; --"

    # Act
    sql, params = compile_selection("rows", VARIABLES, [hostile], ["age"], None, keep_missing=True)
    matched = con.execute(sql, params).fetchall()

    # Assert
    assert hostile not in sql
    assert matched == []
    assert row_count(con) == before


@pytest.mark.parametrize("table", ['rows"; DROP TABLE rows; --', "Rows", "1rows", "rows;"])
def test_a_hostile_table_name_is_refused(table: str) -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError, match="table name"):
        compile_selection(table, VARIABLES, ["d1"], ["age"], None, keep_missing=True)


def test_an_identifying_variable_cannot_be_filtered_on() -> None:
    # Act
    problems = filter_problems(group("AND", rule("subject", "not_equal", "s42")), VARIABLES)

    # Assert
    assert len(problems) == 1
    assert "identifies people" in problems[0]


def test_an_identifying_variable_cannot_be_selected() -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError, match="identifies people"):
        compile_selection("rows", VARIABLES, ["d1"], ["subject"], None, keep_missing=True)


def test_a_hostile_column_is_refused() -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError, match="unknown variable"):
        compile_selection("rows", VARIABLES, ["d1"], ['age", "note'], None, keep_missing=True)


# --- selections ---------------------------------------------------------------------------


def run_selection(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return con.execute(sql, params).fetchall()


def test_selection_keeps_complete_rows_of_the_datasets_in_table_order(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame
) -> None:
    # Arrange
    filters = group("AND", rule("gender", "equal", "M"))
    chosen = frame[frame["dataset"].isin(["d1", "d3"]) & (frame["gender"] == "M").fillna(False)]
    expected = chosen[["dataset", "row_no", "age", "score"]].dropna()

    # Act
    sql, params = compile_selection(
        "rows", VARIABLES, ["d1", "d3"], ["row_no", "age", "score"], filters, keep_missing=False
    )
    actual = run_selection(con, sql, params)

    # Assert
    assert actual == [tuple(r) for r in expected.astype(object).itertuples(index=False)]
    assert [r[1] for r in actual] == [1, 6, 9]


def test_selection_with_keep_missing_keeps_rows_with_missing_values(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Act
    sql, params = compile_selection("rows", VARIABLES, ["d3"], ["row_no", "age", "score"], None, keep_missing=True)
    actual = run_selection(con, sql, params)

    # Assert
    assert actual == [("d3", 6, 33, 3.25), ("d3", 7, None, None), ("d3", 8, 59, 1.5)]


def test_selection_puts_dataset_first_once_and_binds_datasets_before_filter_values() -> None:
    # Act
    sql, params = compile_selection(
        "rows",
        VARIABLES,
        ["d2", "d1"],
        ["age", "dataset"],
        group("AND", rule("age", "greater", 40)),
        keep_missing=False,
    )

    # Assert
    assert sql.startswith('SELECT "dataset", "age" FROM "rows" WHERE "dataset" IN (?, ?)')
    assert params == ["d2", "d1", 40]


@pytest.mark.parametrize(
    ("datasets", "columns", "expected"),
    [
        ([], ["age"], "choose at least one dataset"),
        ("d1", ["age"], "choose at least one dataset"),
        (["d1"], ["age", "age"], "'age' is listed twice"),
        (["d1"], ["weight"], "unknown variable 'weight'"),
        (["d1", ""], ["age"], "non-empty string"),
    ],
)
def test_selection_problems_are_refused(datasets: Any, columns: list[str], expected: str) -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError, match=expected):
        compile_selection("rows", VARIABLES, datasets, columns, None, keep_missing=True)


def test_selection_order_is_insertion_order_on_a_large_table_scanned_in_parallel() -> None:
    # Arrange: several row groups, rows inserted in a shuffled order, several threads
    con = duckdb.connect(":memory:", config={"threads": 4})
    size = 300_000
    order = np.random.default_rng(0).permutation(size)
    con.execute("CREATE TABLE rows (row_no BIGINT, dataset VARCHAR, age BIGINT)")
    con.register(
        "incoming",
        pd.DataFrame({"row_no": order, "dataset": np.where(order % 3 == 0, "d1", "d2"), "age": order % 90}),
    )
    con.execute("INSERT INTO rows SELECT * FROM incoming")
    expected = [int(r) for r in order if r % 3 == 0 and r % 90 >= 30]
    sql, params = compile_selection(
        "rows",
        VARIABLES,
        ["d1"],
        ["row_no"],
        group("AND", rule("age", "greater_or_equal", 30)),
        keep_missing=False,
    )

    # Act
    con.execute(f"CREATE TABLE selection AS {sql}", params)
    actual = [r[0] for r in con.execute("SELECT row_no FROM selection").fetchall()]
    con.close()

    # Assert
    assert actual == expected
