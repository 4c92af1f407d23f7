"""Typed results: the wire encoding of StepResult.result_json and the per-algorithm result classes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from algorithm_flows import discover_flows
from mip_client.results import typed_result
from mip_common.result_schema import RESULT_SCHEMAS, check_result
from mip_controller.wire import result_json


def test_result_json_keeps_integers_order_and_spells_non_finite_floats() -> None:
    # Arrange
    values = {"n_obs": np.int64(1200), "z": [np.float64("nan"), math.inf, -math.inf, 0.5], "a": None}

    # Act
    text = result_json(values)

    # Assert
    assert text == '{"n_obs":1200,"z":["NaN","Infinity","-Infinity",0.5],"a":null}'


def test_every_flow_publishes_a_result_schema() -> None:
    # Act
    missing = set(discover_flows()) ^ set(RESULT_SCHEMAS)

    # Assert
    assert not missing


def test_typed_result_decodes_non_finite_floats_and_keeps_ints() -> None:
    # Arrange
    wire = json.loads(
        '{"n_obs":12,"t_value":"Infinity","p_value":0,"df":"NaN","mean_diff":1.5,"se_diff":[0.25],'
        '"ci_upper":"Infinity","ci_lower":1,"cohens_d":null}'
    )

    # Act
    result = typed_result("ttest_onesample", wire)

    # Assert
    assert type(result).__name__ == "TtestOnesampleResult"
    assert result.n_obs == 12  # type: ignore[attr-defined]
    assert isinstance(result.n_obs, int)  # type: ignore[attr-defined]
    assert result.t_value == math.inf  # type: ignore[attr-defined]
    assert math.isnan(result.df)  # type: ignore[attr-defined]
    assert isinstance(result.p_value, float)  # type: ignore[attr-defined]
    assert list(result.to_dict()) == [f.name for f in RESULT_SCHEMAS["ttest_onesample"]]


def test_a_correlation_table_becomes_a_data_frame_indexed_by_variable() -> None:
    # Arrange
    pytest.importorskip("pandas")
    table = {"variables": ["a", "b"], "c": [0.5, "NaN"]}
    wire = {
        "n_obs": 3,
        **{k: table for k in ("correlations", "p-values", "low_confidence_intervals", "high_confidence_intervals")},
    }

    # Act
    frame = typed_result("pearson_correlation", wire).to_frame("p-values")

    # Assert
    assert list(frame.index) == ["a", "b"]
    assert frame.loc["a", "c"] == 0.5
    assert math.isnan(frame.loc["b", "c"])


def test_check_result_names_a_float_count_and_a_missing_field() -> None:
    # Arrange
    wire = {"variables": ["x"], "centroids": [[1.0]], "n_obs": 1200.0, "iterations": 3, "is_converged": True}

    # Act
    problems = check_result(RESULT_SCHEMAS["kmeans"], wire)

    # Assert
    assert problems == ["result.n_obs must be int, got 1200.0", "result: missing field 'inertia'"]


def test_a_matrix_frame_is_labelled_by_the_fields_its_dimensions_name() -> None:
    # Arrange
    pytest.importorskip("pandas")
    wire = {
        "variables": ["a", "b"],
        "centroids": [[1, 2], [3, 4]],
        "n_obs": 4,
        "iterations": 1,
        "is_converged": True,
        "inertia": 0,
    }

    # Act
    frame = typed_result("kmeans", wire).to_frame("centroids")

    # Assert
    assert list(frame.columns) == ["a", "b"]
    assert frame.loc[1, "b"] == 4.0


def test_the_readme_lists_every_result_field() -> None:
    # Arrange
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `")]

    # Assert
    for name, fields in RESULT_SCHEMAS.items():
        assert any(
            all(f"`{f.name}` {f.type}" in row for f in fields) for row in rows if row.startswith(f"| `{name}` |")
        )
