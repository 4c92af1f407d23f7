"""Each attack of issue 12, tried by a researcher through the controller against real nodes.

Every test asserts the refusal (naming its rule, never a count under the threshold) or
that no number in the result equals a row's value.
"""

from __future__ import annotations

from typing import Any

import pytest

from mip_client.client import Controller
from mip_client.federation import LocalFederation
from mip_common.errors import InvalidRequestError, MipError, SelectionRuleError, SmallCellError
from tests.privacy.conftest import SITE1, complete, numbers, one_row_rule, rows_filter, site_rows

pytestmark = pytest.mark.slow


def _nine_cn_one_ad(federation: LocalFederation, *columns: str) -> dict[str, Any]:
    rows = complete(site_rows(federation, "demo_site1_a"), *columns)
    cn = [r for r in rows if r["diagnosis"] == "CN"][:9]
    ad = [r for r in rows if r["diagnosis"] == "AD"][:1]
    return rows_filter(cn + ad)


def _assert_refusal(error: MipError, rule: str) -> None:
    assert rule in error.message
    for small in range(1, 10):
        assert f" {small} row" not in error.message
        assert f"({small})" not in error.message


# --- differencing -------------------------------------------------------------------------


def test_differencing_on_an_identifier_is_refused(researcher: Controller) -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError) as error:
        researcher.run(
            "descriptive_stats",
            data_model="demo:1.0",
            datasets=SITE1,
            y=["hippocampus", "age"],
            filters={
                "condition": "AND",
                "rules": [{"id": "subjectcode", "field": "subjectcode", "operator": "not_equal", "value": "zzz"}],
            },
        )
    assert "identifies people" in error.value.message


def test_an_identifier_cannot_be_analysed(researcher: Controller) -> None:
    with pytest.raises(InvalidRequestError, match="identifies people"):
        researcher.run("descriptive_stats", data_model="demo:1.0", datasets=SITE1, y=["subjectcode"])


def test_differencing_one_person_out_with_quasi_identifiers_is_refused(
    attacked: LocalFederation, researcher: Controller
) -> None:
    # Arrange: NOT (this one row), the second query of a differencing pair
    [target] = complete(site_rows(attacked, "demo_site1_a"), "hippocampus")[:1]
    everyone_but = {"condition": "AND", "not": True, "rules": [one_row_rule(target)]}

    # Act / Assert
    with pytest.raises(SelectionRuleError) as error:
        researcher.run(
            "descriptive_stats", data_model="demo:1.0", datasets=SITE1, y=["hippocampus", "age"], filters=everyone_but
        )
    _assert_refusal(error.value, "selection rule")


def test_threshold_oracle_on_an_identifier_is_refused(researcher: Controller) -> None:
    oracle = {
        "condition": "OR",
        "rules": [
            {"id": "subjectcode", "field": "subjectcode", "operator": "in", "value": ["demo_site1_a_00001"]},
            {
                "condition": "AND",
                "rules": [
                    {"id": "subjectcode", "field": "subjectcode", "operator": "equal", "value": "demo_site1_a_00002"},
                    {"id": "diagnosis", "field": "diagnosis", "operator": "equal", "value": "AD"},
                ],
            },
        ],
    }
    with pytest.raises(InvalidRequestError, match="identifies people"):
        researcher.run("descriptive_stats", data_model="demo:1.0", datasets=SITE1, y=["age"], filters=oracle)


# --- extremes ------------------------------------------------------------------------------


def test_descriptive_extremes_are_no_row_values(attacked: LocalFederation, researcher: Controller) -> None:
    # Arrange
    values = {float(r["hippocampus"]) for d in SITE1 for r in site_rows(attacked, d) if r["hippocampus"]}
    values |= {float(r["age"]) for d in SITE1 for r in site_rows(attacked, d) if r["age"]}

    # Act
    result = researcher.run("descriptive_stats", data_model="demo:1.0", datasets=SITE1, y=["hippocampus", "age"])

    # Assert
    shown = [
        record["data"][stat]
        for part in ("variable_based", "model_based")
        for record in result.result[part]
        if record["data"]
        for stat in ("min", "q1", "q2", "q3", "max")
    ]
    shown = [v for v in shown if v is not None]  # pooled quartiles are not reported
    assert len(shown) >= 10
    assert not {float(v) for v in shown} & {v for v in values if v not in _shared_by_many(attacked)}


def _shared_by_many(federation: LocalFederation) -> set[float]:
    """Values held by at least 10 rows (ages): a coded statistic may equal one of those."""
    counts: dict[float, int] = {}
    for d in SITE1:
        for r in site_rows(federation, d):
            for column in ("hippocampus", "age"):
                if r[column]:
                    counts[float(r[column])] = counts.get(float(r[column]), 0) + 1
    return {v for v, n in counts.items() if n >= 10}


def test_histogram_edges_are_no_row_values(attacked: LocalFederation, researcher: Controller) -> None:
    # Arrange
    values = {float(r["hippocampus"]) for d in SITE1 for r in site_rows(attacked, d) if r["hippocampus"]}

    # Act
    result = researcher.run(
        "multiple_histograms", data_model="demo:1.0", datasets=SITE1, y=["hippocampus"], parameters={"bins": 10}
    )

    # Assert
    [overall] = result.result["histogram"]
    assert not set(overall["bins"]) & values
    assert min(overall["bins"]) > min(values)
    assert max(overall["bins"]) < max(values)


# --- small cells ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "y", "x", "parameters"),
    [
        ("naive_bayes_gaussian_fit", ["diagnosis"], ["hippocampus"], {}),
        ("naive_bayes_categorical_fit", ["diagnosis"], ["gender"], {}),
        ("anova_oneway", ["hippocampus"], ["diagnosis"], {}),
        ("linear_regression", ["hippocampus"], ["diagnosis"], {}),
        ("logistic_regression", ["diagnosis"], ["hippocampus"], {"positive_class": "AD"}),
    ],
)
def test_a_one_row_level_is_refused(
    attacked: LocalFederation,
    researcher: Controller,
    algorithm: str,
    y: list[str],
    x: list[str],
    parameters: dict[str, Any],
) -> None:
    # Arrange: 9 CN rows and 1 AD row pass min_rows (10)
    filters = _nine_cn_one_ad(attacked, *y, *x)

    # Act / Assert
    with pytest.raises(SmallCellError) as error:
        researcher.run(
            algorithm, data_model="demo:1.0", datasets=SITE1, y=y, x=x, filters=filters, parameters=parameters
        )
    _assert_refusal(error.value, "cell rule")
    if algorithm in ("anova_oneway", "linear_regression"):
        assert "'diagnosis'" in error.value.message  # the variable, never the level or its count
        assert "'AD'" not in error.value.message


def test_a_t_test_group_of_one_is_refused(attacked: LocalFederation, researcher: Controller) -> None:
    filters = _nine_cn_one_ad(attacked, "hippocampus", "diagnosis")
    with pytest.raises(SmallCellError) as error:
        researcher.run(
            "ttest_independent",
            data_model="demo:1.0",
            datasets=SITE1,
            y=["hippocampus"],
            x=["diagnosis"],
            filters=filters,
            parameters={"groupA": "CN", "groupB": "AD"},
        )
    _assert_refusal(error.value, "cell rule")


def test_a_dataset_of_one_row_as_a_class_is_refused(attacked: LocalFederation, researcher: Controller) -> None:
    # Arrange: 9 rows of one dataset and 1 of the other
    a = complete(site_rows(attacked, "demo_site1_a"), "hippocampus")[:9]
    b = complete(site_rows(attacked, "demo_site1_b"), "hippocampus")[:1]

    # Act / Assert
    with pytest.raises(SmallCellError) as error:
        researcher.run(
            "naive_bayes_gaussian_fit",
            data_model="demo:1.0",
            datasets=SITE1,
            y=["dataset"],
            x=["hippocampus"],
            filters=rows_filter(a + b),
        )
    _assert_refusal(error.value, "cell rule")


def test_kmeans_with_clusters_near_the_row_count_is_refused(attacked: LocalFederation, researcher: Controller) -> None:
    # Arrange
    rows = complete(site_rows(attacked, "demo_site1_a"), "hippocampus", "entorhinal")[:12]

    # Act / Assert
    with pytest.raises(SmallCellError) as error:
        researcher.run(
            "kmeans",
            data_model="demo:1.0",
            datasets=SITE1,
            y=["hippocampus", "entorhinal"],
            filters=rows_filter(rows),
            parameters={"numOfClusters": 8, "initialMin": 1.0, "initialMax": 5.0},
        )
    _assert_refusal(error.value, "cell rule")
    assert "fewer clusters" in error.value.message


def test_the_decision_tree_is_refused_by_default(researcher: Controller) -> None:
    with pytest.raises(MipError, match="only an operator who sets extremes"):
        researcher.run("decision_tree", data_model="demo:1.0", datasets=SITE1, y=["diagnosis"], x=["hippocampus"])


def test_a_suppressed_category_count_is_null_not_a_small_number(
    attacked: LocalFederation, researcher: Controller
) -> None:
    # Arrange
    filters = _nine_cn_one_ad(attacked, "diagnosis", "hippocampus")

    # Act
    result = researcher.run(
        "descriptive_stats", data_model="demo:1.0", datasets=SITE1, y=["diagnosis"], filters=filters
    )

    # Assert
    counts = [r["data"]["counts"] for r in result.result["variable_based"] if r["data"]]
    assert counts
    for shown in counts:
        assert all(n is None or n >= 10 for n in shown.values())
    assert all(v >= 10 or v == 0 for v in numbers(counts))


@pytest.mark.parametrize("federation_name", ["attacked", "attacked_secure"])
def test_a_one_row_level_s_histogram_shows_no_small_bin(
    request: pytest.FixtureRequest, attacked: LocalFederation, federation_name: str
) -> None:
    # Arrange: 9 CN rows and 1 AD row; the AD histogram's one filled bin holds that row
    filters = _nine_cn_one_ad(attacked, "diagnosis", "hippocampus")
    federation: LocalFederation = request.getfixturevalue(federation_name)

    # Act
    with Controller(federation.controller_address) as client:
        outcome = client.run(
            "multiple_histograms",
            data_model="demo:1.0",
            datasets=SITE1,
            y=["hippocampus"],
            x=["diagnosis"],
            filters=filters,
            parameters={"bins": 5},
        )

    # Assert: every shown count is 0 or at least min_cell_rows; the AD row's bin is null
    histograms = outcome.result["histogram"]
    shown = [c for h in histograms for c in h["counts"] if c is not None]
    assert all(c == 0 or c >= 10 for c in shown)
    [ad] = [h for h in histograms if h["grouping_enum"] == "AD"]
    assert None in ad["counts"]
    assert (federation_name == "attacked_secure") == bool(outcome.secure_aggregation_outputs)
