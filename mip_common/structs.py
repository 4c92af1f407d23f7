"""A protobuf ``Struct`` as plain Python, refusing what JSON cannot hold.

Parameters, filters and UDF literals travel as ``Struct``s. ``json_format.MessageToDict``
raises a bare ``ValueError`` on a NaN or infinite number, which would surface as
INTERNAL; this conversion names where the number is and refuses it as a bad request.
Keys come back in no particular order: nothing may rely on it.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

from mip_common.errors import InvalidRequestError

__all__ = ["struct_to_python"]


def struct_to_python(struct: struct_pb2.Struct, what: str) -> dict[str, Any]:
    """``struct`` as a dict (numbers as floats); ``what`` names it in error messages."""
    return {key: _value(struct.fields[key], f"{what}.{key}") for key in struct.fields}


def _value(value: struct_pb2.Value, path: str) -> Any:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise InvalidRequestError(f"{path[:200]} is {number}: numbers must be finite")
        return number
    if kind == "struct_value":
        return struct_to_python(value.struct_value, path)
    if kind == "list_value":
        return [_value(item, f"{path}[{i}]") for i, item in enumerate(value.list_value.values)]
    return getattr(value, kind)
