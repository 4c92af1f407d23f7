"""Reads ../shared MIP data models with pandas, for reference tests (skipped when absent)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from algorithm_flows import DATASET_COLUMN, Variable
from udf_library import ArrayBundle

SHARED = Path(__file__).resolve().parents[3] / "shared"
DATA = SHARED / "data"
REFERENCE_CASES = SHARED / "reference_cases"


def require_shared() -> None:
    """Skip the calling test with a clear message when ../shared is not beside the checkout."""
    if not (DATA / "dementia_v_0_1" / "CDEsMetadata.json").exists():
        pytest.skip(f"needs the MIP data models in {DATA} (../shared beside the checkout)")


def iter_variables(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every variable of a CDE tree, groups flattened."""
    yield from node.get("variables", [])
    for group in node.get("groups", []):
        yield from iter_variables(group)


def load_variables(folder: Path) -> dict[str, Variable]:
    """The CDEs of a data-model folder as flow ``Variable`` objects."""
    cdes = json.loads((folder / "CDEsMetadata.json").read_text())
    return {
        v["code"]: Variable(
            code=v["code"],
            sql_type=v["sql_type"],
            is_categorical=bool(v.get("isCategorical")),
            label=v.get("label", ""),
            enumerations=tuple(e["code"] for e in v.get("enumerations", []) or []),
            min_value=v.get("minValue"),
            max_value=v.get("maxValue"),
        )
        for v in iter_variables(cdes)
    }


def load_rows(folder: Path) -> pd.DataFrame:
    """All rows of a data-model folder except the ``*-test.csv`` files (they repeat rows)."""
    variables = load_variables(folder)
    frames = [
        pd.read_csv(path, dtype=str, keep_default_na=False)
        for path in sorted(folder.glob("*.csv"))
        if not path.name.endswith("-test.csv")
    ]
    rows = pd.concat(frames, ignore_index=True)
    for code, variable in variables.items():
        if code not in rows:
            continue
        column = rows[code].replace("", None)
        rows[code] = pd.to_numeric(column).astype(float) if variable.sql_type in ("int", "real") else column
    return rows


def split_datasets(datasets: Sequence[str], num_locals: int = 3) -> list[list[str]]:
    """The usual MIP split: ``*0`` datasets on the first local, the rest dealt round-robin."""
    ordered = sorted(datasets)
    first = [d for d in ordered if d.endswith("0")]
    rest = [d for d in ordered if not d.endswith("0")]
    nodes: list[list[str]] = [first] + [[] for _ in range(num_locals - 1)]
    for i, dataset in enumerate(rest):
        nodes[1 + i % (num_locals - 1)].append(dataset)
    return nodes


def partitions_for(
    rows: pd.DataFrame,
    variables: Mapping[str, Variable],
    datasets: Sequence[str],
    columns: Sequence[str],
    num_locals: int = 3,
) -> dict[str, ArrayBundle]:
    """Each local node's rows of ``datasets`` as the node would hand them to a flow."""
    all_datasets = sorted(rows[DATASET_COLUMN].unique())
    parts = {}
    for i, node_datasets in enumerate(split_datasets(all_datasets, num_locals)):
        chosen = rows[rows[DATASET_COLUMN].isin(set(node_datasets) & set(datasets))]
        parts[f"local{i + 1}"] = to_bundle(chosen, variables, [DATASET_COLUMN, *columns])
    return parts


def to_bundle(frame: pd.DataFrame, variables: Mapping[str, Variable], columns: Sequence[str]) -> ArrayBundle:
    """Columns of ``frame`` typed as a node types them: numbers float64/int64, text object."""
    out: dict[str, np.ndarray] = {}
    for name in columns:
        values = frame[name]
        variable = variables.get(name)
        if name == DATASET_COLUMN or (variable and variable.sql_type == "text"):
            out[name] = np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)
        elif variable and variable.sql_type == "int" and not values.isna().any():
            out[name] = values.to_numpy(dtype=np.int64)
        else:
            out[name] = values.to_numpy(dtype=np.float64)
    return ArrayBundle(out)


def reference_cases(algorithm_file: str) -> list[dict[str, Any]]:
    """The test cases of ``../shared/reference_cases/<algorithm_file>.json``."""
    path = REFERENCE_CASES / f"{algorithm_file}.json"
    if not path.exists():
        return []
    cases: list[dict[str, Any]] = json.loads(path.read_text())["test_cases"]
    return cases
