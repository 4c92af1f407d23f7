"""Helpers that several flows share, so that no flow imports another.

A flow module holds one algorithm; what two algorithms have in common (a variable rule,
a round of level counts, the design's column names, a JSON number) lives here.
"""

from __future__ import annotations

from typing import Any

from algorithm_flows._errors import AlgorithmError
from algorithm_flows.runtime import GlobalTable, Runtime, VariableRule
from udf_library import ArrayBundle, levels_udfs, naive_bayes_udfs, pca_udfs

__all__ = [
    "ALTERNATIVES",
    "CLASS_RULE",
    "FEATURE_RULE",
    "MAX_ITERATIONS",
    "TOLERANCE",
    "class_levels",
    "coefficients_of",
    "cv_report",
    "design_names",
    "is_converged",
    "json_number",
    "observed_levels",
    "run_pca",
    "split_x",
]

ALTERNATIVES = ("two-sided", "less", "greater")


def json_number(value: Any) -> float | str | None:
    """A JSON-ready number: NaN as null, infinities as the strings MIP front ends read."""
    number = float(value)
    if number != number:
        return None
    if number == float("inf"):
        return "Infinity"
    if number == float("-inf"):
        return "-Infinity"
    return number


CLASS_RULE = VariableRule(
    types=frozenset({"int", "text"}),
    is_categorical=True,
    min_count=1,
    max_count=1,
    doc="the class variable",
)


def class_levels(rt: Runtime, code: str) -> list[str]:
    """The levels of a categorical variable in scikit-learn's (sorted) order."""
    variable = rt.variables[code]
    if not variable.enumerations:
        raise AlgorithmError(f"variable {code!r} has no enumerations to take its levels from")
    return naive_bayes_udfs.sorted_levels(list(variable.enumerations), variable.sql_type in ("int", "real"))


FEATURE_RULE = VariableRule(types=frozenset({"int", "text"}), is_categorical=True, min_count=1, doc="the features")


async def cv_report(rt: Runtime, confusion: GlobalTable, classes: list[str], n_splits: int) -> dict[str, Any]:
    """Confusion matrices and metrics of a cross-validation, over all folds and per fold."""
    outputs = await rt.execute_udf_global_outputs(
        naive_bayes_udfs.global_cv_metrics, confusion=confusion, classes=classes, n_splits=n_splits
    )
    matrices = await rt.read_global(outputs["confusion"])
    metrics = await rt.read_global(outputs["metrics"])
    kept = [str(c) for c, f in zip(metrics["class"], metrics["fold"], strict=True) if f == -1]
    pred_columns = [f"pred_{i}" for i in range(len(kept))]

    def summary(fold: int) -> dict[str, Any]:
        rows = metrics.take(metrics["fold"] == fold)
        matrix = matrices.take(matrices["fold"] == fold)
        return {
            "n_obs": int(rows["n_obs"][0]),
            "accuracy": float(rows["accuracy"][0]),
            "precision": [float(v) for v in rows["precision"]],
            "recall": [float(v) for v in rows["recall"]],
            "f1": [float(v) for v in rows["f1"]],
            "support": [int(v) for v in rows["support"]],
            "confusion_matrix": matrix.matrix(pred_columns).astype(int).tolist(),
        }

    return {
        "classes": kept,
        "n_splits": n_splits,
        **summary(-1),
        "folds": [{"fold": fold, **summary(fold)} for fold in range(n_splits)],
    }


def split_x(rt: Runtime) -> tuple[list[str], list[str]]:
    """The x variables as (categoricals, numerics), each in request order."""
    x = list(rt.inputdata.x)
    categoricals = [code for code in x if rt.variables[code].is_categorical]
    return categoricals, [code for code in x if code not in categoricals]


async def observed_levels(
    rt: Runtime,
    variables: list[str],
) -> dict[str, list[str]]:
    """One round: the levels of ``variables`` seen on any node, sorted (reference first)."""
    if not variables:
        return {}
    counts = await rt.execute_udf_locals(levels_udfs.local_levels, data=rt.data, variables=variables)
    merged = await rt.create_remote_and_merge_global(counts)
    table = await rt.read_global(await rt.execute_udf_global(levels_udfs.global_levels, counts=merged))
    levels: dict[str, list[str]] = {code: [] for code in variables}
    for code, level in zip(table["variable"], table["level"], strict=True):
        levels[str(code)].append(str(level))
    return levels


def design_names(categoricals: list[str], numerics: list[str], levels: dict[str, list[str]]) -> list[str]:
    """Design column names after the intercept: dummies ``var[level]``, then numeric variables."""
    dummies = [f"{code}[{level}]" for code in categoricals for level in levels[code][1:]]
    return dummies + numerics


TOLERANCE = 1e-8
"""Stop once no coefficient moves more than this, relative to the largest (at least 1).

Newton converges quadratically, so the iterate after such a step is within about its
square of the maximum (statsmodels stops at the same absolute step, 1e-8, by default).
"""


MAX_ITERATIONS = 100


def coefficients_of(state: ArrayBundle, count: int) -> list[float]:
    """The coefficient vector in a Newton state row."""
    return [float(state[f"b_{i}"][0]) for i in range(count)]


def is_converged(state: ArrayBundle, coefficients: list[float]) -> bool:
    """Whether the Newton step to ``coefficients`` was negligible."""
    scale = max([1.0, *(abs(b) for b in coefficients)])
    return float(state["max_change"][0]) <= TOLERANCE * scale


async def run_pca(rt: Runtime, transformations: dict[str, list[str]]) -> dict[str, Any]:
    """One round of moments, the eigen-decomposition on the global node, then private outputs.

    Exposes ``transformed`` (the rows after ``transformations``) and ``scores`` (each
    row's component scores) on every local node for later steps; neither leaves a node.
    """
    variables = list(rt.inputdata.y)
    moments = await rt.execute_udf_locals(
        pca_udfs.local_moments, data=rt.data, variables=variables, transformations=transformations
    )
    merged = await rt.create_remote_and_merge_global(moments)
    outputs = await rt.execute_udf_global_outputs(
        pca_udfs.global_pca, moments=merged, variables=variables, transformations=transformations
    )
    local_stats = await rt.create_remote_global_to_locals(outputs["stats"])
    local_eigen = await rt.create_remote_global_to_locals(outputs["eigen"])
    private = await rt.execute_udf_locals_outputs(
        pca_udfs.local_transform_and_scores,
        data=rt.data,
        stats=local_stats,
        eigen=local_eigen,
        variables=variables,
        transformations=transformations,
    )
    rt.expose("transformed", private["transformed"])
    rt.expose("scores", private["scores"])
    eigen = await rt.read_global(outputs["eigen"])
    stats = await rt.read_global(outputs["stats"])
    return {
        "n_obs": int(stats["n_obs"][0]),
        "eigen_vals": eigen["eigen_val"].tolist(),
        "eigen_vecs": eigen.matrix(variables).tolist(),
        "means": stats["mean"].tolist(),
        "sigmas": stats["sigma"].tolist(),
    }
