"""Typed algorithm parameters: published specs, parsing, and every problem named at once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from algorithm_flows import InvalidParametersError, describe_params, param, parse_params


@dataclass(frozen=True, slots=True)
class SampleParams:
    k: int = param(doc="clusters", minimum=1, maximum=10)
    rate: float = param(0.5, doc="learning rate", minimum=0)
    mode: str = param("fast", doc="how", choices=("fast", "exact"))
    names: list[str] = param(["a"], doc="names")  # noqa: RUF009 (param copies list defaults)
    depth: int | None = param(None, doc="optional depth", minimum=1)
    is_verbose: bool = param(False, doc="talk")


def test_describe_params_publishes_types_defaults_and_ranges() -> None:
    # Arrange / Act
    specs = {s.name: s for s in describe_params(SampleParams)}
    # Assert
    assert specs["k"].is_required
    assert specs["k"].type == "int"
    assert (specs["k"].minimum, specs["k"].maximum) == (1, 10)
    assert specs["rate"].type == "real"
    assert specs["rate"].default == 0.5
    assert specs["mode"].choices == ("fast", "exact")
    assert specs["names"].type == "list[text]"
    assert specs["names"].default == ["a"]
    assert specs["depth"].type == "int"
    assert not specs["depth"].is_required


def test_parse_params_fills_defaults() -> None:
    # Arrange / Act
    params = parse_params(SampleParams, {"k": 3})
    # Assert
    assert params == SampleParams(k=3, rate=0.5, mode="fast", names=["a"], depth=None)


def test_parse_params_accepts_integral_floats_for_ints() -> None:
    # Arrange / Act
    params = parse_params(SampleParams, {"k": 4.0, "rate": 1, "depth": 2})
    # Assert
    assert params.k == 4
    assert isinstance(params.k, int)
    assert params.rate == 1.0
    assert isinstance(params.rate, float)
    assert params.depth == 2


def test_list_defaults_are_not_shared_between_instances() -> None:
    # Arrange
    first = parse_params(SampleParams, {"k": 1})
    # Act
    first.names.append("b")
    second = parse_params(SampleParams, {"k": 1})
    # Assert
    assert second.names == ["a"]


def test_parse_params_names_every_problem() -> None:
    # Act
    with pytest.raises(InvalidParametersError) as caught:
        parse_params(SampleParams, {"rate": -1.0, "mode": "slow", "colour": 1, "is_verbose": 1})
    # Assert
    problems = caught.value.problems
    assert any("unknown parameter 'colour'" in p for p in problems)
    assert any("'k' is required" in p for p in problems)
    assert any("'rate' must be >= 0" in p for p in problems)
    assert any("'mode' must be one of ['fast', 'exact']" in p for p in problems)
    assert any("'is_verbose' must be bool" in p for p in problems)


def test_parse_params_rejects_out_of_range_and_wrong_types() -> None:
    # Act / Assert
    with pytest.raises(InvalidParametersError, match="'k' must be <= 10"):
        parse_params(SampleParams, {"k": 11})
    with pytest.raises(InvalidParametersError, match="'k' must be int"):
        parse_params(SampleParams, {"k": 2.5})
    with pytest.raises(InvalidParametersError, match="'names' must be list"):
        parse_params(SampleParams, {"k": 1, "names": "a"})


def test_none_means_the_default() -> None:
    # Arrange / Act
    params = parse_params(SampleParams, {"k": 2, "rate": None})
    # Assert
    assert params.rate == 0.5
