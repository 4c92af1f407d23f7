"""Literal UDF arguments in the one encoding they cross the wire in, and back to their declared type.

The controller sends literals as a protobuf ``Struct`` of ``plain_json`` values; a node
reads every number back as a float. ``wire_literal`` is that round trip without
protobuf, so the in-memory runtime hands UDFs exactly what a node would.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["coerce_literal", "plain_json", "wire_literal"]


def plain_json(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python values, NaN as null, infinities as "Infinity".

    Struct numbers are JSON numbers, which have no NaN or infinity; MIP front ends read
    infinite confidence bounds as the strings "Infinity" and "-Infinity".
    """
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if hasattr(value, "tolist"):
        return plain_json(value.tolist())
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return value


def wire_literal(value: Any) -> Any:
    """``value`` as a node receives it: ``plain_json``, then every number a float, as in a ``Struct``."""
    return _struct_numbers(plain_json(value))


def _struct_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _struct_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_struct_numbers(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


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
