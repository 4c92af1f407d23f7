"""Federated PCA (with and without transformations) equals scikit-learn PCA on the pooled rows."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from sklearn.decomposition import PCA

from algorithm_flows import (
    AlgorithmError,
    InputData,
    InvalidParametersError,
    Variable,
    parse_params,
)
from algorithm_flows.pca_flow import PcaFlow
from algorithm_flows.pca_with_transformation_flow import PcaWithTransformationFlow
from algorithm_flows.testing import InMemoryRuntime, run_flow
from udf_library import ArrayBundle

RTOL = 1e-8
ATOL = 1e-10
NAMES = ["a", "b", "c", "d"]
VARIABLES = {name: Variable(name, "real", False) for name in [*NAMES, "flat"]}


def make_partitions(sizes: list[int], seed: int = 5) -> dict[str, ArrayBundle]:
    """Seeded positive, correlated columns of different scales, per node."""
    rng = np.random.default_rng(seed)
    parts = {}
    for i, size in enumerate(sizes):
        latent = rng.normal(0.0, 1.0, (size, 2))
        columns: dict[str, Any] = {"dataset": np.array([f"ds{i}"] * size, dtype=object)}
        for k, name in enumerate(NAMES):
            mix = latent @ np.array([1.0, 0.5 * k]) + rng.normal(0.0, 0.7, size)
            columns[name] = np.exp(0.2 * mix) * (k + 2.0)
        columns["flat"] = np.full(size, 1.0)
        parts[f"local{i + 1}"] = ArrayBundle(columns)
    return parts


def pooled(parts: dict[str, ArrayBundle]) -> np.ndarray:
    return np.vstack([b.matrix(NAMES) for b in parts.values()])


def reference_pca(data: np.ndarray) -> PCA:
    standardized = (data - data.mean(axis=0)) / data.std(axis=0, ddof=1)
    return PCA().fit(standardized)


def assert_pca_matches(result: dict[str, Any], data: np.ndarray) -> None:
    expected = reference_pca(data)
    assert result["n_obs"] == data.shape[0]
    np.testing.assert_allclose(result["eigen_vals"], expected.explained_variance_, rtol=RTOL)
    for actual, wanted in zip(result["eigen_vecs"], expected.components_, strict=True):
        sign = np.sign(np.dot(actual, wanted))
        np.testing.assert_allclose(sign * np.asarray(actual), wanted, rtol=RTOL, atol=ATOL)


def run_in_memory(
    flow: Any, parts: dict[str, ArrayBundle], parameters: dict[str, Any]
) -> tuple[dict[str, Any], InMemoryRuntime]:
    """Run a flow and keep its runtime, to read the tables it exposed."""
    rt = InMemoryRuntime(parts, InputData("test:1", ("ds0",), tuple(NAMES)), VARIABLES)
    result = asyncio.run(flow().run(rt, parse_params(flow.params_type, parameters)))
    return result, rt


def exposed_rows(rt: InMemoryRuntime, name: str) -> ArrayBundle:
    """The exposed local tables, pooled in node order (test-only look into the runtime)."""
    tables = rt.exposed[name]
    bundles = [rt._tables[(node, tables.tables[node])].bundle for node in tables.node_ids]
    return ArrayBundle({c: np.concatenate([b[c] for b in bundles]) for c in bundles[0].names})


def test_federated_pca_equals_pooled_sklearn() -> None:
    # arrange
    parts = make_partitions([30, 250, 120])

    # act
    result = run_flow(PcaFlow, parts, VARIABLES, y=tuple(NAMES))

    # assert
    assert set(result) == {"n_obs", "eigen_vals", "eigen_vecs"}
    assert_pca_matches(result, pooled(parts))


def test_node_below_min_rows_is_left_out() -> None:
    # arrange
    parts = make_partitions([4, 90, 70])
    remaining = {k: v for k, v in parts.items() if k != "local1"}

    # act
    result = run_flow(PcaFlow, parts, VARIABLES, y=tuple(NAMES))

    # assert
    assert_pca_matches(result, pooled(remaining))


def test_constant_variable_raises_a_clear_error() -> None:
    # arrange
    parts = make_partitions([30, 40, 50])

    # act / assert
    with pytest.raises(AlgorithmError, match=r"\['flat'\] do not vary"):
        run_flow(PcaFlow, parts, VARIABLES, y=("a", "flat"))


def test_pca_exposes_private_component_scores() -> None:
    # arrange
    parts = make_partitions([30, 80, 60])
    data = pooled(parts)

    # act
    result, rt = run_in_memory(PcaFlow, parts, {})

    # assert
    scores = exposed_rows(rt, "scores")
    expected = reference_pca(data).transform((data - data.mean(axis=0)) / data.std(axis=0, ddof=1))
    for k in range(len(NAMES)):
        column = scores[f"pc{k + 1}"]
        sign = np.sign(np.dot(column, expected[:, k]))
        np.testing.assert_allclose(sign * column, expected[:, k], rtol=1e-7, atol=1e-9)
    assert result["n_obs"] == scores.num_rows


def test_transformations_match_pooled_transform_then_sklearn() -> None:
    # arrange
    parts = make_partitions([30, 250, 120])
    steps = {"log": ["a"], "exp": ["b"], "center": ["c"], "standardize": ["d", "a"]}
    data = pooled(parts)
    transformed = data.copy()
    transformed[:, 0] = np.log(transformed[:, 0])
    transformed[:, 1] = np.exp(transformed[:, 1])
    transformed[:, 2] -= transformed[:, 2].mean()
    for j in (3, 0):
        transformed[:, j] = (transformed[:, j] - transformed[:, j].mean()) / transformed[:, j].std()

    # act
    result = run_flow(
        PcaWithTransformationFlow,
        parts,
        VARIABLES,
        y=tuple(NAMES),
        parameters={"data_transformation": steps},
    )

    # assert
    assert_pca_matches(result, transformed)
    np.testing.assert_allclose(result["means"], transformed.mean(axis=0), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(result["sigmas"], transformed.std(axis=0, ddof=1), rtol=RTOL)


def test_transformations_apply_in_a_fixed_order_whatever_the_key_order() -> None:
    # arrange: parameters travel as a protobuf Struct, whose keys keep no order, so
    # "center" written before "log" must still mean log first
    parts = make_partitions([30, 250, 120])
    transformed = pooled(parts)
    transformed[:, 0] = np.log(transformed[:, 0])
    transformed[:, 0] -= transformed[:, 0].mean()

    # act
    result = run_flow(
        PcaWithTransformationFlow,
        parts,
        VARIABLES,
        y=tuple(NAMES),
        parameters={"data_transformation": {"center": ["a"], "log": ["a"]}},
    )

    # assert
    assert_pca_matches(result, transformed)
    np.testing.assert_allclose(result["means"], transformed.mean(axis=0), rtol=RTOL, atol=ATOL)


def test_transformed_rows_are_exposed_on_their_nodes() -> None:
    # arrange
    parts = make_partitions([30, 80, 60])
    data = pooled(parts)

    # act
    _, rt = run_in_memory(PcaWithTransformationFlow, parts, {"data_transformation": {"log": ["b"], "center": ["b"]}})

    # assert
    rows = exposed_rows(rt, "transformed")
    expected = np.log(data[:, 1]) - np.log(data[:, 1]).mean()
    np.testing.assert_allclose(rows["b"], expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(rows["a"], data[:, 0])
    assert set(rt.exposed["transformed"].node_ids) == set(parts)


def test_log_of_non_positive_values_raises_a_clear_error() -> None:
    # arrange
    parts = make_partitions([30, 40, 50])
    parts["local2"]["a"][0] = -1.0

    # act / assert
    with pytest.raises(AlgorithmError, match=r"log transformation needs positive values.*'a'"):
        run_flow(
            PcaWithTransformationFlow,
            parts,
            VARIABLES,
            y=tuple(NAMES),
            parameters={"data_transformation": {"log": ["a"]}},
        )


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ({"square": ["a"]}, "'square' is unknown"),
        ({"log": ["flat"]}, "'flat' is not in y"),
        ({"log": ["a"], "exp": ["a"]}, "both log and exp"),
    ],
)
def test_bad_transformations_are_rejected(steps: dict[str, list[str]], problem: str) -> None:
    # arrange
    parts = make_partitions([30, 40, 50])

    # act / assert
    with pytest.raises(InvalidParametersError, match=problem):
        run_flow(
            PcaWithTransformationFlow,
            parts,
            VARIABLES,
            y=tuple(NAMES),
            parameters={"data_transformation": steps},
        )
