"""Literal UDF arguments arrive as JSON values; this turns them back into the declared type."""

from __future__ import annotations

from typing import Any

__all__ = ["coerce_literal"]


def coerce_literal(type_name: str, value: Any) -> Any:
    """``value`` (JSON: numbers may arrive as floats) as ``type_name``; ``TypeError`` if it is not."""
    if value is None:
        return None
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise TypeError(f"expected an integer, got {value!r}")
        return int(value)
    if type_name == "real":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if type_name == "text":
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {value!r}")
        return value
    if type_name == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if type_name.startswith("list["):
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        return [coerce_literal(type_name[5:-1], item) for item in value]
    if type_name == "json":
        return value
    raise TypeError(f"unknown literal type {type_name!r}")
