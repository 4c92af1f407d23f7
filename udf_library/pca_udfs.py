"""Principal component analysis of standardized data (as scikit-learn PCA), with transformations.

One round: each node sends the moments of its (log/exp-transformed) variables; the global
node merges them exactly and takes the eigenvectors of the correlation matrix, which are
the principal axes of the standardized pooled rows. Centering and standardizing are
linear, so they change only the reported means and sigmas, never the axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from udf_library import _design
from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._udf import private, shared, udf

__all__ = ["global_pca", "local_moments", "local_transform_and_scores"]

LOG = "log"
EXP = "exp"
CENTER = "center"
STANDARDIZE = "standardize"
TRANSFORMATIONS = (LOG, EXP, CENTER, STANDARDIZE)
VARIABLE = "variable"
COMPONENT = "component"


@udf(outputs=(shared("moments", rows="n", merge="secure_sum"),))
def local_moments(data: ArrayBundle, variables: list[str], transformations: dict[str, Any]) -> ArrayBundle:
    """Moments of ``variables`` after their log/exp transformations, as one row.

    ``transformations`` maps a variable to its steps in order, e.g. ``{"age": ["log",
    "center"]}``; center and standardize must come after log and exp.
    """
    return _design.moments_row(_design.moments_of(_nonlinear(data, variables, transformations)))


@udf(outputs=(shared("eigen"), shared("stats")))
def global_pca(
    moments: ArrayBundle, variables: list[str], transformations: dict[str, Any]
) -> tuple[ArrayBundle, ArrayBundle]:
    """Eigenvalues and eigenvectors of the correlation matrix, and the transformed means and sigmas.

    ``eigen`` has one row per component, largest eigenvalue first, each eigenvector signed
    so that its largest loading is positive. ``stats`` has one row per variable: the
    mean and sigma (ddof = 1) of the transformed data, and the mean and population sigma
    of the data before centering/standardizing (used to transform rows on the nodes).
    """
    pooled = _design.merged_moments(moments, len(variables))
    if pooled.n < 2:
        raise UdfInputError(f"PCA needs at least 2 rows, got {int(pooled.n)}")
    sigma = np.sqrt(np.diag(pooled.m2) / (pooled.n - 1.0))
    constant = [v for v, s in zip(variables, sigma, strict=True) if s == 0 or not np.isfinite(s)]
    if constant:
        raise UdfInputError(f"variables {constant} do not vary: they cannot be standardized")
    correlation = pooled.m2 / (pooled.n - 1.0) / np.outer(sigma, sigma)
    eigenvalues, eigenvectors = np.linalg.eigh(correlation)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = eigenvalues[order]
    components = eigenvectors[:, order].T
    largest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(len(order)), largest])[:, None]
    eigen: dict[str, Any] = {COMPONENT: np.arange(len(order)), "eigen_val": eigenvalues}
    eigen |= {name: components[:, j] for j, name in enumerate(variables)}
    out_mean = pooled.mean.copy()
    out_sigma = sigma.copy()
    for j, name in enumerate(variables):
        steps = list(transformations.get(name, []))
        if CENTER in steps or STANDARDIZE in steps:
            out_mean[j] = 0.0
        if STANDARDIZE in steps:
            # standardizing divides by the population sigma (ddof = 0), as the reference does,
            # so the sample sigma of a standardized variable is sqrt(n / (n - 1))
            out_sigma[j] = np.sqrt(pooled.n / (pooled.n - 1.0))
    stats = ArrayBundle(
        {
            VARIABLE: np.array(variables, dtype=object),
            "mean": out_mean,
            "sigma": out_sigma,
            "raw_mean": pooled.mean,
            "raw_sigma_ddof0": np.sqrt(np.diag(pooled.m2) / pooled.n),
            "n_obs": np.full(len(variables), round(pooled.n)),
        }
    )
    return ArrayBundle(eigen), stats


@udf(outputs=(private("transformed"), private("scores")))
def local_transform_and_scores(
    data: ArrayBundle,
    stats: ArrayBundle,
    eigen: ArrayBundle,
    variables: list[str],
    transformations: dict[str, Any],
) -> tuple[ArrayBundle, ArrayBundle]:
    """The rows with every transformation applied (pooled means and sigmas), and each row's
    principal component scores (standardized rows times the eigenvectors); both stay on the node.

    One call makes both: they share the transformation, and a flow waits for one round, not two.
    """
    values = _transformed(data, stats, variables, transformations)
    keys: dict[str, Any] = {"dataset": data["dataset"]} if "dataset" in data else {}
    transformed = ArrayBundle(keys | {name: values[:, j] for j, name in enumerate(variables)})
    standardized = (values - stats["mean"]) / stats["sigma"]
    scores = standardized @ eigen.matrix(variables).T
    return transformed, ArrayBundle(keys | {f"pc{k + 1}": scores[:, k] for k in range(scores.shape[1])})


def _nonlinear(data: ArrayBundle, variables: list[str], transformations: dict[str, Any]) -> np.ndarray:
    values = data.matrix(variables)
    for j, name in enumerate(variables):
        for step in transformations.get(name, []):
            if step == LOG:
                if np.any(values[:, j] <= 0):
                    raise UdfInputError(f"log transformation needs positive values, and {name!r} has values <= 0")
                values[:, j] = np.log(values[:, j])
            elif step == EXP:
                values[:, j] = np.exp(values[:, j])
            elif step not in TRANSFORMATIONS:
                raise UdfInputError(f"unknown transformation {step!r}; known: {list(TRANSFORMATIONS)}")
    return values


def _transformed(
    data: ArrayBundle, stats: ArrayBundle, variables: list[str], transformations: dict[str, Any]
) -> np.ndarray:
    values = _nonlinear(data, variables, transformations)
    for j, name in enumerate(variables):
        steps = list(transformations.get(name, []))
        if STANDARDIZE in steps:
            values[:, j] = (values[:, j] - stats["raw_mean"][j]) / stats["raw_sigma_ddof0"][j]
        elif CENTER in steps:
            values[:, j] = values[:, j] - stats["raw_mean"][j]
    return values
