"""Every MIP reference case of the regressions, Pearson and PCA, run federated over 3 locals.

Rows come from ../shared (skipped when absent), split like the reference deployment; every
number of each case's ``output`` is compared with the tolerances of reference_cases/README.md.
All cases pass with the default min_rows=10: every node either holds no requested rows or
at least 10, and a node without rows adds nothing.

The comparison lives in ``tests/helpers/reference.py`` (shared with the run through real
nodes), with its one documented exception here: the reference files record ``r_squared_cs``
(Cox–Snell) as 0.0 in every logistic case, although their own ``ll``, ``ll0`` and ``n_obs``
give ``1 - exp(2 (ll0 - ll) / n)`` well above 0. We return the Cox–Snell value and check it
against that formula instead of the placeholder.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from algorithm_flows import Variable, discover_flows
from algorithm_flows.testing import run_flow
from tests.helpers.mip_data import (
    DATA,
    load_rows,
    load_variables,
    partitions_for,
    reference_cases,
    require_shared,
)
from tests.helpers.reference import REFERENCE_DISCLOSURE, compare_reference

ALGORITHMS = [
    "linear_regression",
    "logistic_regression",
    "pearson_correlation",
    "pca",
    "pca_with_transformation",
]
CASES = [
    pytest.param(algorithm, index, id=f"{algorithm}-{index}")
    for algorithm in ALGORITHMS
    for index in range(len(reference_cases(algorithm)))
]


@cache
def _data_model(folder: Path) -> tuple[pd.DataFrame, Mapping[str, Variable]]:
    return load_rows(folder), load_variables(folder)


def _folder(data_model: str) -> Path:
    code, version = data_model.split(":")
    return DATA / f"{code}_v_{version.replace('.', '_')}"


@pytest.mark.shared_data
@pytest.mark.parametrize(("algorithm", "index"), CASES)
def test_reference_case(algorithm: str, index: int) -> None:
    # arrange
    require_shared()
    case = reference_cases(algorithm)[index]
    inputdata = case["input"]["inputdata"]
    rows, variables = _data_model(_folder(inputdata["data_model"]))
    y = tuple(inputdata.get("y") or ())
    x = tuple(inputdata.get("x") or ())
    parts = partitions_for(rows, variables, inputdata["datasets"], [*y, *x])
    flow = discover_flows()[algorithm]
    expected = case["output"]

    # act
    result = run_flow(
        flow, parts, variables, y=y, x=x, parameters=case["input"].get("parameters") or {}, **REFERENCE_DISCLOSURE
    )

    # assert
    problems = compare_reference(algorithm, expected, result)
    assert not problems, "\n".join(problems[:20])
