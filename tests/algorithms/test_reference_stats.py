"""Every reference case of the statistics algorithms, run federated over 3 locals.

The rows come from ../shared (skipped when absent), split over three local nodes the
usual MIP way; each number of the case's ``output`` must match within the tolerances
of reference_cases/README.md.

Two documented departures:

* ``multiple_histograms`` runs with ``min_rows=1``: the reference reports every
  non-empty bin (even counts of 1) and ``null`` only for empty bins, which is the
  flow's suppression rule with a threshold of 1 row.
* ``anova_oneway``'s ``p_tuckey``: the reference holds statsmodels' ``psturng``, a
  table approximation clipped to [0.001, 0.9]; the flow reports the exact
  studentized-range p-value. It is checked tightly against the exact value of the
  reference's own statistic, and loosely against the reference's approximation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from algorithm_flows import AlgorithmFlow
from algorithm_flows.anova_flow import AnovaFlow
from algorithm_flows.anova_oneway_flow import AnovaOnewayFlow
from algorithm_flows.descriptive_stats_flow import DescriptiveStatsFlow
from algorithm_flows.multiple_histograms_flow import MultipleHistogramsFlow
from algorithm_flows.testing import run_flow
from algorithm_flows.ttest_onesample_flow import TTestOnesampleFlow
from algorithm_flows.ttest_paired_flow import TTestPairedFlow
from tests.helpers.mip_data import (
    DATA,
    load_rows,
    load_variables,
    partitions_for,
    reference_cases,
    require_shared,
)

DEFAULT_TOL = {"rtol": 1e-6, "atol": 1e-9}
TTEST_TOL = {"rtol": 1e-8, "atol": 1e-10}
PSTURNG_ATOL = 0.05
"""How far Gleason's table approximation (the reference) strays from the exact p-value."""

FLOWS: dict[str, tuple[type[AlgorithmFlow[Any]], dict[str, float], int]] = {
    "descriptive_stats": (DescriptiveStatsFlow, DEFAULT_TOL, 10),
    "ttest_onesample": (TTestOnesampleFlow, TTEST_TOL, 10),
    "ttest_paired": (TTestPairedFlow, TTEST_TOL, 10),
    "anova_oneway": (AnovaOnewayFlow, DEFAULT_TOL, 10),
    "anova": (AnovaFlow, DEFAULT_TOL, 10),
    "multiple_histograms": (MultipleHistogramsFlow, DEFAULT_TOL, 1),
}

_CACHE: dict[str, Any] = {}


def _cases() -> list[Any]:
    return [
        pytest.param(algorithm, number, case, id=f"{algorithm}-{number}")
        for algorithm in FLOWS
        for number, case in enumerate(reference_cases(algorithm))
    ] or [pytest.param("none", 0, {}, id="no-reference-cases")]


def _dementia() -> tuple[Any, Any]:
    if "rows" not in _CACHE:
        folder = DATA / "dementia_v_0_1"
        _CACHE["variables"] = load_variables(folder)
        _CACHE["rows"] = load_rows(folder)
    return _CACHE["rows"], _CACHE["variables"]


def _run_case(algorithm: str, case: dict[str, Any]) -> dict[str, Any]:
    flow, _, min_rows = FLOWS[algorithm]
    rows, variables = _dementia()
    inputdata = case["input"]["inputdata"]
    y = tuple(inputdata.get("y") or ())
    x = tuple(inputdata.get("x") or ())
    partitions = partitions_for(rows, variables, inputdata["datasets"], [*y, *x])
    return run_flow(
        flow,
        partitions,
        variables,
        y=y,
        x=x,
        parameters=case["input"].get("parameters") or {},
        min_rows=min_rows,
    )


@pytest.mark.shared_data
@pytest.mark.parametrize(("algorithm", "number", "case"), _cases())
def test_reference_case(algorithm: str, number: int, case: dict[str, Any]) -> None:
    # Arrange
    require_shared()
    if algorithm == "none":
        pytest.skip("no reference cases found")
    tolerances = FLOWS[algorithm][1]
    expected = case["output"]

    # Act
    actual = _run_case(algorithm, case)

    # Assert
    if algorithm == "descriptive_stats":
        for part in ("variable_based", "model_based"):
            _assert_records(expected[part], actual[part], tolerances, part)
    elif algorithm == "anova_oneway":
        _assert_tukey(expected, actual, tolerances)
    else:
        assert_matches(expected, actual, tolerances, algorithm)


def _assert_records(
    expected: list[dict[str, Any]], actual: list[dict[str, Any]], tol: dict[str, float], path: str
) -> None:
    def keyed(records: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
        return {(r["variable"], r["dataset"]): r["data"] for r in records}

    want, got = keyed(expected), keyed(actual)
    assert sorted(got) == sorted(want), path
    for key, data in want.items():
        assert_matches(data, got[key], tol, f"{path}{list(key)}")


def _assert_tukey(expected: dict[str, Any], actual: dict[str, Any], tol: dict[str, float]) -> None:
    head = {k: v for k, v in expected.items() if k != "tuckey_test"}
    assert_matches(head, {k: actual[k] for k in head}, tol, "anova_oneway")
    assert len(actual["tuckey_test"]) == len(expected["tuckey_test"])
    k = len({p["groupA"] for p in expected["tuckey_test"]} | {p["groupB"] for p in expected["tuckey_test"]})
    for i, (want, got) in enumerate(zip(expected["tuckey_test"], actual["tuckey_test"], strict=True)):
        path = f"tuckey_test[{i}]"
        assert_matches(
            {f: v for f, v in want.items() if f != "p_tuckey"},
            {f: v for f, v in got.items() if f != "p_tuckey"},
            tol,
            path,
        )
        exact = stats.studentized_range.sf(math.sqrt(2.0) * abs(want["t_stat"]), k, expected["df_residual"])
        assert np.isclose(got["p_tuckey"], float(exact), **tol), path
        approximate = want["p_tuckey"]
        if approximate == 0.9:
            assert got["p_tuckey"] >= 0.9 - PSTURNG_ATOL, path
        elif approximate == 0.001:
            assert got["p_tuckey"] <= 0.001 + 1e-4, path
        else:
            assert got["p_tuckey"] == pytest.approx(approximate, abs=PSTURNG_ATOL), path


def assert_matches(expected: Any, actual: Any, tol: dict[str, float], path: str = "") -> None:
    """``actual`` has ``expected``'s shape; counts are exact, other numbers within ``tol``."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert sorted(actual) == sorted(expected), path
        for key, value in expected.items():
            assert_matches(value, actual[key], tol, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), path
        assert len(actual) == len(expected), path
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_matches(want, got, tol, f"{path}[{i}]")
    elif expected is None or isinstance(expected, (str, bool, int)):
        assert actual == expected, path
    else:
        assert isinstance(actual, (int, float)), path
        assert not isinstance(actual, bool), path
        assert np.isclose(actual, expected, **tol), f"{path}: {actual!r} != {expected!r}"
