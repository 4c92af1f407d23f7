"""Typed settings from TOML values and environment strings, shared by every process."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mip_common.errors import InvalidRequestError

__all__ = ["ConfigError", "build_config"]


class ConfigError(InvalidRequestError):
    """A setting that is unknown or has the wrong type; the process refuses to start."""


T = typing.TypeVar("T")


def build_config(cls: type[T], raw: Mapping[str, Any]) -> T:
    """``cls`` from TOML values or environment strings, each converted to its field's type."""
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if unknown := raw.keys() - fields:
        raise ConfigError(f"unknown settings: {sorted(unknown)}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        try:
            values[name] = _convert(hints[name], value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting {name!r}: {exc}") from exc
    return cls(**values)


def _convert(hint: Any, value: Any) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if hint is int:
        return int(value)
    if hint is float:
        return float(value)
    if hint is Path:
        return Path(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {value!r}")
        return value
    if typing.get_origin(hint) is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(item).strip() for item in items if str(item).strip())
    raise TypeError(f"unsupported setting type {hint!r}")
