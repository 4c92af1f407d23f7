"""Results of every algorithm shape as readable tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mip_client.render import format_value, render_result

CASES = Path(__file__).resolve().parents[4] / "shared" / "reference_cases"


def test_regression_lists_share_one_table_named_by_indep_vars() -> None:
    # Arrange
    result = {"n_obs": 10, "indep_vars": ["Intercept", "age"], "coefficients": [1.5, 0.25], "pvalues": [0.01, 0.5]}

    # Act
    text = render_result(result)

    # Assert
    lines = text.splitlines()
    assert any(line.split() == ["indep_vars", "coefficients", "pvalues"] for line in lines)
    assert any(line.split() == ["age", "0.25", "0.5"] for line in lines)


def test_matrix_columns_are_named_by_variables() -> None:
    # Act
    text = render_result({"variables": ["a", "b"], "centroids": [[1.0, 2.0], [3.0, 4.0]]})

    # Assert
    assert "row  a  b" in text
    assert "1    3  4" in text


def test_dict_of_dicts_is_one_table_with_a_row_per_term() -> None:
    # Act
    text = render_result({"sum_sq": {"age": 1.0, "Residuals": 2.0}, "df": {"age": 1, "Residuals": 9}})

    # Assert
    assert text.splitlines()[0].split() == ["sum_sq", "df"]
    assert text.splitlines()[3].split() == ["Residuals", "2", "9"]


def test_term_table_keeps_the_model_order_whatever_the_key_order() -> None:
    # Arrange: a result that came through a protobuf Struct has its keys in no particular order
    result = {
        "f_pvalue": {"Residuals": 0.0, "b:a": 0.5, "b": 0.2, "a": 0.1},
        "df": {"b:a": 1, "Residuals": 9, "a": 1, "b": 2},
        "sum_sq": {"a": 1.0, "Residuals": 2.0, "b:a": 3.0, "b": 4.0},
    }

    # Act
    lines = render_result(result, row_labels=["Intercept", "b", "a"]).splitlines()

    # Assert: statistics in their usual order; terms as the model adds them, residuals last
    assert lines[0].split() == ["sum_sq", "df", "f_pvalue"]
    assert [line.split()[0] for line in lines[2:]] == ["b", "a", "b:a", "Residuals"]


def test_records_are_flattened_into_columns() -> None:
    # Act
    text = render_result({"variable_based": [{"variable": "v", "data": {"mean": 1.5, "std": None}}]})

    # Assert
    assert "variable  data.mean  data.std" in text
    assert "v         1.5        -" in text


def test_caller_names_the_rows_of_unlabelled_lists() -> None:
    # Act
    text = render_result({"coefficients": [1.0, 2.0], "stderr": [0.1, 0.2]}, row_labels=["Intercept", "age"])

    # Assert
    assert "Intercept  1             0.1" in text


@pytest.mark.parametrize(("value", "text"), [(1.0, "1"), (0.123456789, "0.123457"), (None, "-"), (True, "true")])
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.skipif(not CASES.exists(), reason="../shared/reference_cases is absent")
@pytest.mark.parametrize("path", sorted(CASES.glob("*.json")) if CASES.exists() else [], ids=lambda p: p.stem)
def test_every_reference_output_renders(path: Path) -> None:
    # Arrange
    output = json.loads(path.read_text())["test_cases"][0]["output"]

    # Act
    text = render_result(output)

    # Assert
    assert text.strip()
    assert "{" not in text.splitlines()[0]
