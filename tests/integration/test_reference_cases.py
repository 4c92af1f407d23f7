"""Every MIP reference case, run through one real federation: dementia:0.1 split over 3 local nodes.

Each case's request goes to the controller as is (data model, datasets, y, x, filters,
parameters); every number of its ``output`` must match with the tolerances of
reference_cases/README.md (``tests/helpers/reference.py``, shared with the in-memory
reference tests, holds the comparison and its documented departures).

The nodes keep the default ``min_rows=10`` (every node either holds none of a case's
rows or at least 10) and run with ``REFERENCE_DISCLOSURE``: exact extremes and cells of
any size, as the reference publishes them. The disclosure rules themselves are tested in
``tests/privacy``.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from algorithm_flows import DATASET_COLUMN
from algorithm_flows.decision_tree_flow import DecisionTreeFlow
from algorithm_flows.testing import run_flow
from mip_client.client import Controller
from mip_client.federation import LocalFederation, split_data_folder
from mip_common.result_schema import RESULT_SCHEMAS, check_result
from tests.helpers.mip_data import (
    DATA,
    REFERENCE_CASES,
    load_rows,
    load_variables,
    partitions_for,
    reference_cases,
    require_shared,
)
from tests.helpers.reference import REFERENCE_DISCLOSURE, compare_reference

pytestmark = pytest.mark.shared_data

ALGORITHMS = {
    "anova": "anova",
    "anova_oneway": "anova_oneway",
    "descriptive_stats": "descriptive_stats",
    "linear_regression": "linear_regression",
    "logistic_regression": "logistic_regression",
    "multiple_histograms": "multiple_histograms",
    "naive_bayes_categorical_fit": "naive_bayes_categorical_fit",
    "naive_bayes_gauss_fit": "naive_bayes_gaussian_fit",
    "pca": "pca",
    "pca_with_transformation": "pca_with_transformation",
    "pearson_correlation": "pearson_correlation",
    "ttest_onesample": "ttest_onesample",
    "ttest_paired": "ttest_paired",
}
"""Reference file name -> algorithm name."""
"""The threshold under which a federated result reports a count as null."""

CASES = [
    pytest.param(name, index, id=f"{name}-{index}")
    for name in ALGORITHMS
    for index in range(len(reference_cases(name)))
] or [pytest.param("none", 0, id="no-reference-cases")]


@pytest.fixture(scope="module")
def dementia_federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    require_shared()
    workdir = tmp_path_factory.mktemp("reference")
    folders = split_data_folder(DATA / "dementia_v_0_1", workdir / "data", 3)
    settings = REFERENCE_DISCLOSURE | {"missing_cde_columns": "empty"}
    with LocalFederation(workdir, [[f] for f in folders], node_settings=settings, is_gateway=True) as federation:
        yield federation


@pytest.fixture(scope="module")
def dementia(dementia_federation: LocalFederation) -> Iterator[Controller]:
    with Controller(dementia_federation.controller_address) as client:
        yield client


def post_json(url: str, body: Any) -> tuple[int, str]:
    """POST ``body`` as JSON; the HTTP status and the response text (errors included)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def test_every_reference_file_is_covered() -> None:
    # Arrange
    require_shared()
    # Act
    files = {path.stem for path in REFERENCE_CASES.glob("*.json")}
    # Assert
    assert files == set(ALGORITHMS)


@pytest.mark.parametrize(("name", "index"), CASES)
def test_reference_case_through_real_nodes(dementia: Controller, name: str, index: int) -> None:
    # Arrange
    require_shared()
    if name == "none":
        pytest.skip("no reference cases found")
    case = reference_cases(name)[index]
    inputdata: dict[str, Any] = case["input"]["inputdata"]
    expected = case["output"]

    # Act
    outcome = dementia.run(
        ALGORITHMS[name],
        data_model=inputdata["data_model"],
        datasets=inputdata["datasets"],
        y=inputdata.get("y") or [],
        x=inputdata.get("x") or [],
        filters=inputdata.get("filters"),
        parameters=case["input"].get("parameters") or {},
    )

    # Assert
    problems = compare_reference(ALGORITHMS[name], expected, outcome.result)
    assert not problems, "\n".join(problems[:20])
    assert not check_result(RESULT_SCHEMAS[ALGORITHMS[name]], outcome.result)


@pytest.mark.parametrize(("name", "index"), CASES)
def test_reference_case_through_the_mip_http_api(dementia_federation: LocalFederation, name: str, index: int) -> None:
    """The case's input posted as is to POST /algorithms/<name>, as a MIP front end does."""
    # Arrange
    require_shared()
    if name == "none":
        pytest.skip("no reference cases found")
    case = reference_cases(name)[index]
    expected = case["output"]

    # Act
    status, text = post_json(f"{dementia_federation.gateway_url}/algorithms/{ALGORITHMS[name]}", case["input"])

    # Assert
    assert status == 200, text
    result = json.loads(text)
    problems = compare_reference(ALGORITHMS[name], expected, result)
    assert not problems, "\n".join(problems[:20])
    assert not check_result(RESULT_SCHEMAS[ALGORITHMS[name]], result)


def test_decision_tree_with_30_classes_matches_the_in_memory_run(dementia: Controller) -> None:
    """A level's cut counts (up to 1024 cuts x 30 classes) cross DuckDB and Arrow unchanged."""
    # Arrange
    require_shared()
    folder = DATA / "dementia_v_0_1"
    rows, variables = load_rows(folder), load_variables(folder)
    datasets = tuple(sorted(rows[DATASET_COLUMN].unique()))
    variables[DATASET_COLUMN] = dataclasses.replace(variables[DATASET_COLUMN], enumerations=datasets)
    x = ("lefthippocampus", "righthippocampus", "leftamygdala")
    expected = run_flow(
        DecisionTreeFlow,
        partitions_for(rows, variables, datasets, [DATASET_COLUMN, *x]),
        variables,
        y=(DATASET_COLUMN,),
        x=x,
        parameters={"max_depth": 1},
        **REFERENCE_DISCLOSURE,
    )

    # Act
    outcome = dementia.run(
        "decision_tree",
        data_model="dementia:0.1",
        datasets=datasets,
        y=[DATASET_COLUMN],
        x=x,
        parameters={"max_depth": 1},
    )

    # Assert
    assert len(expected["classes"]) == 30
    problems = compare_reference("decision_tree", json.loads(json.dumps(expected)), outcome.result)
    assert not problems, "\n".join(problems[:20])
