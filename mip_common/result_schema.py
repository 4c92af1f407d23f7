"""The published shape of every algorithm's result: field names, types, dimensions and nullability.

Types: ``int``, ``float``, ``string``, ``bool`` (``a|b`` when either), ``record`` (fields listed),
nested in ``list[...]`` or ``map[string, ...]`` (an object whose keys are known only at run time,
such as model terms), or ``table`` (an object of equal-length columns, listed as fields, ``*``
for the columns named after variables). Served by ListAlgorithms and checked against real results
by the tests. Part of the contract, as the protos are: the controller publishes it and the client
decodes results with it, so it lives here rather than beside the flows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RESULT_SCHEMAS", "ResultField", "check_result"]


@dataclass(frozen=True, slots=True)
class ResultField:
    """One field of a result."""

    name: str
    type: str
    description: str = ""
    dimensions: tuple[str, ...] = ()
    """What each list level is indexed by, outermost first."""
    is_nullable: bool = False
    """Whether the innermost values may be null."""
    is_optional: bool = False
    """Whether the field may be absent (a record's fields that depend on the variable's kind)."""
    fields: tuple[ResultField, ...] = ()


def _f(
    name: str,
    type_: str,
    description: str,
    dimensions: Sequence[str] = (),
    *,
    nullable: bool = False,
    optional: bool = False,
    fields: Sequence[ResultField] = (),
) -> ResultField:
    return ResultField(name, type_, description, tuple(dimensions), nullable, optional, tuple(fields))


_N_OBS = _f("n_obs", "int", "rows used")
_STAT = "float"
_SUMMARY_STATS = [
    _f(name, _STAT, what, nullable=True, optional=True)
    for name, what in [
        ("mean", "mean"),
        ("std", "sample standard deviation"),
        ("min", "minimum"),
        ("q1", "first quartile"),
        ("q2", "median"),
        ("q3", "third quartile"),
        ("max", "maximum"),
    ]
]
_DESCRIPTIVE_RECORD = [
    _f("variable", "string", "variable code"),
    _f("dataset", "string", 'dataset code, or "all datasets"'),
    _f(
        "data",
        "record",
        "the statistics; null when the rows are under the privacy threshold",
        nullable=True,
        fields=[
            _f("num_dtps", "int", "non-missing values"),
            _f("num_na", "int", "missing values"),
            _f("num_total", "int", "rows"),
            *_SUMMARY_STATS,
            _f("counts", "map[string, int]", "rows per level of a categorical variable", optional=True),
        ],
    ),
]
_CLASSIFICATION = [
    _N_OBS,
    _f("accuracy", "float", "share of rows classified correctly"),
    _f("precision", "list[float]", "precision per class", ["classes"]),
    _f("recall", "list[float]", "recall per class", ["classes"]),
    _f("f1", "list[float]", "F1 score per class", ["classes"]),
    _f("support", "list[int]", "rows per true class", ["classes"]),
    _f("confusion_matrix", "list[list[int]]", "rows per (true, predicted) class", ["classes", "classes"]),
]
_NB_CV = (
    _f("classes", "list[string]", "class labels", ["classes"]),
    _f("n_splits", "int", "folds"),
    *_CLASSIFICATION,
    _f(
        "folds",
        "list[record]",
        "the same scores per fold",
        ["folds"],
        fields=[_f("fold", "int", "fold index"), *_CLASSIFICATION],
    ),
)
_CORRELATION_TABLE = [
    _f("variables", "string", "row variable"),
    _f("*", "float", "one column per column variable", nullable=True),
]
_TTEST_FIELDS = ["mean_diff", "ci_upper", "ci_lower", "cohens_d"]

RESULT_SCHEMAS: dict[str, tuple[ResultField, ...]] = {
    "anova": tuple(
        _f(name, f"map[string, {kind}]", what + " per term (the factors, their interaction, Residuals)", nullable=test)
        for name, kind, what, test in [
            ("sum_sq", "float", "sum of squares", False),
            ("df", "int", "degrees of freedom", False),
            ("f_stat", "float", "F statistic; null for a term with no degrees of freedom (no test)", True),
            ("f_pvalue", "float", "p-value of F; null for a term with no degrees of freedom", True),
        ]
    ),
    "anova_oneway": (
        _N_OBS,
        *(
            _f(name, "float", name.replace("_", " "))
            for name in [
                "df_residual",
                "df_explained",
                "ss_residual",
                "ss_explained",
                "ms_residual",
                "ms_explained",
                "p_value",
                "f_stat",
            ]
        ),
        _f(
            "tuckey_test",
            "list[record]",
            "Tukey HSD test per pair of groups",
            ["pairs"],
            fields=[
                _f("groupA", "string", "first group"),
                _f("groupB", "string", "second group"),
                _f("meanA", "float", "mean of groupA"),
                _f("meanB", "float", "mean of groupB"),
                _f("diff", "float", "meanA - meanB"),
                _f("se", "float", "standard error of diff"),
                _f("t_stat", "float", "t statistic"),
                _f("p_tuckey", "float", "studentized-range p-value"),
            ],
        ),
    ),
    "decision_tree": (
        _f("classes", "list[string]", "class labels", ["classes"]),
        _f("features", "list[string]", "x variables", ["features"]),
        _f(
            "tree",
            "record",
            "the tree, nodes in scikit-learn order",
            fields=[
                _f("children_left", "list[int]", "left child, -1 at a leaf", ["nodes"]),
                _f("children_right", "list[int]", "right child, -1 at a leaf", ["nodes"]),
                _f("feature", "list[int]", "feature index split on, -2 at a leaf", ["nodes"]),
                _f("feature_name", "list[string]", "feature split on, null at a leaf", ["nodes"], nullable=True),
                _f("threshold", "list[float]", "split threshold", ["nodes"]),
                _f("impurity", "list[float]", "impurity", ["nodes"]),
                _f("n_node_samples", "list[int]", "rows reaching the node", ["nodes"]),
                _f("class_counts", "list[list[int]]", "rows per class at the node", ["nodes", "classes"]),
            ],
        ),
        _f("node_count", "int", "nodes"),
        _f("depth", "int", "depth"),
        _f("n_leaves", "int", "leaves"),
        _N_OBS,
        _f(
            "training",
            "record",
            "scores on the training rows",
            fields=[c for c in _CLASSIFICATION if c.name not in ("n_obs", "support")],
        ),
    ),
    "descriptive_stats": (
        _f("variable_based", "list[record]", "each variable on its own rows", ["records"], fields=_DESCRIPTIVE_RECORD),
        _f("model_based", "list[record]", "rows complete in every variable", ["records"], fields=_DESCRIPTIVE_RECORD),
    ),
    "kmeans": (
        _f("variables", "list[string]", "the y variables", ["variables"]),
        _f("centroids", "list[list[float]]", "cluster centres", ["clusters", "variables"]),
        _N_OBS,
        _f("iterations", "int", "Lloyd iterations run"),
        _f("is_converged", "bool", "whether no centroid moved more than the tolerance"),
        _f("inertia", "float", "sum of squared distances to the nearest centroid"),
    ),
    "linear_regression": (
        _f("dependent_var", "string", "the y variable"),
        _N_OBS,
        _f("df_resid", "float", "residual degrees of freedom"),
        _f("df_model", "float", "model degrees of freedom"),
        _f("rse", "float", "residual standard error"),
        _f("r_squared", "float", "R²"),
        _f("r_squared_adjusted", "float", "adjusted R²"),
        _f("f_stat", "float", "F statistic"),
        _f("f_pvalue", "float", "p-value of F"),
        _f("indep_vars", "list[string]", "design columns, Intercept first", ["terms"]),
        *(
            _f(name, "list[float]", what, ["terms"])
            for name, what in [
                ("coefficients", "coefficients"),
                ("std_err", "standard errors"),
                ("t_stats", "t statistics"),
                ("pvalues", "p-values"),
                ("lower_ci", "lower 95% confidence bounds"),
                ("upper_ci", "upper 95% confidence bounds"),
            ]
        ),
    ),
    "linear_regression_cv": (
        _f("dependent_var", "string", "the y variable"),
        _f("indep_vars", "list[string]", "design columns, Intercept first", ["terms"]),
        _f("n_obs", "list[int]", "test rows per fold", ["folds"]),
        *(
            _f(name, "list[float]", name.replace("_", " ") + " per fold", ["folds"])
            for name in ["mean_sq_error", "mean_abs_error", "r_squared", "f_stat"]
        ),
    ),
    "logistic_regression": (
        _N_OBS,
        *(
            _f(name, "list[float]", name.replace("_", " "), ["terms"])
            for name in ["coefficients", "stderr", "lower_ci", "upper_ci", "z_scores", "pvalues"]
        ),
        _f("df_model", "int", "model degrees of freedom"),
        _f("df_resid", "int", "residual degrees of freedom"),
        *(
            _f(name, "float", what)
            for name, what in [
                ("r_squared_cs", "Cox-Snell pseudo R²"),
                ("r_squared_mcf", "McFadden pseudo R²"),
                ("ll0", "log-likelihood of the intercept-only model"),
                ("ll", "log-likelihood"),
                ("aic", "Akaike information criterion"),
                ("bic", "Bayesian information criterion"),
            ]
        ),
    ),
    "logistic_regression_cv": (
        _f("dependent_var", "string", "the y variable"),
        _f("indep_vars", "list[string]", "design columns, Intercept first", ["terms"]),
        _f("n_obs", "list[int]", "test rows per fold", ["folds"]),
        *(
            _f(name, "list[float]", name + " per fold", ["folds"])
            for name in ["accuracy", "precision", "recall", "fscore", "auc"]
        ),
    ),
    "multiple_histograms": (
        _f(
            "histogram",
            "list[record]",
            "one histogram per y variable, then one per (y, x level)",
            ["histograms"],
            fields=[
                _f("var", "string", "the y variable"),
                _f("grouping_var", "string", "the x variable, null for the overall histogram", nullable=True),
                _f("grouping_enum", "string", "the x level, null for the overall histogram", nullable=True),
                _f("bins", "list[float|string]", "bin edges (numeric) or levels (categorical)", ["bins"]),
                _f("counts", "list[int]", "rows per bin; null under the privacy threshold", ["bins"], nullable=True),
            ],
        ),
    ),
    "naive_bayes_categorical_cv": _NB_CV,
    "naive_bayes_categorical_fit": (
        _f("classes", "list[string]", "class labels", ["classes"]),
        _f("features", "list[string]", "x variables", ["features"]),
        _f("categories", "list[list[string]]", "levels per feature", ["features", "levels"]),
        _f("class_count", "list[int]", "rows per class", ["classes"]),
        _f("category_count", "list[list[list[int]]]", "rows per level and class", ["features", "classes", "levels"]),
        _f("class_log_prior", "list[float]", "log prior per class", ["classes"]),
        _f(
            "feature_log_prob",
            "list[list[list[float]]]",
            "smoothed log P(level | class)",
            ["features", "classes", "levels"],
        ),
        _N_OBS,
    ),
    "naive_bayes_gaussian_cv": _NB_CV,
    "naive_bayes_gaussian_fit": (
        _f("classes", "list[string]", "class labels", ["classes"]),
        _f("features", "list[string]", "x variables", ["features"]),
        _f("theta", "list[list[float]]", "mean per class and feature", ["classes", "features"]),
        _f("var", "list[list[float]]", "variance per class and feature", ["classes", "features"]),
        _f("class_count", "list[float]", "rows per class", ["classes"]),
        _f("class_prior", "list[float]", "prior per class", ["classes"]),
        _N_OBS,
    ),
    "pca": (
        _N_OBS,
        _f("eigen_vals", "list[float]", "eigenvalues, largest first", ["components"]),
        _f("eigen_vecs", "list[list[float]]", "eigenvectors (rows)", ["components", "variables"]),
    ),
    "pca_with_transformation": (
        _N_OBS,
        _f("eigen_vals", "list[float]", "eigenvalues, largest first", ["components"]),
        _f("eigen_vecs", "list[list[float]]", "eigenvectors (rows)", ["components", "variables"]),
        _f("means", "list[float]", "means after the transformations", ["variables"]),
        _f("sigmas", "list[float]", "standard deviations after the transformations", ["variables"]),
    ),
    "pearson_correlation": (
        _N_OBS,
        *(
            _f(
                name,
                "table",
                what + " (rows: y variables, columns: x variables, or y when x is empty)",
                fields=_CORRELATION_TABLE,
            )
            for name, what in [
                ("correlations", "Pearson correlations"),
                ("p-values", "p-values"),
                ("low_confidence_intervals", "lower confidence bounds"),
                ("high_confidence_intervals", "upper confidence bounds"),
            ]
        ),
    ),
    "ttest_independent": (
        _N_OBS,
        *(
            _f(name, "float", name.replace("_", " "), nullable=True)
            for name in ["t_stat", "df", "p", "mean_diff", "se_diff", "ci_upper", "ci_lower", "cohens_d"]
        ),
    ),
    "ttest_onesample": (
        _N_OBS,
        _f("t_value", "float", "t statistic", nullable=True),
        _f("p_value", "float", "p-value", nullable=True),
        _f("df", "float", "degrees of freedom", nullable=True),
        _f("mean_diff", "float", "mean minus mu", nullable=True),
        _f("se_diff", "list[float]", "standard error (one value)", ["one"], nullable=True),
        *(_f(name, "float", name.replace("_", " "), nullable=True) for name in _TTEST_FIELDS[1:]),
    ),
    "ttest_paired": (
        _N_OBS,
        *(
            _f(name, "list[float]", name.replace("_", " ") + " (one value)", ["one"], nullable=True)
            for name in ["statistic", "p_value", "df", "mean_diff", "se_difference"]
        ),
        _f("ci_upper", "float", "upper confidence bound", nullable=True),
        _f("ci_lower", "float", "lower confidence bound", nullable=True),
        _f("cohens_d", "list[float]", "Cohen's d (one value)", ["one"], nullable=True),
    ),
}

_NON_FINITE = ("NaN", "Infinity", "-Infinity")


def check_result(fields: Sequence[ResultField], value: Any, where: str = "result") -> list[str]:
    """How a JSON-decoded result (StepResult.result_json) departs from ``fields``; empty when it conforms."""
    if not isinstance(value, dict):
        return [f"{where} must be an object"]
    problems = []
    names = [f.name for f in fields]
    extra = [k for k in value if k not in names]
    if extra:
        problems.append(f"{where}: fields not in the schema: {extra}")
    for field in fields:
        if field.name not in value:
            if not field.is_optional:
                problems.append(f"{where}: missing field {field.name!r}")
            continue
        problems += _check(field, field.type, value[field.name], f"{where}.{field.name}")
    return problems


def _check(field: ResultField, type_: str, value: Any, where: str) -> list[str]:
    if value is None:
        return [] if field.is_nullable else [f"{where} is null but not nullable"]
    if type_.startswith("list["):
        if not isinstance(value, list):
            return [f"{where} must be a list"]
        return [p for i, v in enumerate(value) for p in _check(field, type_[5:-1], v, f"{where}[{i}]")]
    if type_.startswith("map[string, "):
        if not isinstance(value, dict):
            return [f"{where} must be an object"]
        return [p for k, v in value.items() for p in _check(field, type_[12:-1], v, f"{where}[{k!r}]")]
    if type_ == "record":
        return check_result(field.fields, value, where)
    if type_ == "table":
        if not isinstance(value, dict) or not all(isinstance(c, list) for c in value.values()):
            return [f"{where} must be an object of lists"]
        named = {f.name: f for f in field.fields}
        columns = [(named.get(k) or named.get("*"), k, v) for k, v in value.items()]
        problems = [f"{where}: unknown column {k!r}" for column, k, _ in columns if column is None]
        for column, key, cells in columns:
            if column is not None:
                problems += [
                    p for i, v in enumerate(cells) for p in _check(column, column.type, v, f"{where}.{key}[{i}]")
                ]
        return problems
    if not any(_is(kind, value) for kind in type_.split("|")):
        return [f"{where} must be {type_}, got {value!r}"]
    return []


def _is(kind: str, value: Any) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in _NON_FINITE
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    return False
