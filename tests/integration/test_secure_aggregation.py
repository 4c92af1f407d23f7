"""Secure aggregation through real processes: the same results as without it, masked parts that
look random, and a node lost in the middle of a step.

One federation (1 global, 3 locals) runs every case with a plain controller, then again after the
controller restarts with ``secure_aggregation = true``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pyarrow as pa
import pytest
from google.protobuf import json_format, struct_pb2

from algorithm_flows import InputData, LocalTables
from mip_client.client import Controller, StepOutcome, experiment_step
from mip_client.demo_data import write_demo_federation
from mip_client.federation import LocalFederation
from mip_common._proto import common_pb2, controller_service_pb2, node_service_pb2, node_service_pb2_grpc
from mip_common.arrow_chunks import arrow_to_bundle, decode_batch, decode_schema
from mip_common.errors import DeadlineError, MipError, NodeUnavailableError, SmallCellError
from mip_controller.node_client import NodeClient
from mip_controller.runtime import NodeRuntime
from tests.algorithms.test_secure_aggregation import assert_close
from tests.integration.conftest import PROBE_SETTINGS
from udf_library import (
    ArrayBundle,
    encode_fixed,
    logistic_regression_udfs,
    sum_masked_parts,
    sum_parts,
    value_matrix,
)

pytestmark = pytest.mark.slow

BRAIN = ["hippocampus", "entorhinal", "ventricles"]
CASES: dict[str, dict[str, Any]] = {
    "anova_oneway": {"y": ["cognition"], "x": ["diagnosis"]},
    "anova": {"y": ["cognition"], "x": ["diagnosis", "gender"]},
    "pearson_correlation": {"y": BRAIN},
    "kmeans": {"y": ["hippocampus", "entorhinal"], "parameters": {"numOfClusters": 3}},
    "kmeans_explicit_range": {
        "algorithm": "kmeans",
        "y": ["hippocampus", "entorhinal"],
        "parameters": {"numOfClusters": 2, "initialMin": 1.0, "initialMax": 5.0, "seed": 2},
    },
    "multiple_histograms": {"y": ["hippocampus"], "x": ["diagnosis"], "parameters": {"bins": 8}},
    "multiple_histograms_categorical": {"algorithm": "multiple_histograms", "y": ["diagnosis"], "x": ["gender"]},
    "linear_regression": {"y": ["cognition"], "x": ["diagnosis", "age"]},
    "linear_regression_cv": {"y": ["cognition"], "x": ["age", "hippocampus"], "parameters": {"n_splits": 3}},
    "logistic_regression": {
        "y": ["amyloid"],
        "x": ["age", "hippocampus"],
        "parameters": {"positive_class": "positive"},
    },
    "logistic_regression_cv": {
        "y": ["amyloid"],
        "x": ["age", "cognition"],
        "parameters": {"positive_class": "positive", "n_splits": 3},
    },
    "naive_bayes_gaussian_fit": {"y": ["diagnosis"], "x": ["age", "cognition", "hippocampus"]},
    "naive_bayes_gaussian_cv": {"y": ["diagnosis"], "x": ["age", "cognition"], "parameters": {"n_splits": 3}},
    "naive_bayes_categorical_fit": {"y": ["diagnosis"], "x": ["gender", "amyloid"]},
    "naive_bayes_categorical_cv": {"y": ["amyloid"], "x": ["gender"], "parameters": {"n_splits": 2}},
    "pca": {"y": BRAIN},
    "pca_with_transformation": {
        "y": BRAIN,
        "parameters": {"data_transformation": {"log": ["hippocampus"], "standardize": ["entorhinal"]}},
    },
    "ttest_onesample": {"y": ["cognition"], "parameters": {"mu": 25.0}},
    "ttest_paired": {"y": ["hippocampus"], "x": ["entorhinal"]},
    "ttest_independent": {"y": ["cognition"], "x": ["gender"], "parameters": {"groupA": "F", "groupB": "M"}},
}


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    workdir = tmp_path_factory.mktemp("secure_aggregation")
    folders = write_demo_federation(workdir / "data", num_locals=3, rows_per_dataset=150, seed=21)
    settings = {"health_interval_s": 0.3, "node_call_timeout_s": 4.0}
    with LocalFederation(
        workdir, [[f] for f in folders], node_settings=PROBE_SETTINGS, controller_settings=settings
    ) as federation:
        yield federation


def _set_secure_aggregation(federation: LocalFederation, is_on: bool) -> None:
    """Restart the controller with secure aggregation turned on or off in its config file."""
    config = Path(federation.processes["controller"].config)
    lines = [line for line in config.read_text().splitlines() if not line.startswith("secure_aggregation")]
    config.write_text("\n".join([*lines, f"secure_aggregation = {'true' if is_on else 'false'}"]) + "\n")
    federation.restart("controller")


def _run_all(federation: LocalFederation) -> dict[str, StepOutcome]:
    with Controller(federation.controller_address) as controller:
        datasets = sorted({d.code for d in controller.datasets()})
        return {name: controller.run_pipeline([_step(name, datasets)], timeout_s=120)[0] for name in CASES}


def _step(name: str, datasets: list[str]) -> controller_service_pb2.ExperimentStep:
    """The step of a case; a case named otherwise than its algorithm says ``algorithm``."""
    case = dict(CASES[name])
    return experiment_step(case.pop("algorithm", name), "demo:1.0", datasets, **case)


@pytest.fixture(scope="module")
def outcomes(federation: LocalFederation) -> dict[str, tuple[StepOutcome, StepOutcome]]:
    plain = _run_all(federation)
    _set_secure_aggregation(federation, True)
    secure = _run_all(federation)
    return {name: (plain[name], secure[name]) for name in CASES}


@pytest.mark.parametrize("name", sorted(CASES))
def test_secure_aggregation_gives_the_plain_result(
    outcomes: dict[str, tuple[StepOutcome, StepOutcome]], name: str
) -> None:
    plain, secure = outcomes[name]
    assert_close(secure.result, plain.result)
    assert secure.participants == plain.participants


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_say_which_outputs_were_summed_securely(
    outcomes: dict[str, tuple[StepOutcome, StepOutcome]], name: str
) -> None:
    plain, secure = outcomes[name]
    assert plain.secure_aggregation_outputs == []
    assert secure.secure_aggregation_outputs
    assert all(o.count("/") == 1 for o in secure.secure_aggregation_outputs)


def test_a_histogram_bin_some_node_suppressed_is_null_under_secure_aggregation(
    outcomes: dict[str, tuple[StepOutcome, StepOutcome]],
) -> None:
    # Arrange
    _, secure = outcomes["multiple_histograms"]

    # Act
    counts = [c for h in secure.result["histogram"] for c in h["counts"]]

    # Assert: the tails are suppressed on some node (null), the rest summed from masked parts
    assert None in counts
    assert any(c for c in counts)
    assert "histograms.local_numeric_counts/counts" in secure.secure_aggregation_outputs


def test_the_cell_rule_holds_before_masking(federation: LocalFederation, outcomes: object) -> None:
    # Arrange: the controller runs with secure aggregation now (see ``outcomes``)
    step = experiment_step(
        "naive_bayes_categorical_cv",
        "demo:1.0",
        ["demo_site1_a"],
        y=["diagnosis"],
        x=["gender", "amyloid"],
        parameters={"n_splits": 10},
    )

    # Act / Assert: refused on the clear counts, as without secure aggregation
    with Controller(federation.controller_address) as controller, pytest.raises(SmallCellError, match="cell rule"):
        controller.run_pipeline([step], timeout_s=60)


def test_list_udfs_says_which_outputs_merge_by_secure_sum(federation: LocalFederation) -> None:
    # Act
    udfs = {
        u.name: u for u in _stubs(federation)["local1"].ListUDFs(node_service_pb2.ListUDFsRequest(), timeout=10).udfs
    }

    # Assert
    (moments,) = udfs["ttest.local_group_moments"].outputs
    assert (moments.merge, list(moments.key_columns)) == ("secure_sum", ["variable"])
    (centroids,) = udfs["kmeans.generate_initial_centroids"].outputs
    assert (centroids.merge, list(centroids.key_columns)) == ("concat", [])


# --- what the global node receives: the controller's calls made by hand ------------------------


def _stubs(federation: LocalFederation) -> dict[str, node_service_pb2_grpc.NodeServiceStub]:
    return {
        n: node_service_pb2_grpc.NodeServiceStub(grpc.insecure_channel(federation.node_address(n)))
        for n in federation.local_ids
    }


def _local_moments(
    stub: node_service_pb2_grpc.NodeServiceStub,
    experiment_id: str,
    view: str,
    secure: node_service_pb2.SecureAggregation | None,
) -> ArrayBundle:
    literals = struct_pb2.Struct()
    json_format.ParseDict({"variables": BRAIN}, literals)
    request = node_service_pb2.ExecuteUDFRequest(
        request_id=str(uuid.uuid4()),
        experiment_id=experiment_id,
        udf_name="pearson_correlation.local_moments",
        table_arguments={"data": view},
        literal_arguments=literals,
        inline_max_bytes=1 << 20,
    )
    if secure is not None:
        request.secure_aggregation.CopyFrom(secure)
    inline = stub.ExecuteUDF(request, timeout=30).outputs[0].inline_table
    schema = decode_schema(inline.arrow_schema)
    batches = [decode_batch(schema, b) for b in inline.arrow_batches]
    return arrow_to_bundle(pa.Table.from_batches(batches, schema))


def _bit_shares(words: np.ndarray) -> np.ndarray:
    """The share of ones at each of the 64 bit positions of ``words``."""
    bits = (words.astype(np.uint64)[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    return bits.mean(axis=0)


@pytest.fixture(scope="module")
def masked_rounds(
    federation: LocalFederation, outcomes: object
) -> Iterator[tuple[list[list[ArrayBundle]], list[ArrayBundle]]]:
    """Twenty rounds of masked Pearson moments from the three locals, and their clear moments."""
    stubs = _stubs(federation)
    experiment_id = "secagg-" + uuid.uuid4().hex[:12]
    inputdata = common_pb2.InputData(data_model="demo:1.0", y=BRAIN)
    with Controller(federation.controller_address) as controller:
        inputdata.datasets.extend(sorted({d.code for d in controller.datasets()}))
    views, keys = {}, {}
    for node_id, stub in stubs.items():
        keys[node_id] = stub.CreateMaskingKey(
            node_service_pb2.CreateMaskingKeyRequest(experiment_id=experiment_id), timeout=10
        ).public_key
        views[node_id] = stub.CreateDataView(
            node_service_pb2.CreateDataViewRequest(
                request_id=str(uuid.uuid4()), experiment_id=experiment_id, inputdata=inputdata
            ),
            timeout=30,
        ).table.name
    rounds = []
    for r in range(20):
        secure = node_service_pb2.SecureAggregation(round_id=f"round{r}", public_keys=keys)
        rounds.append([_local_moments(stubs[n], experiment_id, views[n], secure) for n in sorted(stubs)])
    clear = [_local_moments(stubs[n], experiment_id, views[n], None) for n in sorted(stubs)]
    yield rounds, clear
    for stub in stubs.values():
        stub.DeleteTable(node_service_pb2.DeleteTableRequest(experiment_id=experiment_id), timeout=10)


def test_masked_parts_sum_to_the_clear_sum(masked_rounds: tuple[list[list[ArrayBundle]], list[ArrayBundle]]) -> None:
    rounds, clear = masked_rounds
    expected = sum_parts(clear, [])
    for parts in rounds:
        total = sum_masked_parts(parts, [])
        for name in expected.names:
            np.testing.assert_allclose(total[name], expected[name], rtol=1e-12)


def test_one_node_s_masked_words_are_indistinguishable_from_random(
    masked_rounds: tuple[list[list[ArrayBundle]], list[ArrayBundle]],
) -> None:
    # Arrange: every word local1 sent in 20 rounds (10 values, two words each)
    rounds, clear = masked_rounds
    masked = np.concatenate([np.concatenate([p[c].view(np.uint64) for c in p.names]) for p in (r[0] for r in rounds)])
    _, values = value_matrix(clear[0], [])
    unmasked = np.tile(encode_fixed(values, 3).reshape(-1), len(rounds))
    limit = 5 * 0.5 / np.sqrt(len(masked))  # 5 sigma of a fair bit's share

    # Act
    masked_shares, unmasked_shares = _bit_shares(masked), _bit_shares(unmasked)

    # Assert: fair at every bit position, which the words before masking are not
    assert len(masked) == 400
    assert np.all(np.abs(masked_shares - 0.5) < limit)
    assert not np.all(np.abs(unmasked_shares - 0.5) < limit)


def test_a_masked_round_without_this_node_s_key_is_refused(federation: LocalFederation) -> None:
    # Arrange: a round whose keys leave out local1
    stub = _stubs(federation)["local1"]
    experiment_id = "secagg-" + uuid.uuid4().hex[:12]
    stub.CreateMaskingKey(node_service_pb2.CreateMaskingKeyRequest(experiment_id=experiment_id), timeout=10)
    inputdata = common_pb2.InputData(data_model="demo:1.0", datasets=["demo_site1_a"], y=BRAIN)
    view = stub.CreateDataView(
        node_service_pb2.CreateDataViewRequest(
            request_id=str(uuid.uuid4()), experiment_id=experiment_id, inputdata=inputdata
        ),
        timeout=30,
    ).table.name
    secure = node_service_pb2.SecureAggregation(round_id="r", public_keys={"local2": bytes(32)})

    # Act
    with pytest.raises(grpc.RpcError) as caught:
        _local_moments(stub, experiment_id, view, secure)

    # Assert
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "must include this node" in caught.value.details()


@pytest.mark.parametrize(("value", "is_refused"), [(1e12, False), (1e14, True)])
def test_a_value_the_fixed_point_words_cannot_hold_is_refused_by_the_node(
    federation: LocalFederation, value: float, is_refused: bool
) -> None:
    # Arrange: a round of the three locals (bound: 2**47 / 3, about 4.7e13)
    stubs = _stubs(federation)
    experiment_id = "secagg-" + uuid.uuid4().hex[:12]
    keys = {
        n: s.CreateMaskingKey(
            node_service_pb2.CreateMaskingKeyRequest(experiment_id=experiment_id), timeout=10
        ).public_key
        for n, s in stubs.items()
    }
    literals = struct_pb2.Struct()
    json_format.ParseDict({"value": value}, literals)
    request = node_service_pb2.ExecuteUDFRequest(
        request_id=str(uuid.uuid4()),
        experiment_id=experiment_id,
        udf_name="fault_probe.secure_sum_of",
        literal_arguments=literals,
        secure_aggregation=node_service_pb2.SecureAggregation(round_id="r", public_keys=keys),
    )

    # Act
    try:
        stubs["local1"].ExecuteUDF(request, timeout=30)
        error = None
    except grpc.RpcError as exc:
        error = exc

    # Assert
    if is_refused:
        assert error is not None
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "secure aggregation" in error.details()
    else:
        assert error is None


# --- a node lost in the middle of a round ------------------------------------------------------


async def _newton_round(runtime: NodeRuntime, data: LocalTables) -> ArrayBundle:
    """One Newton round of logistic regression (sums merged by secure sum); its merged state."""
    literals: dict[str, Any] = {
        "y": "amyloid",
        "positive_class": "positive",
        "categoricals": [],
        "numerics": ["age", "cognition"],
        "levels": {},
    }
    step = await runtime.execute_udf_locals(
        logistic_regression_udfs.local_newton_step, data=data, coefficients=[0.0, 0.0, 0.0], **literals
    )
    merged = await runtime.create_remote_and_merge_global(step)
    outputs = await runtime.execute_udf_global_outputs(
        logistic_regression_udfs.global_newton_update, step=merged, names=["age", "cognition"], coefficients=[0.0] * 3
    )
    return await runtime.read_global(outputs["state"])


def test_a_node_killed_after_the_others_masked_with_it_fails_the_round_and_a_rerun_without_it_is_exact(
    federation: LocalFederation, outcomes: object
) -> None:
    # Arrange: data views on every local, and runtimes as the controller makes them
    experiment_id = "secagg-" + uuid.uuid4().hex[:12]

    async def scenario() -> tuple[BaseException | None, ArrayBundle, ArrayBundle]:
        clients = {
            n: NodeClient(n, federation.node_address(n), concurrency=4, chunk_bytes=1 << 20, call_timeout_s=5.0)
            for n in ["global", *federation.local_ids]
        }
        locals_ = {n: clients[n] for n in federation.local_ids}
        deadline = time.monotonic() + 120
        inputdata = common_pb2.InputData(data_model="demo:1.0", y=["amyloid"], x=["age", "cognition"])
        catalogue = [await c.data_catalogue(deadline) for c in locals_.values()]
        inputdata.datasets.extend(sorted({d.code for c in catalogue for d in c.datasets}))
        views = {
            n: (await c.create_data_view(deadline, experiment_id, inputdata, False)).table.name
            for n, c in locals_.items()
        }

        def runtime(node_ids: list[str], is_secure: bool) -> NodeRuntime:
            return NodeRuntime(
                experiment_id=experiment_id,
                deadline=deadline,
                global_node=clients["global"],
                local_nodes=locals_,
                data=LocalTables({n: views[n] for n in node_ids}),
                inputdata=InputData("demo:1.0", ()),
                variables={},
                on_progress=lambda _: None,
                secure_aggregation=is_secure,
            )

        everyone = runtime(federation.local_ids, True)
        await _newton_round(everyone, everyone.data)  # keys exchanged, one round done
        federation.kill("local3")  # local1 and local2 still mask with local3's key in the next round
        failure = None
        try:
            await _newton_round(everyone, everyone.data)
        except MipError as exc:
            failure = exc
        survivors = ["local1", "local2"]
        rerun = await _newton_round(runtime(survivors, True), LocalTables({n: views[n] for n in survivors}))
        plain = await _newton_round(runtime(survivors, False), LocalTables({n: views[n] for n in survivors}))
        for node_id, client in clients.items():
            if node_id != "local3":
                await client.delete_experiment_tables(time.monotonic() + 30, experiment_id)
            await client.close()
        return failure, rerun, plain

    # Act
    try:
        failure, rerun, plain = asyncio.run(scenario())
    finally:
        federation.start_again("local3")

    # Assert: the round fails naming the lost node (the controller then reruns the step without
    # it, as tests/integration/test_failures.py shows), and the rerun's sums are exact
    assert isinstance(failure, (NodeUnavailableError, DeadlineError))
    assert failure.metadata.get("node_id") == "local3"
    for name in plain.names:
        np.testing.assert_allclose(rerun[name], plain[name], rtol=1e-9)
