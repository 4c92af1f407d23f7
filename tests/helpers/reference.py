"""Compares a result with a MIP reference case's ``output``, with the tolerances of reference_cases/README.md.

Shared by the in-memory reference tests (``tests/algorithms/test_reference_*.py``) and the
run through real nodes (``tests/integration/test_reference_cases.py``). A result that came
back through the controller has passed a protobuf ``Struct``: integers are floats, NaN is
``null`` and infinities are the strings ``"Infinity"``/``"-Infinity"``; the comparison
accepts both forms.

Documented departures from a plain comparison, applied to every caller alike:

* ``anova_oneway``'s ``p_tuckey``: the reference holds statsmodels' ``psturng``, a table
  approximation clipped to [0.001, 0.9]; the flows report the exact studentized-range
  p-value. It is checked tightly against the exact value of the reference's own statistic
  and loosely against the reference's approximation.
* ``logistic_regression``'s ``r_squared_cs``: the reference files record 0.0 in every case
  although their own ``ll``, ``ll0`` and ``n_obs`` give ``1 - exp(2 (ll0 - ll) / n)``; the
  result is checked against that formula.
* ``anova``: a term with no degrees of freedom (collinear or nested factors) has no F test;
  the flow reports its ``f_stat`` and ``f_pvalue`` as null where the reference records 0.0.
* ``descriptive_stats``: a dataset with fewer rows than the node's ``min_rows`` is left out
  of the pooled "all datasets" record (its rows would otherwise be reported through the
  difference); the reference pools every dataset, so those pooled records differ.
* PCA eigenvectors are equal up to sign: each is flipped to point like the expected one.
* ``multiple_histograms``: nodes suppress (null) bins under their cell minimum and show
  empty bins as 0; the reference reports every non-empty bin and null for an empty one, so
  those cases run with ``min_rows=1`` (see the callers) and an expected null matches a 0.
* Disclosure control: the reference publishes single rows' minima, maxima and quartiles and
  cells of any size, which nodes refuse by default. Every reference run uses
  ``REFERENCE_DISCLOSURE`` (``extremes = "exact"``, ``min_cell_rows = 1``); the README lists
  the fields that differ, and the cases refused, under the default settings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

REFERENCE_DISCLOSURE: dict[str, Any] = {"extremes": "exact", "min_cell_rows": 1}
"""Node settings under which a federation may reproduce the reference's published numbers."""

__all__ = ["PSTURNG_ATOL", "compare_reference", "tolerance"]

DEFAULT_TOL = (1e-6, 1e-9)
_TIGHT = (1e-7, 1e-10)
_TTEST = (1e-8, 1e-10)
_LOGISTIC_LOOSE = (1e-5, 1e-5)
TOLERANCES: dict[str, dict[str, tuple[float, float]]] = {
    "pearson_correlation": {"*": _TIGHT},
    "pca": {"*": _TIGHT},
    "pca_with_transformation": {"*": _TIGHT},
    "ttest_onesample": {"*": _TTEST},
    "ttest_paired": {"*": _TTEST},
    "ttest_independent": {"*": _TTEST},
    "logistic_regression": {k: _LOGISTIC_LOOSE for k in ("stderr", "z_scores", "pvalues", "lower_ci", "upper_ci")},
}
EXTRA_FIELDS_ALLOWED = {"naive_bayes_categorical_fit", "naive_bayes_gaussian_fit"}
"""Results that carry more than the reference's fields (classes, features, priors); only those are compared."""
EXACT_KEYS = {"n_obs", "df_model", "df_resid", "class_count", "category_count", "counts"}
"""Counts: compared exactly (an int that travelled as a float still equals its int)."""
PSTURNG_ATOL = 0.05
"""How far Gleason's table approximation (the reference) strays from the exact p-value."""

_INFINITIES = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def tolerance(algorithm: str, key: str) -> tuple[float, float]:
    """(rtol, atol) for the top-level result field ``key`` of ``algorithm``."""
    rules = TOLERANCES.get(algorithm, {})
    return rules.get(key, rules.get("*", DEFAULT_TOL))


def compare_reference(algorithm: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs between a reference ``output`` and a result; empty when they match."""
    expected = dict(expected)
    actual = dict(actual)
    if algorithm == "logistic_regression" and {"ll", "ll0", "n_obs"} <= expected.keys():
        expected["r_squared_cs"] = 1.0 - math.exp(2.0 * (expected["ll0"] - expected["ll"]) / expected["n_obs"])
    if algorithm == "anova" and isinstance(expected.get("df"), dict):
        untested = [t for t, df in expected["df"].items() if df == 0 and t != "Residuals"]
        for key in ("f_stat", "f_pvalue"):
            expected[key] = {t: None if t in untested else v for t, v in expected[key].items()}
    if "eigen_vecs" in expected and isinstance(actual.get("eigen_vecs"), list):
        actual["eigen_vecs"] = _align_signs(actual["eigen_vecs"], expected["eigen_vecs"])
    if algorithm == "multiple_histograms" and isinstance(expected.get("histogram"), list):
        expected["histogram"] = [
            h | {"counts": [0 if c is None else c for c in h["counts"]]} if isinstance(h, dict) else h
            for h in expected["histogram"]
        ]
    if algorithm == "descriptive_stats":
        return [p for part in ("variable_based", "model_based") for p in _records(expected, actual, part)]
    if algorithm == "anova_oneway" and "tuckey_test" in expected:
        return _anova_oneway(expected, actual)
    fields, wanted = set(actual), set(expected)
    is_shape_ok = wanted <= fields if algorithm in EXTRA_FIELDS_ALLOWED else wanted == fields
    problems = [] if is_shape_ok else [f"fields differ: {sorted(fields)} != {sorted(wanted)}"]
    for key, value in expected.items():
        problems += _compare(value, actual.get(key), tolerance(algorithm, key), key in EXACT_KEYS, key)
    return problems


def _compare(expected: Any, actual: Any, tol: tuple[float, float], is_exact: bool, path: str) -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a mapping, got {actual!r:.80}"]
        problems = [] if set(actual) == set(expected) else [f"{path}: keys {sorted(actual)} != {sorted(expected)}"]
        for key, value in expected.items():
            problems += _compare(value, actual.get(key), tol, is_exact, f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r:.80}"]
        problems = []
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            problems += _compare(want, got, tol, is_exact, f"{path}[{i}]")
        return problems
    want, got = _number(expected), _number(actual)
    if isinstance(want, float) and isinstance(got, float):
        if math.isnan(want) or math.isnan(got):
            return [] if math.isnan(want) and math.isnan(got) else [f"{path}: {actual!r} != {expected!r}"]
        if is_exact or isinstance(expected, int) or math.isinf(want):
            return [] if got == want else [f"{path}: {actual!r} != {expected!r} (exact)"]
        rtol, atol = tol
        if math.isclose(got, want, rel_tol=rtol, abs_tol=atol):
            return []
        return [f"{path}: {actual!r} != {expected!r} (rtol {rtol}, atol {atol})"]
    if expected is None and (actual is None or (isinstance(got, float) and math.isnan(got))):
        return []
    return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]


def _number(value: Any) -> Any:
    """A number as float (Struct's "Infinity" strings and NaN included); anything else unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str) and value in _INFINITIES:
        return _INFINITIES[value]
    return value


def _align_signs(actual: list[list[float]], expected: list[list[float]]) -> list[list[float]]:
    if len(actual) != len(expected):
        return actual
    return [[-v for v in a] if np.dot(a, e) < 0 else a for a, e in zip(actual, expected, strict=True)]


def _records(expected: dict[str, Any], actual: dict[str, Any], part: str) -> list[str]:
    def keyed(records: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
        return {(r["variable"], r["dataset"]): r["data"] for r in records}

    want, got = keyed(expected[part]), keyed(actual.get(part) or [])
    if sorted(got) != sorted(want):
        return [f"{part}: records {sorted(set(got) ^ set(want))[:5]} only on one side"]
    problems = []
    for key, data in want.items():
        problems += _compare(data, got[key], DEFAULT_TOL, False, f"{part}{list(key)}")
    return problems


def _anova_oneway(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in expected.items():
        if key != "tuckey_test":
            problems += _compare(value, actual.get(key), DEFAULT_TOL, key == "n_obs", key)
    pairs, got_pairs = expected["tuckey_test"], actual.get("tuckey_test") or []
    if len(got_pairs) != len(pairs):
        return [*problems, f"tuckey_test: {len(got_pairs)} pairs != {len(pairs)}"]
    k = len({p["groupA"] for p in pairs} | {p["groupB"] for p in pairs})
    for i, (want, got) in enumerate(zip(pairs, got_pairs, strict=True)):
        path = f"tuckey_test[{i}]"
        problems += _compare(
            {f: v for f, v in want.items() if f != "p_tuckey"},
            {f: v for f, v in got.items() if f != "p_tuckey"},
            DEFAULT_TOL,
            False,
            path,
        )
        p_value = float(got["p_tuckey"])
        exact = float(stats.studentized_range.sf(math.sqrt(2.0) * abs(want["t_stat"]), k, expected["df_residual"]))
        if not math.isclose(p_value, exact, rel_tol=DEFAULT_TOL[0], abs_tol=DEFAULT_TOL[1]):
            problems.append(f"{path}.p_tuckey: {p_value!r} != exact {exact!r}")
        approximate = want["p_tuckey"]
        if approximate == 0.9:
            is_near = p_value >= 0.9 - PSTURNG_ATOL
        elif approximate == 0.001:
            is_near = p_value <= 0.001 + 1e-4
        else:
            is_near = abs(p_value - approximate) <= PSTURNG_ATOL
        if not is_near:
            problems.append(f"{path}.p_tuckey: {p_value!r} far from psturng's {approximate!r}")
    return problems
