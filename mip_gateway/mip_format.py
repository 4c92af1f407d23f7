"""ControllerService messages in the JSON shapes MIP front ends read from Exaflow's controller, and back.

Written from Exaflow's published API (its algorithm-spec JSON and request DTOs), not its code.
Parameter names differ in one algorithm: Exaflow's k-means takes ``k``, ``maxiter`` and ``tol``;
ours are ``numOfClusters``, ``numOfIterations`` and ``tolerance``. The spec shows the MIP names
and requests may use either.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from mip_common._proto import common_pb2, controller_service_pb2

__all__ = [
    "MIP_PARAMETER_NAMES",
    "algorithm_spec",
    "cde_metadata",
    "parameters_from_mip",
]

MIP_PARAMETER_NAMES: dict[str, dict[str, str]] = {
    "kmeans": {"numOfClusters": "k", "numOfIterations": "maxiter", "tolerance": "tol"},
}
"""Per algorithm: our parameter name -> the MIP (Exaflow) name."""

_PARAMETER_TYPES = {"int": "int", "real": "real", "text": "text", "bool": "boolean"}
_STAT_TYPES = {"numerical": ["numerical"], "categorical": ["nominal"], "any": ["numerical", "nominal"]}


def _value(value: Any, kind: str = "") -> Any:
    """A Struct value as JSON; an int parameter's numbers (floats in a Struct) as ints."""
    plain = json_format.MessageToDict(value)
    return int(plain) if kind == "int" and isinstance(plain, float) and plain.is_integer() else plain


def _number(value: float, kind: str) -> float | int:
    return int(value) if kind == "int" and value.is_integer() else value


def _inputdata_rule(rule: controller_service_pb2.VariableRule, label: str) -> dict[str, Any]:
    return {
        "label": label,
        "desc": label,
        "types": list(rule.types),
        "stattypes": _STAT_TYPES.get(rule.kind, ["numerical", "nominal"]),
        "notblank": rule.min_count > 0,
        "multiple": not (rule.HasField("max_count") and rule.max_count <= 1),
        "enumslen": None,
    }


def _fixed(label: str, desc: str, types: list[str], *, multiple: bool, notblank: bool = True) -> dict[str, Any]:
    return {
        "label": label,
        "desc": desc,
        "types": types,
        "stattypes": None,
        "notblank": notblank,
        "multiple": multiple,
        "enumslen": None,
    }


def _enums(parameter: controller_service_pb2.ParameterInfo, kind: str) -> dict[str, Any] | None:
    return {"type": "list", "source": [_value(c, kind) for c in parameter.choices]} if parameter.choices else None


def _parameter(algorithm: str, parameter: controller_service_pb2.ParameterInfo) -> tuple[str, dict[str, Any]]:
    name = MIP_PARAMETER_NAMES.get(algorithm, {}).get(parameter.name, parameter.name)
    kind = parameter.type.split("[", 1)[0]
    spec: dict[str, Any] = {
        "label": name,
        "desc": parameter.description,
        "types": [_PARAMETER_TYPES.get(kind, "dict" if kind == "dict" else kind)],
        "notblank": parameter.is_required,
        "multiple": kind == "list",
        "default": _value(parameter.default_value, kind) if parameter.HasField("default_value") else None,
        "enums": {"type": "list", "source": [_value(c, kind) for c in parameter.choices]}
        if parameter.choices
        else None,
        "min": _number(parameter.min_value, kind) if parameter.HasField("min_value") else None,
        "max": _number(parameter.max_value, kind) if parameter.HasField("max_value") else None,
    }
    return name, spec


def algorithm_spec(info: controller_service_pb2.AlgorithmInfo) -> dict[str, Any]:
    """One entry of ``GET /algorithms``, in Exaflow's algorithm-spec shape."""
    inputdata: dict[str, Any] = {
        "data_model": _fixed(
            "Data model of the data.", "The data model that the algorithm will run on.", ["text"], multiple=False
        ),
        "datasets": _fixed("Set of data to use.", "The set of data to run the algorithm on.", ["text"], multiple=True),
        "filter": _fixed(
            "Filter on the data.", "A jQuery-QueryBuilder rule tree.", ["jsonObject"], multiple=False, notblank=False
        ),
        "y": _inputdata_rule(info.y, "y"),
    }
    if not (info.x.HasField("max_count") and info.x.max_count == 0):
        inputdata["x"] = _inputdata_rule(info.x, "x")
    return {
        "name": info.name,
        "desc": info.description,
        "label": info.label,
        "inputdata": inputdata,
        "parameters": dict(_parameter(info.name, p) for p in info.parameters),
        "preprocessing": None,
        "flags": None,
        "type": "exareme3",
    }


def parameters_from_mip(algorithm: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """MIP parameter names translated to ours; a parameter given under both names is refused."""
    ours = {mip: own for own, mip in MIP_PARAMETER_NAMES.get(algorithm, {}).items()}
    translated: dict[str, Any] = {}
    for name, value in parameters.items():
        own = ours.get(name, name)
        if own in translated:
            raise ValueError(f"parameter {own!r} is given twice (as {own!r} and as {name!r}); give it once")
        translated[own] = value
    return translated


def cde_metadata(variable: common_pb2.Variable) -> dict[str, Any]:
    """A variable in Exaflow's CommonDataElement shape."""
    return {
        "code": variable.code,
        "label": variable.label,
        "sql_type": variable.sql_type,
        "is_categorical": variable.is_categorical,
        "enumerations": {e.code: e.label for e in variable.enumerations} if variable.is_categorical else None,
        "min": variable.min_value if variable.HasField("min_value") else None,
        "max": variable.max_value if variable.HasField("max_value") else None,
    }
