"""Every reference case of the statistics algorithms, run federated over 3 locals.

The rows come from ../shared (skipped when absent), split over three local nodes the
usual MIP way; each number of the case's ``output`` must match within the tolerances
of reference_cases/README.md.

The comparison and its documented departures (Tukey p-values, ...) live in
``tests/helpers/reference.py``, shared with the run through real nodes. Here
``multiple_histograms`` runs with ``min_rows=1``: the reference reports every
non-empty bin (even counts of 1) and ``null`` only for empty bins, which is the
flow's suppression rule with a threshold of 1 row.
"""

from __future__ import annotations

from typing import Any

import pytest

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
from tests.helpers.reference import REFERENCE_DISCLOSURE, compare_reference

FLOWS: dict[str, tuple[type[AlgorithmFlow[Any]], int]] = {
    "descriptive_stats": (DescriptiveStatsFlow, 10),
    "ttest_onesample": (TTestOnesampleFlow, 10),
    "ttest_paired": (TTestPairedFlow, 10),
    "anova_oneway": (AnovaOnewayFlow, 10),
    "anova": (AnovaFlow, 10),
    "multiple_histograms": (MultipleHistogramsFlow, 1),
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
    flow, min_rows = FLOWS[algorithm]
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
        **REFERENCE_DISCLOSURE,
    )


@pytest.mark.shared_data
@pytest.mark.parametrize(("algorithm", "number", "case"), _cases())
def test_reference_case(algorithm: str, number: int, case: dict[str, Any]) -> None:
    # Arrange
    require_shared()
    if algorithm == "none":
        pytest.skip("no reference cases found")
    expected = case["output"]

    # Act
    actual = _run_case(algorithm, case)

    # Assert
    problems = compare_reference(algorithm, expected, actual)
    assert not problems, "\n".join(problems[:20])
