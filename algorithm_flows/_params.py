"""Typed algorithm parameters: a frozen dataclass per flow, parsed and checked in one place."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from algorithm_flows._errors import InvalidParametersError
from udf_library import LITERAL_TYPE_NAMES

__all__ = ["ParameterSpec", "describe_params", "param", "parse_params"]

P = TypeVar("P")

_TYPE_NAMES: dict[Any, str] = LITERAL_TYPE_NAMES | {dict[str, list[str]]: "dict[text, list[text]]"}
"""A parameter's published type: the UDF literal names, plus the one mapping parameters take."""


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One parameter as published to users: type, default, range and meaning."""

    name: str
    type: str
    doc: str
    is_required: bool
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()


def param(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[Any, ...] = (),
) -> Any:
    """A dataclass field that carries its documentation and allowed range."""
    metadata = {"doc": doc, "minimum": minimum, "maximum": maximum, "choices": choices}
    if isinstance(default, (list, dict)):
        frozen_default = default
        return dataclasses.field(default_factory=lambda: _copy(frozen_default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def describe_params(cls: type[Any]) -> list[ParameterSpec]:
    """The published spec of a params dataclass."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        hint, _ = _unwrap_optional(hints[f.name])
        is_required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        )
        specs.append(
            ParameterSpec(
                name=f.name,
                type=_TYPE_NAMES.get(hint, str(hint)),
                doc=f.metadata.get("doc", ""),
                is_required=is_required,
                default=default,
                minimum=f.metadata.get("minimum"),
                maximum=f.metadata.get("maximum"),
                choices=tuple(f.metadata.get("choices", ())),
            )
        )
    return specs


def parse_params(cls: type[P], raw: Mapping[str, Any] | None) -> P:
    """Build ``cls`` from JSON-like values, naming every problem at once."""
    raw = dict(raw or {})
    problems: list[str] = []
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name in sorted(raw.keys() - known):
        problems.append(f"unknown parameter {name!r}; known parameters: {sorted(known)}")
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for spec in describe_params(cls):
        if spec.name not in raw or raw[spec.name] is None:
            if spec.is_required:
                problems.append(f"parameter {spec.name!r} is required ({spec.doc})")
            continue
        hint, _ = _unwrap_optional(hints[spec.name])
        try:
            value = _coerce(raw[spec.name], hint)
        except (TypeError, ValueError) as exc:
            problems.append(f"parameter {spec.name!r} must be {spec.type}: {exc}")
            continue
        problems.extend(_range_problems(spec, value))
        values[spec.name] = value
    if problems:
        raise InvalidParametersError(problems)
    return cls(**values)


def _range_problems(spec: ParameterSpec, value: Any) -> list[str]:
    problems = []
    if spec.minimum is not None and isinstance(value, (int, float)) and value < spec.minimum:
        problems.append(f"parameter {spec.name!r} must be >= {spec.minimum}, got {value}")
    if spec.maximum is not None and isinstance(value, (int, float)) and value > spec.maximum:
        problems.append(f"parameter {spec.name!r} must be <= {spec.maximum}, got {value}")
    if spec.choices and value not in spec.choices:
        problems.append(f"parameter {spec.name!r} must be one of {list(spec.choices)}, got {value!r}")
    return problems


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _coerce(value: Any, hint: Any) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(f"got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise TypeError(f"got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"got {value!r}")
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"got {value!r}")
        return [_coerce(item, args[0]) for item in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"got {value!r}")
        return {_coerce(k, args[0]): _coerce(v, args[1]) for k, v in value.items()}
    raise TypeError(f"unsupported parameter type {hint!r}")


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value
