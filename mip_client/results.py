"""Typed algorithm results for Python callers, built from each algorithm's published result schema.

``typed_result("kmeans", outcome.result)`` is a ``KmeansResult`` with one attribute per result
field, in schema order: integers are ints, floats are floats (``"NaN"``/``"Infinity"`` of the
wire encoding become ``math.nan``/``math.inf``), records are dicts. ``.to_dict()`` gives the fields
back as a dict; ``.to_frame(name)`` gives a table-like field (a table, a list of records, a matrix
whose rows and columns are named by the fields its dimensions name) as a pandas DataFrame when
pandas is installed.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache
from typing import Any

from mip_common.result_schema import RESULT_SCHEMAS, ResultField

__all__ = ["AlgorithmResult", "result_class", "typed_result"]

_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class AlgorithmResult:
    """Base of the per-algorithm result classes (``<Algorithm>Result`` dataclasses)."""

    algorithm: str = ""
    schema: tuple[ResultField, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields, in schema order, as plain Python values."""
        return {f.name: getattr(self, _attribute(f.name)) for f in self.schema if hasattr(self, _attribute(f.name))}

    def to_frame(self, name: str) -> Any:
        """Field ``name`` as a pandas DataFrame: a table's columns, a list of records' rows, a matrix's rows."""
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError:
            raise ImportError("to_frame needs pandas: pip install pandas") from None
        field = next((f for f in self.schema if f.name == name), None)
        if field is None:
            raise KeyError(f"{self.algorithm} has no result field {name!r}; fields: {[f.name for f in self.schema]}")
        value = getattr(self, _attribute(name))
        if field.type == "table":
            frame = pd.DataFrame(value)
            first = field.fields[0].name if field.fields and field.fields[0].name != "*" else None
            return frame.set_index(first) if first in frame else frame
        if field.type == "list[record]":
            return pd.json_normalize(value)
        if field.type.startswith("map[string, "):
            return pd.DataFrame({name: value})
        if field.type.startswith("list[list["):
            rows, columns = (self._labels(d) for d in (*field.dimensions, "", "")[:2])
            return pd.DataFrame(value, index=rows, columns=columns)
        if field.type.startswith("list["):
            return pd.DataFrame({name: value})
        raise TypeError(f"{self.algorithm} field {name!r} ({field.type}) is not table-like")

    def _labels(self, dimension: str) -> list[str] | None:
        """The names along ``dimension``, when a field of that name lists them (``variables``, ``classes``)."""
        labels = getattr(self, _attribute(dimension), None) if dimension else None
        return labels if isinstance(labels, list) and all(isinstance(v, str) for v in labels) else None


def _attribute(name: str) -> str:
    """A field name as a Python identifier ("p-values" -> "p_values")."""
    return name.replace("-", "_")


@cache
def result_class(algorithm: str) -> type[AlgorithmResult]:
    """The result dataclass of ``algorithm`` (for example ``KmeansResult``)."""
    schema = RESULT_SCHEMAS.get(algorithm)
    if schema is None:
        raise KeyError(f"unknown algorithm {algorithm!r}; known: {sorted(RESULT_SCHEMAS)}")
    class_name = "".join(part.title() for part in algorithm.split("_")) + "Result"
    attributes = [(_attribute(f.name), Any, dataclasses.field(default=None)) for f in schema]  # type: ignore[var-annotated]
    cls = dataclasses.make_dataclass(
        class_name,
        attributes,
        bases=(AlgorithmResult,),
        frozen=True,
        namespace={"algorithm": algorithm, "schema": schema, "__module__": __name__},
    )
    return cls


def typed_result(algorithm: str, result: dict[str, Any]) -> AlgorithmResult:
    """``result`` (decoded StepResult.result_json) as an instance of the algorithm's result class."""
    cls = result_class(algorithm)
    values = {_attribute(f.name): _decode(f, f.type, result[f.name]) for f in cls.schema if f.name in result}
    return cls(**values)


def _decode(field: ResultField, type_: str, value: Any) -> Any:
    if value is None:
        return None
    if type_.startswith("list["):
        return [_decode(field, type_[5:-1], v) for v in value]
    if type_.startswith("map[string, "):
        return {k: _decode(field, type_[12:-1], v) for k, v in value.items()}
    if type_ == "record":
        return {f.name: _decode(f, f.type, value[f.name]) for f in field.fields if f.name in value}
    if type_ == "table":
        columns = {f.name: f for f in field.fields}
        return {
            k: [_decode(c, c.type, v) for v in cells]
            for k, cells in value.items()
            if (c := columns.get(k) or columns.get("*")) is not None
        }
    if "float" in type_.split("|") and (isinstance(value, (int, float)) or value in _FLOATS):
        return _FLOATS[value] if isinstance(value, str) else float(value)
    return value
