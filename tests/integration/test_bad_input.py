"""Bad input reaches a real controller and comes back as INVALID_ARGUMENT naming the problem, never INTERNAL."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mip_client.client import Controller, experiment_step
from mip_common.errors import InvalidRequestError
from tests.integration.conftest import demo_datasets

Y = ["hippocampus", "entorhinal"]


def _filter(value: Any) -> dict[str, Any]:
    return {
        "condition": "AND",
        "rules": [
            {"id": "hippocampus", "field": "hippocampus", "type": "double", "operator": "greater", "value": value}
        ],
    }


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"numOfClusters": 2, "initialMax": math.nan}, "initialMax"),
        ({"numOfClusters": 2, "initialMin": -math.inf}, "initialMin"),
        ({"numOfClusters": 2, "initialMin": -1e308, "initialMax": 1e308}, "finite"),
        ({"numOfClusters": 2, "tolerance": math.inf}, "tolerance"),
    ],
)
def test_non_finite_parameters_are_invalid(controller: Controller, parameters: dict[str, Any], problem: str) -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError, match=problem):
        controller.run("kmeans", data_model="demo:1.0", datasets=demo_datasets(controller), y=Y, parameters=parameters)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_filter_values_are_invalid(controller: Controller, value: float) -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError, match="finite"):
        controller.run(
            "descriptive_stats",
            data_model="demo:1.0",
            datasets=demo_datasets(controller),
            y=Y,
            filters=_filter(value),
        )


def test_transformations_refused_inside_a_flow_are_invalid(controller: Controller) -> None:
    # Act / Assert
    with pytest.raises(InvalidRequestError, match="square"):
        controller.run(
            "pca_with_transformation",
            data_model="demo:1.0",
            datasets=demo_datasets(controller),
            y=Y,
            parameters={"data_transformation": {"square": ["hippocampus"]}},
        )


def test_input_from_with_a_variable_the_exposed_table_lacks_is_invalid(controller: Controller) -> None:
    # Arrange
    datasets = demo_datasets(controller)
    steps = [
        experiment_step("pca", "demo:1.0", datasets, y=Y, name="pca"),
        experiment_step(
            "kmeans",
            "demo:1.0",
            datasets,
            y=["pc1", "nosuch"],
            parameters={"numOfClusters": 2},
            input_from="pca.scores",
        ),
    ]

    # Act / Assert
    with pytest.raises(InvalidRequestError, match="nosuch"):
        controller.run_pipeline(steps)
