"""The controller's conversions between protobuf messages and the flows' domain values, in one place.

Every value bound for a ``Struct`` (UDF literals, filters, parameter defaults, results)
goes through ``udf_library.plain_json``, the one encoding the in-memory runtime shares.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2

from algorithm_flows import InputData, parse_params
from mip_common._proto import common_pb2, controller_service_pb2
from mip_common.errors import InvalidRequestError
from mip_common.structs import struct_to_python
from udf_library import plain_json

__all__ = [
    "federated_dataset",
    "inputdata_from_proto",
    "inputdata_to_proto",
    "params_from_proto",
    "result_json",
    "to_struct",
    "to_value",
    "typed_json",
]


def inputdata_from_proto(message: common_pb2.InputData) -> InputData:
    """The proto InputData as the flows' dataclass, filters as plain JSON."""
    filters = struct_to_python(message.filters, "filters") if message.HasField("filters") else None
    if filters == {}:
        filters = None
    if len(set(message.datasets)) != len(message.datasets):
        raise InvalidRequestError("datasets are listed more than once")
    return InputData(
        data_model=message.data_model,
        datasets=tuple(message.datasets),
        y=tuple(message.y),
        x=tuple(message.x),
        filters=filters,
    )


def inputdata_to_proto(inputdata: InputData) -> common_pb2.InputData:
    """The flows' InputData as the proto a node's CreateDataView takes."""
    message = common_pb2.InputData(
        data_model=inputdata.data_model,
        datasets=inputdata.datasets,
        y=inputdata.y,
        x=inputdata.x,
    )
    if inputdata.filters:
        message.filters.update(plain_json(dict(inputdata.filters)))
    return message


def params_from_proto(params_type: Any, parameters: struct_pb2.Struct) -> Any:
    """A step's Struct parameters as the flow's parameter dataclass."""
    return parse_params(params_type, struct_to_python(parameters, "parameters"))


def to_struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    """UDF literals or a flow result as a Struct: numpy values made plain, infinities as "Infinity", NaN as null."""
    struct = struct_pb2.Struct()
    struct.update(plain_json(dict(values)))  # 2-3x faster than json_format.ParseDict
    return struct


def to_value(value: Any) -> struct_pb2.Value:
    """One value as a Struct Value (a parameter's default or choice)."""
    return to_struct({"v": value}).fields["v"]


def federated_dataset(
    data_model: str, code: str, node_ids: list[str], dataset: common_pb2.Dataset
) -> controller_service_pb2.FederatedDataset:
    """A dataset as the federation lists it: a node's description and every node that holds it."""
    return controller_service_pb2.FederatedDataset(
        code=code, data_model=data_model, node_ids=node_ids, row_count=dataset.row_count, label=dataset.label
    )


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
