"""Pipelines through real nodes: a step reads an earlier step's exposed table with ``input_from``.

Each pipeline is checked against the same computation on the pooled rows: PCA of the
transformed rows, then Lloyd's k-means on the component scores from the very same seeded
initial centroids the flow draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mip_client.client import Controller, experiment_step
from mip_client.federation import LocalFederation
from mip_common.errors import InvalidRequestError
from tests.helpers.lloyd import lloyd
from tests.integration.conftest import demo_datasets, pooled_rows

VARIABLES = ["hippocampus", "entorhinal", "ventricles"]
TRANSFORMATION = {"log": ["hippocampus"], "center": ["entorhinal"]}
KMEANS: dict[str, Any] = {"numOfClusters": 3, "numOfIterations": 6, "initialMin": -2.0, "initialMax": 2.0, "seed": 5}
SCORES = ["pc1", "pc2"]


def _transformed(points: np.ndarray) -> np.ndarray:
    values = points.copy()
    values[:, 0] = np.log(values[:, 0])
    values[:, 1] -= values[:, 1].mean()
    return values


def _pca(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues, eigenvectors (rows) and scores of the standardized rows, as sklearn PCA."""
    standardized = (values - values.mean(axis=0)) / values.std(axis=0, ddof=1)
    eigen_vals, eigen_vecs = np.linalg.eigh(np.cov(standardized, rowvar=False))
    order = np.argsort(eigen_vals)[::-1]
    return eigen_vals[order], eigen_vecs[:, order].T, standardized @ eigen_vecs[:, order]


def _aligned(expected_vecs: np.ndarray, expected_scores: np.ndarray, actual_vecs: Any) -> np.ndarray:
    """The pooled scores with each component's sign turned like the federation's eigenvector."""
    signs: np.ndarray = np.sign(np.sum(expected_vecs * np.array(actual_vecs), axis=1))
    aligned: np.ndarray = expected_scores * signs
    return aligned


def _kmeans_reference(scores: np.ndarray) -> np.ndarray:
    centroids: np.ndarray = lloyd(scores, KMEANS)["centroids"]
    return centroids


def test_kmeans_on_pca_scores_equals_pooled_computation(federation: LocalFederation, controller: Controller) -> None:
    # Arrange
    datasets = demo_datasets(controller)
    points = pooled_rows(federation, VARIABLES)
    _, vecs, scores = _pca(_transformed(points))
    steps = [
        experiment_step(
            "pca_with_transformation",
            "demo:1.0",
            datasets,
            y=VARIABLES,
            parameters={"data_transformation": TRANSFORMATION},
            name="pca",
        ),
        experiment_step("kmeans", "demo:1.0", datasets, y=SCORES, parameters=KMEANS, input_from="pca.scores"),
    ]

    # Act
    pca, kmeans = controller.run_pipeline(steps)

    # Assert
    expected = _kmeans_reference(_aligned(vecs, scores, pca.result["eigen_vecs"])[:, :2])
    np.testing.assert_allclose(np.array(kmeans.result["centroids"]), expected, rtol=1e-8, atol=1e-9)
    assert kmeans.result["n_obs"] == len(points) == pca.result["n_obs"]
    assert kmeans.participants.keys() == pca.participants.keys()


def test_three_step_chain_equals_pooled_computation(federation: LocalFederation, controller: Controller) -> None:
    # Arrange: transform + PCA, PCA again on the transformed rows, k-means on those scores
    datasets = demo_datasets(controller)
    points = pooled_rows(federation, VARIABLES)
    eigen_vals, vecs, scores = _pca(_transformed(points))
    steps = [
        experiment_step(
            "pca_with_transformation",
            "demo:1.0",
            datasets,
            y=VARIABLES,
            parameters={"data_transformation": TRANSFORMATION},
            name="transform",
        ),
        experiment_step("pca", "demo:1.0", datasets, y=VARIABLES, name="pca", input_from="transform.transformed"),
        experiment_step(
            "kmeans", "demo:1.0", datasets, y=SCORES, parameters=KMEANS, name="clusters", input_from="pca.scores"
        ),
    ]

    # Act
    transform, pca, kmeans = controller.run_pipeline(steps)

    # Assert
    np.testing.assert_allclose(pca.result["eigen_vals"], eigen_vals, rtol=1e-8)
    np.testing.assert_allclose(pca.result["eigen_vals"], transform.result["eigen_vals"], rtol=1e-8)
    expected = _kmeans_reference(_aligned(vecs, scores, pca.result["eigen_vecs"])[:, :2])
    np.testing.assert_allclose(np.array(kmeans.result["centroids"]), expected, rtol=1e-8, atol=1e-9)
    assert [s.step for s in (transform, pca, kmeans)] == ["transform", "pca", "clusters"]


def test_input_from_an_output_never_exposed_is_refused(controller: Controller) -> None:
    # Arrange
    datasets = demo_datasets(controller)
    steps = [
        experiment_step("pca", "demo:1.0", datasets, y=VARIABLES, name="pca"),
        experiment_step("kmeans", "demo:1.0", datasets, y=SCORES, parameters=KMEANS, input_from="pca.labels"),
    ]

    # Act / Assert
    with pytest.raises(InvalidRequestError, match="exposed no output 'labels'"):
        controller.run_pipeline(steps)


def test_input_from_a_later_step_is_refused(controller: Controller) -> None:
    # Arrange
    datasets = demo_datasets(controller)
    steps = [
        experiment_step("kmeans", "demo:1.0", datasets, y=SCORES, parameters=KMEANS, input_from="pca.scores"),
        experiment_step("pca", "demo:1.0", datasets, y=VARIABLES, name="pca"),
    ]

    # Act / Assert
    with pytest.raises(InvalidRequestError, match="must name an earlier step"):
        controller.run_pipeline(steps)
