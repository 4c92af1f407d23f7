"""Federated k-means through real processes equals Lloyd's algorithm on the pooled rows."""

from __future__ import annotations

import numpy as np
import pytest

from mip_client.client import Controller, Progress
from mip_client.federation import LocalFederation
from mip_common.errors import DeadlineError, InvalidRequestError
from tests.helpers.lloyd import lloyd
from tests.integration.conftest import demo_datasets, pooled_rows

VARIABLES = ["hippocampus", "entorhinal", "ventricles"]


def test_kmeans_equals_centralized_lloyd(federation: LocalFederation, controller: Controller) -> None:
    # Arrange
    params = {
        "numOfClusters": 4,
        "numOfIterations": 7,
        "initialMin": 0.0,
        "initialMax": 10.0,
        "seed": 3,
    }
    points = pooled_rows(federation, VARIABLES)
    expected = lloyd(points, params)
    events: list[Progress] = []

    # Act
    outcome = controller.run(
        "kmeans",
        data_model="demo:1.0",
        datasets=demo_datasets(controller),
        y=VARIABLES,
        parameters=params,
        on_progress=events.append,
    )

    # Assert
    np.testing.assert_allclose(np.array(outcome.result["centroids"]), expected["centroids"], rtol=1e-9, atol=1e-9)
    assert outcome.result["n_obs"] == len(points)
    assert sum(outcome.participants.values()) == len(points)
    assert [e.iteration for e in events if e.kind == "progress"] == list(range(1, expected["iterations"] + 1))


def test_kmeans_on_some_datasets_uses_only_their_nodes(controller: Controller) -> None:
    outcome = controller.run(
        "kmeans",
        data_model="demo:1.0",
        datasets=["demo_site1_a", "demo_site2_b"],
        y=VARIABLES,
        parameters={"numOfClusters": 2, "numOfIterations": 2},
    )

    assert sorted(outcome.participants) == ["local1", "local2"]


def test_unknown_variable_and_dataset_are_reported_together(controller: Controller) -> None:
    with pytest.raises(InvalidRequestError) as error:
        controller.run(
            "kmeans",
            data_model="demo:1.0",
            datasets=["nope_dataset"],
            y=["not_a_variable"],
            parameters={"numOfClusters": 2},
        )

    assert "nope_dataset" in error.value.message
    assert "not_a_variable" in error.value.message


def test_bad_parameter_is_invalid_argument(controller: Controller) -> None:
    with pytest.raises(InvalidRequestError, match="numOfClusters"):
        controller.run(
            "kmeans",
            data_model="demo:1.0",
            datasets=demo_datasets(controller),
            y=VARIABLES,
            parameters={"numOfClusters": 0},
        )


def test_experiment_out_of_budget_says_so_and_names_the_slowest_node(controller: Controller) -> None:
    # Act: far too little time for the work asked
    with pytest.raises(DeadlineError) as caught:
        controller.run(
            "kmeans",
            data_model="demo:1.0",
            datasets=demo_datasets(controller),
            y=VARIABLES,
            parameters={"numOfClusters": 8, "numOfIterations": 10_000, "initialMax": 500.0},
            timeout_s=0.1,
        )

    # Assert
    assert "time budget ran out" in caught.value.message
    assert "slowest node in this step: " in caught.value.message
