"""Every MIP reference case of the regressions, Pearson and PCA, run federated over 3 locals.

Rows come from ../shared (skipped when absent), split like the reference deployment; every
number of each case's ``output`` is compared with the tolerances of reference_cases/README.md.
All cases pass with the default min_rows=10: every node either holds no requested rows or
at least 10, and a node without rows adds nothing.

One documented exception: the reference files record ``r_squared_cs`` (Cox–Snell) as 0.0
in every logistic case, although their own ``ll``, ``ll0`` and ``n_obs`` give
``1 - exp(2 (ll0 - ll) / n)`` well above 0. We return the Cox–Snell value and check it
against that formula instead of the placeholder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
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

ALGORITHMS = [
    "linear_regression",
    "logistic_regression",
    "pearson_correlation",
    "pca",
    "pca_with_transformation",
]
DEFAULT_TOL = (1e-6, 1e-9)
TOLERANCES: dict[str, dict[str, tuple[float, float]]] = {
    "pearson_correlation": {"*": (1e-7, 1e-10)},
    "pca": {"*": (1e-7, 1e-10)},
    "pca_with_transformation": {"*": (1e-7, 1e-10)},
    "logistic_regression": {key: (1e-5, 1e-5) for key in ("stderr", "z_scores", "pvalues", "lower_ci", "upper_ci")},
}
EXACT = {"n_obs", "df_model", "df_resid"}
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


def _tolerance(algorithm: str, key: str) -> tuple[float, float]:
    rules = TOLERANCES.get(algorithm, {})
    return rules.get(key, rules.get("*", DEFAULT_TOL))


def _compare(algorithm: str, key: str, actual: Any, expected: Any, path: str) -> list[str]:
    if isinstance(expected, dict):
        problems = [] if set(actual) == set(expected) else [f"{path}: keys differ"]
        for name, value in expected.items():
            problems += _compare(algorithm, key, actual.get(name), value, f"{path}.{name}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r:.80}"]
        problems = []
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            problems += _compare(algorithm, key, a, e, f"{path}[{i}]")
        return problems
    if isinstance(expected, str) or key in EXACT:
        return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]
    rtol, atol = _tolerance(algorithm, key)
    if math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol):
        return []
    return [f"{path}: {actual!r} != {expected!r} (rtol {rtol}, atol {atol})"]


def _align_signs(actual: list[list[float]], expected: list[list[float]]) -> list[list[float]]:
    """Eigenvectors are equal up to sign: flip each to point like the expected one."""
    return [[-v for v in a] if np.dot(a, e) < 0 else a for a, e in zip(actual, expected, strict=True)]


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
    expected = dict(case["output"])

    # act
    result = run_flow(flow, parts, variables, y=y, x=x, parameters=case["input"].get("parameters") or {})

    # assert
    assert set(result) == set(expected)
    if "eigen_vecs" in expected:
        result["eigen_vecs"] = _align_signs(result["eigen_vecs"], expected["eigen_vecs"])
    if algorithm == "logistic_regression":
        cox_snell = 1.0 - math.exp(2.0 * (expected["ll0"] - expected["ll"]) / expected["n_obs"])
        expected["r_squared_cs"] = cox_snell
    problems = [
        problem for key, value in expected.items() for problem in _compare(algorithm, key, result[key], value, key)
    ]
    assert not problems, "\n".join(problems[:20])
