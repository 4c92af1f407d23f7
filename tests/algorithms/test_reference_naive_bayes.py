"""Every MIP reference case of naive Bayes fit, federated over 3 locals like a real deployment.

The ``dataset`` variable's levels are the datasets the federation holds (what a
controller's catalogue reports), not the CDE file's list, which also names the
``*_test`` datasets that are never loaded beside the numbered ones.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algorithm_flows import DATASET_COLUMN, Variable
from algorithm_flows.naive_bayes_categorical_fit_flow import CategoricalNBFitFlow
from algorithm_flows.naive_bayes_gaussian_fit_flow import GaussianNBFitFlow
from algorithm_flows.runtime import AlgorithmFlow
from algorithm_flows.testing import run_flow
from tests.helpers.mip_data import (
    DATA,
    load_rows,
    load_variables,
    partitions_for,
    reference_cases,
    require_shared,
)
from tests.helpers.reference import REFERENCE_DISCLOSURE

pytestmark = pytest.mark.shared_data

RTOL, ATOL = 1e-6, 1e-9

GAUSS_CASES = reference_cases("naive_bayes_gauss_fit")
CATEGORICAL_CASES = reference_cases("naive_bayes_categorical_fit")


@cache
def dementia() -> tuple[pd.DataFrame, dict[str, Variable]]:
    folder = DATA / "dementia_v_0_1"
    rows = load_rows(folder)
    variables = load_variables(folder)
    datasets = tuple(sorted(rows[DATASET_COLUMN].unique()))
    variables[DATASET_COLUMN] = dataclasses.replace(variables[DATASET_COLUMN], enumerations=datasets)
    return rows, variables


def run_case(flow: type[AlgorithmFlow[Any]], case: dict[str, Any]) -> dict[str, Any]:
    require_shared()
    rows, variables = dementia()
    inputdata = case["input"]["inputdata"]
    assert inputdata["data_model"] == "dementia:0.1"
    assert inputdata["filters"] is None
    y, x = tuple(inputdata["y"]), tuple(inputdata["x"])
    parts = partitions_for(rows, variables, inputdata["datasets"], [*y, *x])
    return run_flow(
        flow, parts, variables, y=y, x=x, parameters=case["input"]["parameters"] or None, **REFERENCE_DISCLOSURE
    )


def case_id(case: dict[str, Any]) -> str:
    inputdata = case["input"]["inputdata"]
    return f"{case['input']['test_case_num']}-{inputdata['y'][0]}"


@pytest.mark.parametrize("case", GAUSS_CASES, ids=[case_id(c) for c in GAUSS_CASES])
def test_gaussian_fit_matches_reference(case: dict[str, Any]) -> None:
    # Arrange
    expected = case["output"]
    # Act
    result = run_case(GaussianNBFitFlow, case)
    # Assert
    assert result["class_count"] == expected["class_count"]
    np.testing.assert_allclose(result["theta"], expected["theta"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(result["var"], expected["var"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", CATEGORICAL_CASES, ids=[case_id(c) for c in CATEGORICAL_CASES])
def test_categorical_fit_matches_reference(case: dict[str, Any]) -> None:
    # Arrange
    expected = case["output"]
    # Act
    result = run_case(CategoricalNBFitFlow, case)
    # Assert
    assert result["class_count"] == expected["class_count"]
    assert result["category_count"] == expected["category_count"]


def test_reference_cases_are_present() -> None:
    # Arrange / Act
    require_shared()
    # Assert
    assert len(GAUSS_CASES) == 10
    assert len(CATEGORICAL_CASES) == 10
