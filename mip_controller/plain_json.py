"""Flow results as typed JSON text: numpy made plain, non-finite numbers spelled out.

UDF literals and Struct results use ``udf_library.plain_json``, the one encoding the
in-memory runtime shares."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["result_json", "typed_json"]


def typed_json(value: Any) -> Any:
    """``value`` with numpy made plain, integers kept, and non-finite floats as "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, dict):
        return {str(k): typed_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed_json(v) for v in value]
    if hasattr(value, "tolist"):
        return typed_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def result_json(values: Any) -> str:
    """A flow result as the JSON text of StepResult.result_json (see its proto comment)."""
    return json.dumps(typed_json(values), allow_nan=False, separators=(",", ":"))
