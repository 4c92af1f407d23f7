"""Experiment files for ``mip pipeline``: several steps, in YAML or JSON, read into request steps.

```yaml
inputdata:                      # defaults every step starts from (optional)
  data_model: demo:1.0
  datasets: [demo_site1_a, demo_site2_a]
timeout_seconds: 300            # optional; 0 = the controller's default
skip_failed_nodes: false        # optional; go on without a failing local node
steps:
  - name: pca
    algorithm: pca_with_transformation
    inputdata: {y: [hippocampus, entorhinal, ventricles]}
  - name: clusters
    algorithm: kmeans
    input_from: pca.transformed     # the output an earlier step exposed
    inputdata: {y: [hippocampus, entorhinal]}
    parameters: {numOfClusters: 3}
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mip_client.client import experiment_step
from mip_common._proto import controller_service_pb2

__all__ = ["Pipeline", "load_pipeline", "read_json_file", "read_request_file"]

_TOP_KEYS = {"inputdata", "steps", "timeout_seconds", "skip_failed_nodes"}
_STEP_KEYS = {"name", "algorithm", "inputdata", "parameters", "input_from"}
_INPUT_KEYS = {"data_model", "datasets", "y", "x", "filters"}
_REQUEST_KEYS = {"inputdata", "parameters"}


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The steps of an experiment file and how to run them."""

    steps: list[controller_service_pb2.ExperimentStep]
    timeout_s: float = 0.0
    is_skip_failed_nodes: bool = False


def read_json_file(path: Path, what: str = "JSON file") -> Any:
    """The JSON value in ``path``; a missing file or bad JSON is a ValueError naming the file."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ValueError(f"{what} {path} is not valid JSON: {exc.msg} at {where}") from None


def load_pipeline(path: Path) -> Pipeline:
    """Read an experiment file (``.json``, or YAML otherwise); problems are ValueErrors naming the step."""
    if path.suffix.lower() == ".json":
        document = read_json_file(path, "pipeline file")
    else:
        try:
            document = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"pipeline file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"pipeline file {path} is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(document, dict):
        raise ValueError(f"pipeline file {path} must hold a mapping with a 'steps' list")
    _check_keys(document, _TOP_KEYS, f"pipeline file {path}")
    raw_steps = document.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ValueError(f"pipeline file {path} needs a non-empty 'steps' list")
    defaults = document.get("inputdata") or {}
    _check_keys(defaults, _INPUT_KEYS, "top-level inputdata")
    steps = []
    for index, raw in enumerate(raw_steps):
        where = f"step {index + 1}" + (f" ({raw.get('name')!r})" if isinstance(raw, dict) and raw.get("name") else "")
        if not isinstance(raw, dict) or not raw.get("algorithm"):
            raise ValueError(f"{where} must be a mapping with at least 'algorithm'")
        _check_keys(raw, _STEP_KEYS, where)
        inputdata = {**defaults, **(raw.get("inputdata") or {})}
        _check_keys(inputdata, _INPUT_KEYS, f"{where} inputdata")
        if not raw.get("input_from") and not (inputdata.get("data_model") and inputdata.get("datasets")):
            raise ValueError(f"{where} needs inputdata data_model and datasets (or input_from an earlier step)")
        steps.append(
            experiment_step(
                str(raw["algorithm"]),
                str(inputdata.get("data_model", "")),
                _strings(inputdata.get("datasets")),
                _strings(inputdata.get("y")),
                _strings(inputdata.get("x")),
                inputdata.get("filters"),
                raw.get("parameters") or {},
                name=str(raw.get("name", "")),
                input_from=str(raw.get("input_from", "")),
            )
        )
    return Pipeline(
        steps,
        timeout_s=float(document.get("timeout_seconds") or 0.0),
        is_skip_failed_nodes=bool(document.get("skip_failed_nodes", False)),
    )


def read_request_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A one-step request file's ``inputdata`` and ``parameters``; an unknown key is an error naming it."""
    request = read_json_file(path, "request file")
    if not isinstance(request, dict):
        raise ValueError(f"request file {path} must hold a JSON object with inputdata and parameters")
    _check_keys(request, _REQUEST_KEYS, f"request file {path}")
    inputdata = request.get("inputdata") or {}
    _check_keys(inputdata, _INPUT_KEYS, f"request file {path}: inputdata")
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ValueError(f"request file {path}: parameters must be a mapping")
    return dict(inputdata), dict(parameters)


def _check_keys(mapping: Any, known: set[str], where: str) -> None:
    if not isinstance(mapping, dict):
        raise ValueError(f"{where} must be a mapping")
    if unknown := set(mapping) - known:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]
