"""Algorithm flows: the steps of each algorithm, written against the runtime interface."""

from algorithm_flows._errors import AlgorithmError, InvalidInputDataError, InvalidParametersError
from algorithm_flows._params import ParameterSpec, describe_params, param, parse_params
from algorithm_flows._registry import discover_flows
from algorithm_flows._validation import validate_variables
from algorithm_flows.runtime import (
    DATASET_COLUMN,
    AlgorithmFlow,
    Column,
    GlobalTable,
    InputData,
    LocalTables,
    Runtime,
    Variable,
    VariableRule,
)

__all__ = [
    "DATASET_COLUMN",
    "AlgorithmError",
    "AlgorithmFlow",
    "Column",
    "GlobalTable",
    "InputData",
    "InvalidInputDataError",
    "InvalidParametersError",
    "LocalTables",
    "ParameterSpec",
    "Runtime",
    "Variable",
    "VariableRule",
    "describe_params",
    "discover_flows",
    "param",
    "parse_params",
    "validate_variables",
]
