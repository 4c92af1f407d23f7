"""Every algorithm publishes a complete spec through ListAlgorithms, and requests are checked against it."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from algorithm_flows import discover_flows
from mip_client.client import Controller
from mip_common._proto import controller_service_pb2
from mip_common.errors import InvalidRequestError
from mip_common.result_schema import RESULT_SCHEMAS, check_result
from tests.integration.conftest import demo_datasets

PARAMETER_TYPES = {"int", "real", "text", "bool"}
KINDS = {"any", "categorical", "numerical"}


def _spec_problems(info: controller_service_pb2.AlgorithmInfo) -> list[str]:
    problems = []
    if not info.label:
        problems.append("no label")
    if len(info.description) < 20:
        problems.append(f"description too short: {info.description!r}")
    for role, rule in (("y", info.y), ("x", info.x)):
        if not rule.types or rule.kind not in KINDS:
            problems.append(f"{role} rule incomplete: types {list(rule.types)}, kind {rule.kind!r}")
        if rule.HasField("max_count") and rule.max_count < rule.min_count:
            problems.append(f"{role} rule: max_count {rule.max_count} < min_count {rule.min_count}")
    if info.y.min_count < 1:
        problems.append("y takes no variable")
    for parameter in info.parameters:
        where = f"parameter {parameter.name!r}"
        if not parameter.description:
            problems.append(f"{where} has no description")
        if parameter.type not in PARAMETER_TYPES and not parameter.type.startswith(("dict[", "list[")):
            problems.append(f"{where} has type {parameter.type!r}")
        is_optional_without_default = "none" in parameter.description.lower()
        if not parameter.is_required and not parameter.HasField("default_value") and not is_optional_without_default:
            problems.append(f"{where} is optional but has no default and does not say what absent means")
        has_range = parameter.HasField("min_value") and parameter.HasField("max_value")
        if has_range and parameter.min_value > parameter.max_value:
            problems.append(f"{where}: min_value > max_value")
    return problems


def test_catalogue_lists_every_flow(controller: Controller) -> None:
    # Act
    names = [a.name for a in controller.algorithms()]
    # Assert
    assert names == sorted(discover_flows())


def test_every_algorithm_publishes_a_complete_spec(controller: Controller) -> None:
    # Act
    problems = {a.name: _spec_problems(a) for a in controller.algorithms()}
    # Assert
    assert not {name: p for name, p in problems.items() if p}


def test_every_algorithm_publishes_its_result_fields(controller: Controller) -> None:
    # Act
    published = {a.name: [(f.name, f.type) for f in a.result_fields] for a in controller.algorithms()}

    # Assert
    assert published == {name: [(f.name, f.type) for f in fields] for name, fields in RESULT_SCHEMAS.items()}


def test_a_result_comes_back_typed_in_schema_order(controller: Controller) -> None:
    # Act
    outcome = controller.run(
        "kmeans",
        data_model="demo:1.0",
        datasets=demo_datasets(controller),
        y=["hippocampus", "entorhinal"],
        parameters={"numOfClusters": 2},
    )

    # Assert
    assert list(outcome.result) == [f.name for f in RESULT_SCHEMAS["kmeans"]]
    assert isinstance(outcome.result["n_obs"], int)
    assert outcome.typed.n_obs == outcome.result["n_obs"]  # type: ignore[attr-defined]
    assert not check_result(RESULT_SCHEMAS["kmeans"], outcome.result)


def _refusal(controller: Controller, algorithm: str, y: list[str], parameters: dict[str, Any]) -> str:
    with pytest.raises(InvalidRequestError) as error:
        controller.run(
            algorithm, data_model="demo:1.0", datasets=demo_datasets(controller)[:1], y=y, parameters=parameters
        )
    return str(error.value)


def _bad_value(parameter: controller_service_pb2.ParameterInfo) -> tuple[Any, str] | None:
    """A value the spec forbids, with the words the refusal must contain."""
    if parameter.choices:
        numbers = [c.number_value for c in parameter.choices if c.HasField("number_value")]
        return (int(max(numbers)) + 1 if numbers else "not-a-choice"), "must be one of"
    if parameter.HasField("min_value") and parameter.type in ("int", "real"):
        below = parameter.min_value - 1
        return (int(below) if parameter.type == "int" else below), "must be >="
    if parameter.HasField("max_value") and parameter.type in ("int", "real"):
        return parameter.max_value * 2 + 1, "must be <="
    if parameter.type in ("int", "real"):
        return "not-a-number", f"must be {parameter.type}"
    return None


def test_every_algorithm_refuses_requests_that_break_its_spec(controller: Controller) -> None:
    # Arrange
    algorithms = controller.algorithms()
    unmet: list[str] = []

    # Act / Assert: an unknown parameter and a missing y variable are named together
    for info in algorithms:
        message = _refusal(controller, info.name, [], {"bogus": 1})
        for words in ("unknown parameter 'bogus'", "y needs at least"):
            if words not in message:
                unmet.append(f"{info.name}: {words!r} not in {message!r}")
        for parameter in info.parameters:
            bad = _bad_value(parameter)
            if bad is None:
                continue
            value, words = bad
            required = {
                p.name: json_format.MessageToDict(p.default_value) if p.HasField("default_value") else "x"
                for p in info.parameters
                if p.is_required and p.name != parameter.name
            }
            message = _refusal(controller, info.name, [], required | {parameter.name: value})
            if f"parameter {parameter.name!r}" not in message or words not in message:
                unmet.append(f"{info.name}.{parameter.name}={value!r}: {words!r} not in {message!r}")
    assert not unmet, "\n".join(unmet)
