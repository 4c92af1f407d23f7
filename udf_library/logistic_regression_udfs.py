"""Binary logistic regression by Newton–Raphson (as statsmodels Logit) and its k-fold CV.

Each Newton step is one round: the nodes send the gradient, Hessian and log-likelihood of
their rows at the current coefficients (one row of sums); the global node takes the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from udf_library import _design
from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError
from udf_library._folds import assign_folds
from udf_library._hints import CLASS_HINT, FOLD_HINT, LEVEL_HINT
from udf_library._lazy import LazyModule
from udf_library._udf import shared, udf

if TYPE_CHECKING:
    from scipy import special, stats
else:
    special = LazyModule("scipy.special")
    stats = LazyModule("scipy.stats")

__all__ = [
    "ROC_THRESHOLDS",
    "global_cv_metrics",
    "global_cv_newton_update",
    "global_newton_update",
    "local_cv_newton_step",
    "local_cv_scores",
    "local_newton_step",
]

NAME = "name"
FOLD = "fold"
ROC_THRESHOLDS = 201
"""Probability thresholds (evenly spaced on [0, 1]) of the ROC curve behind the CV AUC."""


@udf(
    outputs=(
        shared(
            "step", rows=("n", "n_pos", "n_neg", "cell_*"), hint=f"{CLASS_HINT}; or {LEVEL_HINT}", merge="secure_sum"
        ),
    )
)
def local_newton_step(
    data: ArrayBundle,
    y: str,
    positive_class: str,
    categoricals: list[str],
    numerics: list[str],
    levels: dict[str, Any],
    coefficients: list[float],
) -> ArrayBundle:
    """Row count, positives, log-likelihood, gradient and Hessian at ``coefficients`` (one row)."""
    design, target = _design_and_target(data, y, positive_class, categoricals, numerics, levels)
    sums = _step_sums(design, target, np.asarray(coefficients, dtype=np.float64))
    return ArrayBundle(sums | _design.level_cells(data, categoricals, levels))


@udf(outputs=(shared("state"), shared("coefficients"), shared("summary")))
def global_newton_update(
    step: ArrayBundle, names: list[str], coefficients: list[float]
) -> tuple[ArrayBundle, ArrayBundle, ArrayBundle]:
    """The next Newton iterate, and the fit's statistics should the flow stop there.

    ``max_change`` tells the flow when to stop; the statistics then need no further round:
    the coefficients are the new iterate, the standard errors come from the Hessian one
    negligible step behind it and the log-likelihood from its quadratic expansion.
    """
    beta = np.asarray(coefficients, dtype=np.float64)
    sums = _merged_sums(step, len(beta))
    _check_classes(sums)
    if not np.any(beta):
        _design.check_full_rank(sums.hessian, [_design.INTERCEPT, *names])
        beta, sums = _at_null_model(sums)
    change = _solve(sums.hessian, sums.gradient)
    new = beta + change
    state = _state_row(new, np.abs(change).max(initial=0.0), sums.ll)
    ll = sums.ll + 0.5 * float(sums.gradient @ change)
    return (state, *_fit_tables(new, sums, ll, names))


@udf(
    outputs=(
        shared("step", rows=("f*_n", "f*_n_pos", "f*_n_neg"), hint=f"{FOLD_HINT}; or {CLASS_HINT}", merge="secure_sum"),
    )
)
def local_cv_newton_step(
    data: ArrayBundle,
    y: str,
    positive_class: str,
    categoricals: list[str],
    numerics: list[str],
    levels: dict[str, Any],
    n_splits: int,
    seed: int,
    coefficients: list[float],
) -> ArrayBundle:
    """Newton sums of each fold's training rows at that fold's coefficients (one wide row).

    ``coefficients`` holds the folds' coefficient vectors one after the other.
    """
    design, target = _design_and_target(data, y, positive_class, categoricals, numerics, levels)
    folds = assign_folds(data.num_rows, n_splits, seed)
    betas = np.asarray(coefficients, dtype=np.float64).reshape(n_splits, design.shape[1])
    columns: dict[str, Any] = {}
    for fold in range(n_splits):
        train = folds != fold
        columns |= _step_sums(design[train], target[train], betas[fold], f"f{fold}_")
    return ArrayBundle(columns)


@udf(outputs=(shared("state"),))
def global_cv_newton_update(
    step: ArrayBundle, names: list[str], n_splits: int, coefficients: list[float]
) -> ArrayBundle:
    """The next Newton iterate of every fold's model; ``max_change`` over all folds."""
    p = len(names) + 1
    betas = np.asarray(coefficients, dtype=np.float64).reshape(n_splits, p)
    new = np.empty_like(betas)
    for fold in range(n_splits):
        sums = _merged_sums(step, p, f"f{fold}_")
        try:
            _check_classes(sums)
            if not np.any(betas[fold]):
                _design.check_full_rank(sums.hessian, [_design.INTERCEPT, *names])
                betas[fold], sums = _at_null_model(sums)
            new[fold] = betas[fold] + _solve(sums.hessian, sums.gradient)
        except UdfInputError as exc:
            raise UdfInputError(f"training rows of fold {fold + 1}: {exc}") from None
    return _state_row(new.ravel(), np.abs(new - betas).max(initial=0.0), 0.0)


@udf(outputs=(shared("scores", rows="f*_n", hint=FOLD_HINT, merge="secure_sum"),))
def local_cv_scores(
    data: ArrayBundle,
    y: str,
    positive_class: str,
    categoricals: list[str],
    numerics: list[str],
    levels: dict[str, Any],
    n_splits: int,
    seed: int,
    coefficients: list[float],
) -> ArrayBundle:
    """Per test fold: the confusion counts at probability 0.5 and ROC counts (one wide row).

    ``f<k>_pos_<t>``/``f<k>_neg_<t>`` count positives/negatives whose predicted
    probability is at least threshold ``t`` of ``ROC_THRESHOLDS``.
    """
    design, target = _design_and_target(data, y, positive_class, categoricals, numerics, levels)
    folds = assign_folds(data.num_rows, n_splits, seed)
    betas = np.asarray(coefficients, dtype=np.float64).reshape(n_splits, design.shape[1])
    thresholds = np.linspace(0.0, 1.0, ROC_THRESHOLDS)
    columns: dict[str, Any] = {}
    for fold in range(n_splits):
        test = folds == fold
        eta = design[test] @ betas[fold]
        probability = special.expit(eta)
        is_positive = target[test] == 1.0
        predicted = eta > 0.0
        columns[f"f{fold}_n"] = [int(test.sum())]
        columns[f"f{fold}_tp"] = [int(np.sum(predicted & is_positive))]
        columns[f"f{fold}_fp"] = [int(np.sum(predicted & ~is_positive))]
        columns[f"f{fold}_tn"] = [int(np.sum(~predicted & ~is_positive))]
        columns[f"f{fold}_fn"] = [int(np.sum(~predicted & is_positive))]
        above = probability[None, :] >= thresholds[:, None]
        pos_counts = (above & is_positive[None, :]).sum(axis=1)
        neg_counts = (above & ~is_positive[None, :]).sum(axis=1)
        for t in range(ROC_THRESHOLDS):
            columns[f"f{fold}_pos_{t}"] = [int(pos_counts[t])]
            columns[f"f{fold}_neg_{t}"] = [int(neg_counts[t])]
    return ArrayBundle(columns)


@udf(outputs=(shared("metrics"),))
def global_cv_metrics(scores: ArrayBundle, n_splits: int) -> ArrayBundle:
    """Accuracy, precision, recall, F1 and AUC of each test fold (one row per fold).

    Precision, recall and F1 are 0 when undefined (as scikit-learn's default). The AUC is
    the trapezoid area under the ROC curve at ``ROC_THRESHOLDS`` thresholds, so it can
    differ from the exact rank AUC by the share of positive-negative pairs whose
    probabilities fall between the same two thresholds.
    """
    rows: dict[str, list[Any]] = {
        key: [] for key in (FOLD, "n_obs", "accuracy", "precision", "recall", "fscore", "auc")
    }
    for fold in range(n_splits):
        tp, fp, tn, fn = (float(scores[f"f{fold}_{c}"].sum()) for c in ("tp", "fp", "tn", "fn"))
        n = tp + fp + tn + fn
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        fscore = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        pos = np.array([scores[f"f{fold}_pos_{t}"].sum() for t in range(ROC_THRESHOLDS)], float)
        neg = np.array([scores[f"f{fold}_neg_{t}"].sum() for t in range(ROC_THRESHOLDS)], float)
        auc = float("nan")
        if pos[0] and neg[0]:  # the ROC runs from (1, 1) at threshold 0 down to (0, 0)
            tpr = np.append(pos / pos[0], 0.0)
            fpr = np.append(neg / neg[0], 0.0)
            auc = float(-np.trapezoid(tpr, fpr))
        rows[FOLD].append(fold)
        rows["n_obs"].append(int(n))
        rows["accuracy"].append((tp + tn) / n if n else float("nan"))
        rows["precision"].append(precision)
        rows["recall"].append(recall)
        rows["fscore"].append(fscore)
        rows["auc"].append(auc)
    return ArrayBundle(rows)


class _Sums:
    """Merged Newton sums: rows, positives, log-likelihood, gradient and Hessian."""

    def __init__(self, n: float, n_pos: float, ll: float, gradient: np.ndarray, hessian: np.ndarray) -> None:
        self.n = n
        self.n_pos = n_pos
        self.ll = ll
        self.gradient = gradient
        self.hessian = hessian


def _design_and_target(
    data: ArrayBundle,
    y: str,
    positive_class: str,
    categoricals: list[str],
    numerics: list[str],
    levels: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    design = _design.design_matrix(data, categoricals, numerics, levels)
    design = np.column_stack([np.ones(data.num_rows), design])
    target = (_design.level_strings(data[y]) == positive_class).astype(np.float64)
    return design, target


def _step_sums(design: np.ndarray, target: np.ndarray, beta: np.ndarray, prefix: str = "") -> dict[str, Any]:
    eta = design @ beta
    probability = special.expit(eta)
    weights = probability * (1.0 - probability)
    gradient = design.T @ (target - probability)
    hessian = (design * weights[:, None]).T @ design
    p = len(beta)
    columns: dict[str, Any] = {
        f"{prefix}n": [float(len(target))],
        f"{prefix}n_pos": [float(target.sum())],
        f"{prefix}n_neg": [float(len(target) - target.sum())],
        f"{prefix}ll": [float(target @ eta - np.logaddexp(0.0, eta).sum())],
    }
    for i in range(p):
        columns[f"{prefix}g_{i}"] = [float(gradient[i])]
    for i in range(p):
        for j in range(i, p):
            columns[f"{prefix}h_{i}_{j}"] = [float(hessian[i, j])]
    return columns


def _merged_sums(step: ArrayBundle, p: int, prefix: str = "") -> _Sums:
    gradient = np.array([step[f"{prefix}g_{i}"].sum() for i in range(p)])
    hessian = np.zeros((p, p))
    for i in range(p):
        for j in range(i, p):
            hessian[i, j] = hessian[j, i] = step[f"{prefix}h_{i}_{j}"].sum()
    return _Sums(
        float(step[f"{prefix}n"].sum()),
        float(step[f"{prefix}n_pos"].sum()),
        float(step[f"{prefix}ll"].sum()),
        gradient,
        hessian,
    )


def _check_classes(sums: _Sums) -> None:
    if sums.n_pos == 0 or sums.n_pos == sums.n:
        which = "no" if sums.n_pos == 0 else "every"
        raise UdfInputError(f"{which} selected row has the positive class: logistic regression needs both classes")


def _fit_tables(beta: np.ndarray, sums: _Sums, ll: float, names: list[str]) -> tuple[ArrayBundle, ArrayBundle]:
    """Standard errors, z tests, 95% intervals and fit statistics of the fit ``beta``."""
    stderr = np.sqrt(np.diag(np.linalg.inv(sums.hessian)))
    z_scores = beta / stderr
    margin = stats.norm.ppf(0.975) * stderr
    n = sums.n
    ll0 = _null_log_likelihood(sums)
    k = len(beta)
    table = ArrayBundle(
        {
            NAME: np.array([_design.INTERCEPT, *names], dtype=object),
            "coefficient": beta,
            "stderr": stderr,
            "z_score": z_scores,
            "pvalue": 2.0 * stats.norm.sf(np.abs(z_scores)),
            "lower_ci": beta - margin,
            "upper_ci": beta + margin,
        }
    )
    summary = ArrayBundle(
        {
            "n_obs": [round(n)],
            "df_model": [k - 1],
            "df_resid": [round(n) - k],
            "ll": [ll],
            "ll0": [ll0],
            "aic": [-2.0 * ll + 2.0 * k],
            "bic": [-2.0 * ll + k * np.log(n)],
            "r_squared_cs": [1.0 - np.exp(2.0 * (ll0 - ll) / n)],
            "r_squared_mcf": [1.0 - ll / ll0],
        }
    )
    return table, summary


def _null_log_likelihood(sums: _Sums) -> float:
    share = sums.n_pos / sums.n
    return float(sums.n_pos * np.log(share) + (sums.n - sums.n_pos) * np.log1p(-share))


def _at_null_model(sums: _Sums) -> tuple[np.ndarray, _Sums]:
    """The null model (intercept = logit of the share of positives) and its sums, from those at zero.

    At zero every row's weight is 1/4 and at the null model every row's probability is
    the share, so its gradient and Hessian follow from the sums at zero without another
    round; Newton from there takes fewer steps when the classes are unbalanced.
    """
    share = sums.n_pos / sums.n
    column_sums = 4.0 * sums.hessian[:, 0]  # the intercept column of X'X / 4
    start = np.zeros(len(sums.gradient))
    start[0] = special.logit(share)
    gradient = sums.gradient + (0.5 - share) * column_sums
    hessian = 4.0 * share * (1.0 - share) * sums.hessian
    return start, _Sums(sums.n, sums.n_pos, _null_log_likelihood(sums), gradient, hessian)


def _solve(hessian: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    try:
        step: np.ndarray = np.linalg.solve(hessian, gradient)
    except np.linalg.LinAlgError:
        raise UdfInputError(
            "the Hessian became singular: the classes may be perfectly separated by the x variables"
        ) from None
    if not np.all(np.isfinite(step)):
        raise UdfInputError("the Newton step is not finite: the classes may be perfectly separated by the x variables")
    return step


def _state_row(coefficients: np.ndarray, max_change: float, ll: float) -> ArrayBundle:
    columns: dict[str, Any] = {f"b_{i}": [float(b)] for i, b in enumerate(coefficients)}
    columns |= {"max_change": [float(max_change)], "ll": [ll]}
    return ArrayBundle(columns)
