"""A seeded demo federation: one MIP data-model folder per local node, same CDEs everywhere.

The project must run and be tested without real (or even real-shaped, licensed) data, so
this writes data with known structure that the algorithms can be checked against:

* ``hippocampus``, ``entorhinal``, ``ventricles`` (real): four well-separated Gaussian
  clusters, for k-means;
* ``diagnosis`` (AD/MCI/CN) follows the cluster, ``gender`` (F/M) shifts the volumes;
* ``age`` (int, 40..95) is older in the AD-like clusters;
* ``cognition`` (real) = linear in the features and age, plus noise, for regression;
* ``amyloid`` (positive/negative) drawn from a logistic model, for logistic regression;
* about 3% of ``ventricles``, ``age`` and ``cognition`` cells are missing.

Each dataset's rows come from a generator seeded by ``(seed, site, dataset)``, so a
site's files do not change when the federation grows, and sites mix the clusters in
different proportions, as real hospitals do.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DATA_MODEL_CODE", "DATA_MODEL_VERSION", "demo_cdes", "write_demo_federation"]

DATA_MODEL_CODE = "demo"
DATA_MODEL_VERSION = "1.0"
DATASETS_PER_LOCAL = 2
MISSING_FRACTION = 0.03
AGE_RANGE = (40, 95)

# Cluster centres of (hippocampus, entorhinal, ventricles), several SDs apart.
_CENTRES = np.array(
    [
        [4.2, 2.0, 20.0],  # healthy
        [3.6, 1.6, 30.0],  # mild impairment
        [2.8, 1.1, 45.0],  # Alzheimer-like
        [3.2, 2.4, 60.0],  # other atrophy
    ]
)
_SPREADS = np.array([0.12, 0.08, 2.0])
_DIAGNOSES = ("AD", "MCI", "CN")
_DIAGNOSIS_GIVEN_CLUSTER = np.array([[0.05, 0.15, 0.80], [0.15, 0.70, 0.15], [0.80, 0.15, 0.05], [0.40, 0.40, 0.20]])
_AGE_MEANS = np.array([62.0, 70.0, 76.0, 72.0])
_MALE_VOLUME_SHIFT = np.array([0.15, 0.05, 2.0])
_COGNITION = {
    "intercept": 4.0,
    "hippocampus": 5.0,
    "entorhinal": 2.0,
    "ventricles": -0.1,
    "age": -0.05,
}
_COGNITION_NOISE = 1.0
_AMYLOID = {"intercept": 6.0, "hippocampus": -2.0, "age": 0.03}
_MISSING_COLUMNS = ("ventricles", "age", "cognition")
_COLUMNS = (
    "subjectcode",
    "dataset",
    "age",
    "gender",
    "diagnosis",
    "hippocampus",
    "entorhinal",
    "ventricles",
    "cognition",
    "amyloid",
)


def dataset_code(site: int, index: int) -> str:
    """``demo_site<site>_<a|b|...>``: dataset ``index`` (0-based) of local ``site`` (1-based)."""
    return f"demo_site{site}_{chr(ord('a') + index)}"


def demo_cdes(num_locals: int) -> dict[str, Any]:
    """The ``CDEsMetadata.json`` content every local node of the demo federation shares."""
    datasets = [
        {"code": dataset_code(site, i), "label": f"Demo site {site} {chr(ord('A') + i)}"}
        for site in range(1, num_locals + 1)
        for i in range(DATASETS_PER_LOCAL)
    ]

    def real(code: str, label: str, units: str, description: str) -> dict[str, Any]:
        return {
            "code": code,
            "label": label,
            "sql_type": "real",
            "isCategorical": False,
            "type": "real",
            "units": units,
            "description": description,
            "methodology": "demo",
        }

    def nominal(code: str, label: str, enumerations: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "code": code,
            "label": label,
            "sql_type": "text",
            "isCategorical": True,
            "type": "nominal",
            "enumerations": enumerations,
            "description": "",
            "methodology": "demo",
        }

    def codes(*pairs: tuple[str, str]) -> list[dict[str, str]]:
        return [{"code": code, "label": label} for code, label in pairs]

    return {
        "code": DATA_MODEL_CODE,
        "version": DATA_MODEL_VERSION,
        "label": "Demo data model (synthetic)",
        "variables": [
            nominal("dataset", "Dataset", datasets),
            {
                "code": "subjectcode",
                "label": "Subject code",
                "sql_type": "text",
                "isCategorical": False,
                "type": "text",
                "description": "Synthetic subject identifier",
                "methodology": "demo",
            },
        ],
        "groups": [
            {
                "code": "demographics",
                "label": "Demographics",
                "variables": [
                    {
                        "code": "age",
                        "label": "Age",
                        "sql_type": "int",
                        "isCategorical": False,
                        "type": "integer",
                        "units": "years",
                        "minValue": AGE_RANGE[0],
                        "maxValue": AGE_RANGE[1],
                        "description": "Age at visit",
                        "methodology": "demo",
                    },
                    nominal("gender", "Gender", codes(("F", "Female"), ("M", "Male"))),
                ],
            },
            {
                "code": "clinical",
                "label": "Clinical",
                "variables": [
                    nominal(
                        "diagnosis",
                        "Diagnosis",
                        codes(
                            ("AD", "Alzheimer's disease"),
                            ("MCI", "Mild cognitive impairment"),
                            ("CN", "Cognitively normal"),
                        ),
                    ),
                    real("cognition", "Cognition score", "points", "Composite cognitive score"),
                    nominal(
                        "amyloid",
                        "Amyloid status",
                        codes(("positive", "Positive"), ("negative", "Negative")),
                    ),
                ],
                "groups": [
                    {
                        "code": "brain",
                        "label": "Brain volumes",
                        "variables": [
                            real("hippocampus", "Hippocampus", "cm3", "Hippocampal volume"),
                            real("entorhinal", "Entorhinal cortex", "cm3", "Entorhinal volume"),
                            real("ventricles", "Lateral ventricles", "cm3", "Ventricular volume"),
                        ],
                    }
                ],
            },
        ],
    }


def write_demo_federation(out_dir: Path, num_locals: int = 3, rows_per_dataset: int = 200, seed: int = 0) -> list[Path]:
    """Write ``out_dir/local1`` ... ``out_dir/local<num_locals>``; returns those folders.

    Each folder holds the shared ``CDEsMetadata.json`` and one CSV per dataset
    (``demo_site<i>_a.csv``, ``demo_site<i>_b.csv``). The output depends only on the
    arguments: the same call writes the same bytes.
    """
    if num_locals < 1:
        raise ValueError(f"num_locals must be at least 1, got {num_locals}")
    if rows_per_dataset < 1:
        raise ValueError(f"rows_per_dataset must be at least 1, got {rows_per_dataset}")
    cdes_text = json.dumps(demo_cdes(num_locals), indent=2) + "\n"
    folders = []
    for site in range(1, num_locals + 1):
        folder = out_dir / f"local{site}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "CDEsMetadata.json").write_text(cdes_text, encoding="utf-8")
        for index in range(DATASETS_PER_LOCAL):
            code = dataset_code(site, index)
            rng = np.random.default_rng([seed, site, index])
            rows = _dataset_rows(rng, code, site, rows_per_dataset)
            with (folder / f"{code}.csv").open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(_COLUMNS)
                writer.writerows(rows)
        folders.append(folder)
    return folders


def _dataset_rows(rng: np.random.Generator, code: str, site: int, num_rows: int) -> list[list[str]]:
    # Each site leans towards one cluster, so the partitions are not identically distributed.
    weights = np.full(len(_CENTRES), 1.0)
    weights[(site - 1) % len(_CENTRES)] += 1.5
    clusters = rng.choice(len(_CENTRES), size=num_rows, p=weights / weights.sum())
    is_male = rng.random(num_rows) < 0.5
    features = (
        _CENTRES[clusters] + rng.normal(0.0, 1.0, (num_rows, 3)) * _SPREADS + np.outer(is_male, _MALE_VOLUME_SHIFT)
    )
    hippocampus, entorhinal, ventricles = features.T
    age = np.clip(np.rint(rng.normal(_AGE_MEANS[clusters], 6.0)), *AGE_RANGE).astype(np.int64)
    draws = rng.random(num_rows)
    cumulative = np.cumsum(_DIAGNOSIS_GIVEN_CLUSTER[clusters], axis=1)
    diagnosis_index = np.minimum((draws[:, None] > cumulative).sum(axis=1), len(_DIAGNOSES) - 1)
    cognition = (
        _COGNITION["intercept"]
        + _COGNITION["hippocampus"] * hippocampus
        + _COGNITION["entorhinal"] * entorhinal
        + _COGNITION["ventricles"] * ventricles
        + _COGNITION["age"] * age
        + rng.normal(0.0, _COGNITION_NOISE, num_rows)
    )
    logit = _AMYLOID["intercept"] + _AMYLOID["hippocampus"] * hippocampus + _AMYLOID["age"] * age
    is_amyloid_positive = rng.random(num_rows) < 1.0 / (1.0 + np.exp(-logit))
    missing = {column: rng.random(num_rows) < MISSING_FRACTION for column in _MISSING_COLUMNS}

    rows = []
    for i in range(num_rows):
        values = {
            "subjectcode": f"{code}_{i + 1:05d}",
            "dataset": code,
            "age": str(int(age[i])),
            "gender": "M" if is_male[i] else "F",
            "diagnosis": _DIAGNOSES[int(diagnosis_index[i])],
            "hippocampus": _real(hippocampus[i]),
            "entorhinal": _real(entorhinal[i]),
            "ventricles": _real(ventricles[i]),
            "cognition": _real(cognition[i]),
            "amyloid": "positive" if is_amyloid_positive[i] else "negative",
        }
        for column, is_missing in missing.items():
            if is_missing[i]:
                values[column] = ""
        rows.append([values[c] for c in _COLUMNS])
    return rows


def _real(value: float) -> str:
    """A float as short, exact-enough text: 4 decimals are far below the noise."""
    return repr(round(float(value), 4))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m mip_client.demo_data OUT_DIR --locals N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path, help="folder to write local1/, local2/, ... into")
    parser.add_argument("--locals", type=int, default=3, help="number of local nodes (default 3)")
    parser.add_argument("--rows", type=int, default=200, help="rows per dataset (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    for folder in write_demo_federation(args.out_dir, args.locals, args.rows, args.seed):
        print(folder)


if __name__ == "__main__":
    main()
