"""Naive Bayes (Gaussian and categorical): local per-class sufficient statistics, global models.

Both models are sums over rows, so one round of local statistics gives the exact
pooled fit. Every local output is one wide row (statistics packed into numbered
columns), so it stays an aggregate however many classes or categories there are.
Classes and categories are indexed by the level lists the flow passes (sorted CDE
enumerations), so every node indexes them alike without seeing the others' data.

Cross-validation: each node assigns its own rows to folds (kept private), shares
per-fold statistics, gets back one model per fold and shares per-fold confusion
counts of its held-out rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._folds import assign_folds
from udf_library._hints import CLASS_HINT, FOLD_HINT
from udf_library._packing import PACK_ROW, pack, unpack
from udf_library._udf import WHOLE_VIEW, private, shared, udf

__all__ = [
    "encode_levels",
    "gaussian_predict",
    "global_categorical_fold_models",
    "global_categorical_model",
    "global_cv_metrics",
    "global_gaussian_fold_models",
    "global_gaussian_model",
    "local_categorical_counts",
    "local_categorical_fold_confusion",
    "local_categorical_fold_counts",
    "local_gaussian_fold_confusion",
    "local_gaussian_fold_stats",
    "local_gaussian_stats",
    "sorted_levels",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FOLD = "fold"
CLASS = "class"
COUNT = "count"


# --------------------------------------------------------------------------- Gaussian


@udf(outputs=(shared("stats", rows="n_*", hint=CLASS_HINT, merge="secure_sum", keys=(PACK_ROW,)),))
def local_gaussian_stats(data: ArrayBundle, y: str, x: list[str], classes: list[str]) -> ArrayBundle:
    """Per-class count, sums and sums of squares (packed): they merge by adding, securely or not."""
    labels = encode_levels(data[y], classes, y)
    points = data.matrix(x)
    counts, sums, squares = _class_sums(points, labels, len(classes))
    return pack({"n": counts, "sum": sums, "sxx": squares})


@udf(outputs=(shared("model"),))
def global_gaussian_model(stats: ArrayBundle, x: list[str], classes: list[str], var_smoothing: float) -> ArrayBundle:
    """Pooled per-class means and variances, as scikit-learn's ``GaussianNB`` fits them.

    Classes no node holds are dropped (scikit-learn learns only observed classes); every
    variance gets ``var_smoothing`` times the largest pooled variance of any feature.
    """
    shape = (len(classes), len(x))
    counts, means, m2 = _moments_from_sums(
        unpack(stats, "n", shape[:1]).sum(axis=0),
        unpack(stats, "sum", shape).sum(axis=0),
        unpack(stats, "sxx", shape).sum(axis=0),
    )
    present = counts > 0
    if not present.any():
        raise UdfInputError("no rows to fit a naive Bayes model on")
    theta, var, _ = _gaussian_params(counts, means, m2, var_smoothing)
    columns: dict[str, Any] = {
        CLASS: np.array([c for c, p in zip(classes, present, strict=True) if p], dtype=object),
        COUNT: counts[present],
        "prior": counts[present] / counts.sum(),
    }
    columns |= {f"theta_{j}": theta[present, j] for j in range(len(x))}
    columns |= {f"var_{j}": var[present, j] for j in range(len(x))}
    return ArrayBundle(columns)


@udf(
    outputs=(
        shared("stats", rows="n_*", hint=f"{CLASS_HINT}; or {FOLD_HINT}", merge="secure_sum", keys=(PACK_ROW,)),
        private("folds"),
    )
)
def local_gaussian_fold_stats(
    data: ArrayBundle, y: str, x: list[str], classes: list[str], n_splits: int, seed: int
) -> tuple[ArrayBundle, ArrayBundle]:
    """Assign this node's rows to folds (private) and share per-fold class sums (as the fit's)."""
    labels = encode_levels(data[y], classes, y)
    folds = assign_folds(data.num_rows, n_splits, seed)
    points = data.matrix(x)
    k = len(classes)
    counts = np.zeros((n_splits, k))
    sums = np.zeros((n_splits, k, len(x)))
    squares = np.zeros((n_splits, k, len(x)))
    for fold in range(n_splits):
        in_fold = folds == fold
        counts[fold], sums[fold], squares[fold] = _class_sums(points[in_fold], labels[in_fold], k)
    stats = pack({"n": counts, "sum": sums, "sxx": squares})
    return stats, ArrayBundle({FOLD: folds})


@udf(outputs=(shared("models"),))
def global_gaussian_fold_models(
    stats: ArrayBundle, x: list[str], classes: list[str], n_splits: int, var_smoothing: float
) -> ArrayBundle:
    """One Gaussian model per fold, fitted on every other fold's rows of every node.

    One row per (fold, class); a class absent from a fold's training rows gets a log
    prior of -inf, so it is never predicted by that fold's model.
    """
    k, p = len(classes), len(x)
    # Axis 0 is the node (or one summed part), axis 1 the fold: a fold's training rows add both.
    counts = unpack(stats, "n", (n_splits, k)).sum(axis=0)
    sums = unpack(stats, "sum", (n_splits, k, p)).sum(axis=0)
    squares = unpack(stats, "sxx", (n_splits, k, p)).sum(axis=0)
    rows: dict[str, list[Any]] = {FOLD: [], CLASS: [], "log_prior": []}
    thetas: list[FloatArray] = []
    variances: list[FloatArray] = []
    for fold in range(n_splits):
        train = np.arange(n_splits) != fold
        train_counts, train_means, train_m2 = _moments_from_sums(
            counts[train].sum(axis=0), sums[train].sum(axis=0), squares[train].sum(axis=0)
        )
        if train_counts.sum() == 0:
            raise UdfInputError(f"fold {fold} leaves no training rows; use fewer splits")
        theta, var, _ = _gaussian_params(train_counts, train_means, train_m2, var_smoothing)
        with np.errstate(divide="ignore"):
            log_prior = np.log(train_counts) - np.log(train_counts.sum())
        rows[FOLD].extend([fold] * k)
        rows[CLASS].extend(range(k))
        rows["log_prior"].extend(log_prior.tolist())
        thetas.append(np.where(train_counts[:, None] > 0, theta, 0.0))
        variances.append(np.where(train_counts[:, None] > 0, var, 1.0))
    theta_all = np.concatenate(thetas)
    var_all = np.concatenate(variances)
    columns: dict[str, Any] = dict(rows)
    columns |= {f"theta_{j}": theta_all[:, j] for j in range(p)}
    columns |= {f"var_{j}": var_all[:, j] for j in range(p)}
    return ArrayBundle(columns)


@udf(
    outputs=(shared("confusion", rows=WHOLE_VIEW, merge="secure_sum", keys=(PACK_ROW,)),)
)  # fold x class cells passed in the stats round
def local_gaussian_fold_confusion(
    data: ArrayBundle,
    folds: ArrayBundle,
    models: ArrayBundle,
    y: str,
    x: list[str],
    classes: list[str],
    n_splits: int,
) -> ArrayBundle:
    """Predict each held-out row with its fold's model; share the per-fold confusion counts."""
    labels = encode_levels(data[y], classes, y)
    points = data.matrix(x)
    fold_of_row = folds[FOLD]
    k, p = len(classes), len(x)
    predicted = np.zeros(data.num_rows, dtype=np.int64)
    for fold in range(n_splits):
        rows = fold_of_row == fold
        model = models.take(models[FOLD] == fold)
        order = np.argsort(model[CLASS], kind="stable")
        theta = model.matrix([f"theta_{j}" for j in range(p)])[order]
        var = model.matrix([f"var_{j}" for j in range(p)])[order]
        log_prior = model["log_prior"][order]
        predicted[rows] = gaussian_predict(points[rows], theta, var, log_prior)
    return pack({"confusion": _confusion(fold_of_row, labels, predicted, n_splits, k)})


def gaussian_predict(points: FloatArray, theta: FloatArray, var: FloatArray, log_prior: FloatArray) -> IntArray:
    """Index of the most likely class of each row, as ``GaussianNB.predict`` computes it."""
    if points.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    norm = -0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)
    sq = ((points[:, None, :] - theta[None, :, :]) ** 2 / var[None, :, :]).sum(axis=2)
    joint = log_prior[None, :] + (norm[None, :] - 0.5 * sq)
    best: IntArray = np.argmax(joint, axis=1).astype(np.int64)
    return best


# ------------------------------------------------------------------------ categorical


@udf(outputs=(shared("counts", rows=("n_*", "cat*_*"), hint=CLASS_HINT, merge="secure_sum", keys=(PACK_ROW,)),))
def local_categorical_counts(
    data: ArrayBundle, y: str, x: list[str], classes: list[str], categories: dict[str, Any]
) -> ArrayBundle:
    """Class counts and, per feature, class-by-category counts: one wide row."""
    labels = encode_levels(data[y], classes, y)
    k = len(classes)
    packed: dict[str, npt.NDArray[Any]] = {"n": np.bincount(labels, minlength=k)}
    for j, name in enumerate(x):
        levels = _levels_of(categories, name)
        codes = encode_levels(data[name], levels, name)
        packed[f"cat{j}"] = _cross_counts(labels, codes, k, len(levels))
    return pack(packed)


@udf(outputs=(shared("classes"), shared("categories")))
def global_categorical_model(
    counts: ArrayBundle, x: list[str], classes: list[str], categories: dict[str, Any], alpha: float
) -> tuple[ArrayBundle, ArrayBundle]:
    """Pooled counts and log probabilities, as scikit-learn's ``CategoricalNB`` fits them.

    Only observed classes are kept, and each feature keeps the categories up to its
    highest observed one (``n_categories_`` is the largest code plus one there), with
    ``alpha`` added to every kept count.
    """
    k = len(classes)
    class_count = unpack(counts, "n", (k,)).sum(axis=0)
    present = class_count > 0
    if not present.any():
        raise UdfInputError("no rows to fit a naive Bayes model on")
    kept = class_count[present]
    class_table = ArrayBundle(
        {
            CLASS: np.array([c for c, p in zip(classes, present, strict=True) if p], dtype=object),
            COUNT: kept.astype(np.int64),
            "log_prior": np.log(kept) - np.log(kept.sum()),
        }
    )
    parts: dict[str, list[Any]] = {
        "feature": [],
        CLASS: [],
        "category": [],
        COUNT: [],
        "log_prob": [],
    }
    for j, name in enumerate(x):
        levels = _levels_of(categories, name)
        table = unpack(counts, f"cat{j}", (k, len(levels))).sum(axis=0)[present]
        observed = np.flatnonzero(table.sum(axis=0) > 0)
        n_categories = int(observed.max()) + 1 if observed.size else 0
        table = table[:, :n_categories]
        smoothed = table + alpha
        log_prob = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
        for c in range(table.shape[0]):
            for level in range(n_categories):
                parts["feature"].append(j)
                parts[CLASS].append(c)
                parts["category"].append(level)
                parts[COUNT].append(int(table[c, level]))
                parts["log_prob"].append(float(log_prob[c, level]))
    columns: dict[str, Any] = {
        "feature": np.array(parts["feature"], dtype=np.int64),
        CLASS: np.array(parts[CLASS], dtype=np.int64),
        "category": np.array(parts["category"], dtype=np.int64),
        COUNT: np.array(parts[COUNT], dtype=np.int64),
        "log_prob": np.array(parts["log_prob"], dtype=np.float64),
    }
    return class_table, ArrayBundle(columns)


@udf(
    outputs=(
        shared(
            "counts", rows=("n_*", "cat*_*"), hint=f"{CLASS_HINT}; or {FOLD_HINT}", merge="secure_sum", keys=(PACK_ROW,)
        ),
        private("folds"),
    )
)
def local_categorical_fold_counts(
    data: ArrayBundle,
    y: str,
    x: list[str],
    classes: list[str],
    categories: dict[str, Any],
    n_splits: int,
    seed: int,
) -> tuple[ArrayBundle, ArrayBundle]:
    """Assign this node's rows to folds (private) and share per-fold class/category counts."""
    labels = encode_levels(data[y], classes, y)
    folds = assign_folds(data.num_rows, n_splits, seed)
    k = len(classes)
    packed: dict[str, npt.NDArray[Any]] = {"n": _cross_counts(folds.astype(np.int64), labels, n_splits, k)}
    for j, name in enumerate(x):
        levels = _levels_of(categories, name)
        codes = encode_levels(data[name], levels, name)
        packed[f"cat{j}"] = np.stack(
            [_cross_counts(labels[folds == f], codes[folds == f], k, len(levels)) for f in range(n_splits)]
        )
    return pack(packed), ArrayBundle({FOLD: folds})


@udf(outputs=(shared("priors"), shared("log_probs")))
def global_categorical_fold_models(
    counts: ArrayBundle,
    x: list[str],
    classes: list[str],
    categories: dict[str, Any],
    n_splits: int,
    alpha: float,
) -> tuple[ArrayBundle, ArrayBundle]:
    """One categorical model per fold, over every category level of each feature.

    Using every level (scikit-learn's ``min_categories``) lets a model score a held-out
    row whose category never occurs in that fold's training rows.
    """
    k = len(classes)
    class_counts = unpack(counts, "n", (n_splits, k)).sum(axis=0)
    prior_rows: dict[str, list[Any]] = {FOLD: [], CLASS: [], "log_prior": []}
    prob_rows: dict[str, list[Any]] = {FOLD: [], "feature": [], CLASS: [], "log_prob": []}
    tables = [
        unpack(counts, f"cat{j}", (n_splits, k, len(_levels_of(categories, name)))).sum(axis=0)
        for j, name in enumerate(x)
    ]
    for fold in range(n_splits):
        train = np.arange(n_splits) != fold
        train_counts = class_counts[train].sum(axis=0)
        if train_counts.sum() == 0:
            raise UdfInputError(f"fold {fold} leaves no training rows; use fewer splits")
        with np.errstate(divide="ignore"):
            log_prior = np.log(train_counts) - np.log(train_counts.sum())
        prior_rows[FOLD].extend([fold] * k)
        prior_rows[CLASS].extend(range(k))
        prior_rows["log_prior"].extend(log_prior.tolist())
        for j, table in enumerate(tables):
            smoothed = table[train].sum(axis=0) + alpha
            log_prob = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
            for c in range(k):
                prob_rows[FOLD].extend([fold] * log_prob.shape[1])
                prob_rows["feature"].extend([j] * log_prob.shape[1])
                prob_rows[CLASS].extend([c] * log_prob.shape[1])
                prob_rows["log_prob"].extend(log_prob[c].tolist())
    priors = ArrayBundle({key: np.asarray(value) for key, value in prior_rows.items()})
    probs = ArrayBundle({key: np.asarray(value) for key, value in prob_rows.items()})
    return priors, probs


@udf(
    outputs=(shared("confusion", rows=WHOLE_VIEW, merge="secure_sum", keys=(PACK_ROW,)),)
)  # fold x class cells passed in the counts round
def local_categorical_fold_confusion(
    data: ArrayBundle,
    folds: ArrayBundle,
    priors: ArrayBundle,
    log_probs: ArrayBundle,
    y: str,
    x: list[str],
    classes: list[str],
    categories: dict[str, Any],
    n_splits: int,
) -> ArrayBundle:
    """Predict each held-out row with its fold's model; share the per-fold confusion counts."""
    labels = encode_levels(data[y], classes, y)
    codes = [encode_levels(data[name], _levels_of(categories, name), name) for name in x]
    fold_of_row = folds[FOLD]
    k = len(classes)
    predicted = np.zeros(data.num_rows, dtype=np.int64)
    for fold in range(n_splits):
        rows = np.flatnonzero(fold_of_row == fold)
        prior = priors.take(priors[FOLD] == fold)
        joint = np.tile(prior["log_prior"][np.argsort(prior[CLASS], kind="stable")], (rows.size, 1))
        for j in range(len(x)):
            part = log_probs.take((log_probs[FOLD] == fold) & (log_probs["feature"] == j))
            table = part["log_prob"].reshape(k, -1)  # rows were written class by class
            joint += table[:, codes[j][rows]].T
        predicted[rows] = np.argmax(joint, axis=1) if rows.size else predicted[rows]
    return pack({"confusion": _confusion(fold_of_row, labels, predicted, n_splits, k)})


# ---------------------------------------------------------------------------- metrics


@udf(outputs=(shared("confusion"), shared("metrics")))
def global_cv_metrics(confusion: ArrayBundle, classes: list[str], n_splits: int) -> tuple[ArrayBundle, ArrayBundle]:
    """Confusion matrices and per-class precision, recall and F1, per fold and over all folds.

    Fold ``-1`` is the union of the held-out rows of every fold. Only classes that
    occur in the data are reported; a ratio with a zero denominator is 0, as in
    scikit-learn's ``zero_division=0``.
    """
    k = len(classes)
    per_fold = unpack(confusion, "confusion", (n_splits, k, k)).sum(axis=0)
    present = (per_fold.sum(axis=(0, 2)) + per_fold.sum(axis=(0, 1))) > 0
    per_fold = per_fold[:, present][:, :, present]
    kept = [c for c, p in zip(classes, present, strict=True) if p]
    matrices = [(-1, per_fold.sum(axis=0))] + [(f, per_fold[f]) for f in range(n_splits)]
    cm_rows: dict[str, list[Any]] = {FOLD: [], "true": []}
    cm_rows |= {f"pred_{i}": [] for i in range(len(kept))}
    metric_rows: dict[str, list[Any]] = {
        FOLD: [],
        CLASS: [],
        "precision": [],
        "recall": [],
        "f1": [],
        "support": [],
        "accuracy": [],
        "n_obs": [],
    }
    for fold, matrix in matrices:
        total = matrix.sum()
        accuracy = float(np.trace(matrix) / total) if total else 0.0
        for i, name in enumerate(kept):
            cm_rows[FOLD].append(fold)
            cm_rows["true"].append(name)
            for jj in range(len(kept)):
                cm_rows[f"pred_{jj}"].append(int(matrix[i, jj]))
            tp = matrix[i, i]
            predicted = matrix[:, i].sum()
            actual = matrix[i, :].sum()
            precision = float(tp / predicted) if predicted else 0.0
            recall = float(tp / actual) if actual else 0.0
            f1 = float(2 * tp / (predicted + actual)) if predicted + actual else 0.0
            metric_rows[FOLD].append(fold)
            metric_rows[CLASS].append(name)
            metric_rows["precision"].append(precision)
            metric_rows["recall"].append(recall)
            metric_rows["f1"].append(f1)
            metric_rows["support"].append(int(actual))
            metric_rows["accuracy"].append(accuracy)
            metric_rows["n_obs"].append(int(total))
    cm = ArrayBundle(
        {
            key: np.array(value, dtype=object) if key == "true" else np.asarray(value, dtype=np.int64)
            for key, value in cm_rows.items()
        }
    )
    metrics = ArrayBundle(
        {
            key: np.array(value, dtype=object) if key == CLASS else np.asarray(value)
            for key, value in metric_rows.items()
        }
    )
    return cm, metrics


# ---------------------------------------------------------------------------- helpers


def encode_levels(values: npt.NDArray[Any], levels: list[str], name: str) -> IntArray:
    """Index of each value in ``levels``; numbers match levels that parse to the same number.

    A value outside ``levels`` means the data and the variable's enumerations disagree,
    which no model here can repair, so it is a ``UdfInputError``.
    """
    if values.dtype.kind in "iuf":
        numeric = np.array([float(level) for level in levels], dtype=np.float64)
        order = np.argsort(numeric, kind="stable")
        pos = np.searchsorted(numeric[order], values.astype(np.float64))
        pos = np.clip(pos, 0, max(len(levels) - 1, 0))
        codes = order[pos] if len(levels) else np.zeros(len(values), dtype=np.int64)
        if len(values) and (not len(levels) or np.any(numeric[codes] != values)):
            raise UdfInputError(f"variable {name!r} holds values outside its enumerations")
        return codes.astype(np.int64)
    index = {level: i for i, level in enumerate(levels)}
    try:
        return np.array([index[v] for v in values], dtype=np.int64)
    except KeyError:
        raise UdfInputError(f"variable {name!r} holds values outside its enumerations") from None


def _levels_of(categories: dict[str, Any], name: str) -> list[str]:
    levels = categories.get(name)
    if not isinstance(levels, list):
        raise UdfInputError(f"no category levels given for variable {name!r}")
    return [str(level) for level in levels]


def _class_sums(points: FloatArray, labels: IntArray, k: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-class count, sums and sums of squares of each feature."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((k, points.shape[1]))
    np.add.at(sums, labels, points)
    squares = np.zeros_like(sums)
    np.add.at(squares, labels, points**2)
    return counts, sums, squares


def _moments_from_sums(
    counts: FloatArray, sums: FloatArray, squares: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-group count, mean and sum of squared deviations from the pooled sums (groups x features)."""
    means = np.divide(sums, counts[..., None], out=np.zeros_like(sums), where=counts[..., None] > 0)
    m2 = np.maximum(squares - counts[..., None] * means**2, 0.0)
    return counts, means, m2


def _merge_moments(counts: FloatArray, means: FloatArray, m2: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Combine per-part moments (axis 0 = part) with Chan et al.'s pairwise formula.

    ``counts`` has shape ``(parts, *groups)``; ``means`` and ``m2`` add a last axis of
    features.
    """
    total_n = np.zeros(counts.shape[1:])
    total_mean = np.zeros(means.shape[1:])
    total_m2 = np.zeros(m2.shape[1:])
    for n, mean, sq in zip(counts, means, m2, strict=True):
        merged = total_n + n
        safe = np.where(merged > 0, merged, 1.0)
        delta = mean - total_mean
        total_mean = total_mean + delta * (n / safe)[..., None]
        total_m2 = total_m2 + sq + delta**2 * (total_n * n / safe)[..., None]
        total_n = merged
    return total_n, total_mean, total_m2


def _gaussian_params(
    counts: FloatArray, means: FloatArray, m2: FloatArray, var_smoothing: float
) -> tuple[FloatArray, FloatArray, float]:
    """Per-class means and smoothed variances, and the smoothing added."""
    overall_n, overall_mean, overall_m2 = _merge_moments(counts[:, None], means[:, None], m2[:, None])
    del overall_mean
    pooled_var = overall_m2[0] / overall_n[0] if overall_n[0] > 0 else np.zeros(means.shape[1])
    epsilon = float(var_smoothing * np.max(pooled_var)) if pooled_var.size else 0.0
    safe = np.where(counts > 0, counts, 1.0)[:, None]
    return means, m2 / safe + epsilon, epsilon


def _cross_counts(first: IntArray, second: IntArray, n_first: int, n_second: int) -> IntArray:
    flat = np.bincount(first * n_second + second, minlength=n_first * n_second)
    return flat.reshape(n_first, n_second).astype(np.int64)


def _confusion(folds: npt.NDArray[Any], truth: IntArray, predicted: IntArray, n_splits: int, k: int) -> IntArray:
    flat = np.bincount((folds.astype(np.int64) * k + truth) * k + predicted, minlength=n_splits * k * k)
    return flat.reshape(n_splits, k, k).astype(np.int64)


def sorted_levels(enumerations: list[str], is_numeric: bool) -> list[str]:
    """Levels in scikit-learn's order (sorted values): numerically for numeric variables."""
    if is_numeric:
        return sorted(enumerations, key=float)
    return sorted(enumerations)
