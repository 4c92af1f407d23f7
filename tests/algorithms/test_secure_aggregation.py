"""Every flow converted to secure sums gives the same result with secure aggregation as without (1e-9).

The in-memory runtime sums the nodes' fixed-point words as the global node does (the masks,
which cancel in the sum, are tested in tests/unit/mip_common/test_masking.py and through real
nodes in tests/integration/test_secure_aggregation.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from algorithm_flows import AlgorithmFlow, Variable
from algorithm_flows.anova_flow import AnovaFlow
from algorithm_flows.anova_oneway_flow import AnovaOnewayFlow
from algorithm_flows.kmeans_flow import KMeansFlow
from algorithm_flows.linear_regression_cv_flow import LinearRegressionCVFlow
from algorithm_flows.linear_regression_flow import LinearRegressionFlow
from algorithm_flows.logistic_regression_cv_flow import LogisticRegressionCVFlow
from algorithm_flows.logistic_regression_flow import LogisticRegressionFlow
from algorithm_flows.multiple_histograms_flow import MultipleHistogramsFlow
from algorithm_flows.naive_bayes_categorical_cv_flow import CategoricalNBCVFlow
from algorithm_flows.naive_bayes_categorical_fit_flow import CategoricalNBFitFlow
from algorithm_flows.naive_bayes_gaussian_cv_flow import GaussianNBCVFlow
from algorithm_flows.naive_bayes_gaussian_fit_flow import GaussianNBFitFlow
from algorithm_flows.pca_flow import PcaFlow
from algorithm_flows.pca_with_transformation_flow import PcaWithTransformationFlow
from algorithm_flows.pearson_correlation_flow import PearsonCorrelationFlow
from algorithm_flows.testing import run_flow
from algorithm_flows.ttest_independent_flow import TTestIndependentFlow
from algorithm_flows.ttest_onesample_flow import TTestOnesampleFlow
from algorithm_flows.ttest_paired_flow import TTestPairedFlow
from tests.algorithms import (
    test_anova,
    test_anova_oneway,
    test_kmeans,
    test_linear_regression,
    test_linear_regression_cv,
    test_logistic_regression,
    test_logistic_regression_cv,
    test_multiple_histograms,
    test_naive_bayes,
    test_pca,
    test_pearson_correlation,
    test_ttest_independent,
    test_ttest_onesample,
    test_ttest_paired,
)
from tests.helpers.reference import REFERENCE_DISCLOSURE
from udf_library import (
    ArrayBundle,
    anova_udfs,
    histograms_udfs,
    kmeans_udfs,
    linear_regression_udfs,
    logistic_regression_udfs,
    naive_bayes_udfs,
    pca_udfs,
    ttest_udfs,
    udf_spec,
)
from udf_library import pearson_correlation_udfs as pearson_udfs

RTOL = 1e-9


@dataclass(frozen=True)
class Case:
    flow: type[AlgorithmFlow[Any]]
    partitions: Callable[[], dict[str, ArrayBundle]]
    variables: dict[str, Variable]
    y: tuple[str, ...]
    summed: tuple[Callable[..., Any], ...]
    """The flow's local UDFs whose outputs merge by secure sum."""
    x: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    disclosure: dict[str, Any] = field(default_factory=dict)


CASES = {
    "anova": Case(
        AnovaFlow,
        lambda: test_anova.partitions((50, 60, 80)),
        test_anova.VARIABLES,
        ("score",),
        (anova_udfs.local_cell_moments,),
        x=("drug", "sex"),
        parameters={"sstype": 2},
        disclosure=REFERENCE_DISCLOSURE,
    ),
    "anova_oneway": Case(
        AnovaOnewayFlow,
        lambda: test_anova_oneway.partitions((40, 55, 70)),
        test_anova_oneway.VARIABLES,
        ("score",),
        (anova_udfs.local_group_moments,),
        x=("group",),
    ),
    "pearson": Case(
        PearsonCorrelationFlow,
        lambda: test_pearson_correlation.make_partitions([40, 300, 150]),
        test_pearson_correlation.VARIABLES,
        tuple(test_pearson_correlation.NAMES),
        (pearson_udfs.local_moments,),
        parameters={"alpha": 0.05},
    ),
    "kmeans": Case(
        KMeansFlow,
        lambda: test_kmeans.make_partitions((80, 50, 120), seed=6),
        test_kmeans.VARIABLES,
        test_kmeans.NAMES,
        (kmeans_udfs.local_moments, kmeans_udfs.local_calc, kmeans_udfs.local_inertia),
        parameters={"numOfClusters": 3, "numOfIterations": 30},
        disclosure=REFERENCE_DISCLOSURE,
    ),
    "kmeans_explicit_range": Case(
        KMeansFlow,
        lambda: test_kmeans.make_partitions((80, 50, 120)),
        test_kmeans.VARIABLES,
        test_kmeans.NAMES,
        (kmeans_udfs.local_calc, kmeans_udfs.local_inertia),
        parameters={"numOfClusters": 3, "numOfIterations": 25, "initialMin": 0.0, "initialMax": 1.0, "seed": 3},
        disclosure=REFERENCE_DISCLOSURE,
    ),
    "multiple_histograms_numeric": Case(
        MultipleHistogramsFlow,
        lambda: test_multiple_histograms.partitions((300, 400, 500)),
        test_multiple_histograms.VARIABLES,
        ("volume",),
        (histograms_udfs.local_numeric_counts,),
        x=("group", "sex"),
        parameters={"bins": 12},
        disclosure=test_multiple_histograms.EXACT_EXTREMES,
    ),
    "multiple_histograms_categorical": Case(
        MultipleHistogramsFlow,
        lambda: test_multiple_histograms.partitions((30, 40, 50)),
        test_multiple_histograms.VARIABLES,
        ("group",),
        (histograms_udfs.local_categorical_counts,),
        x=("sex",),
    ),
    "linear_regression": Case(
        LinearRegressionFlow,
        lambda: test_linear_regression.make_partitions([60, 150, 90]),
        test_linear_regression.VARIABLES,
        ("y",),
        (linear_regression_udfs.local_moments,),
        x=("x1", "group", "x2"),
    ),
    "linear_regression_cv": Case(
        LinearRegressionCVFlow,
        lambda: test_linear_regression_cv.make_partitions([60, 140, 100]),
        test_linear_regression_cv.VARIABLES,
        ("y",),
        (linear_regression_udfs.local_cv_moments,),
        x=("x1", "group"),
        parameters={"n_splits": 4, "seed": 9},
    ),
    "logistic_regression": Case(
        LogisticRegressionFlow,
        lambda: test_logistic_regression.make_partitions([80, 200, 120]),
        test_logistic_regression.VARIABLES,
        ("status",),
        (logistic_regression_udfs.local_newton_step,),
        x=("x1", "group", "x2"),
        parameters={"positive_class": "AD"},
    ),
    "logistic_regression_cv": Case(
        LogisticRegressionCVFlow,
        lambda: test_logistic_regression_cv.make_partitions([80, 220, 150]),
        test_logistic_regression_cv.VARIABLES,
        ("status",),
        (logistic_regression_udfs.local_cv_newton_step, logistic_regression_udfs.local_cv_scores),
        x=("x1", "group"),
        parameters={"positive_class": "AD", "n_splits": 4, "seed": 3},
    ),
    "naive_bayes_gaussian": Case(
        GaussianNBFitFlow,
        lambda: test_naive_bayes.make_partitions((60, 45, 80)),
        test_naive_bayes.VARIABLES,
        ("species",),
        (naive_bayes_udfs.local_gaussian_stats,),
        x=test_naive_bayes.NUMERIC,
        disclosure=REFERENCE_DISCLOSURE,
    ),
    "naive_bayes_gaussian_cv": Case(
        GaussianNBCVFlow,
        lambda: test_naive_bayes.make_partitions((60, 45, 80)),
        test_naive_bayes.VARIABLES,
        ("species",),
        (naive_bayes_udfs.local_gaussian_fold_stats, naive_bayes_udfs.local_gaussian_fold_confusion),
        x=test_naive_bayes.NUMERIC,
        parameters={"n_splits": 4, "seed": 9},
        disclosure=REFERENCE_DISCLOSURE,
    ),
    "naive_bayes_categorical": Case(
        CategoricalNBFitFlow,
        lambda: test_naive_bayes.make_partitions((60, 45, 80)),
        test_naive_bayes.VARIABLES,
        ("species",),
        (naive_bayes_udfs.local_categorical_counts,),
        x=test_naive_bayes.CATEGORICAL,
        disclosure=REFERENCE_DISCLOSURE,
    ),
    "naive_bayes_categorical_cv": Case(
        CategoricalNBCVFlow,
        lambda: test_naive_bayes.make_partitions((60, 45, 80)),
        test_naive_bayes.VARIABLES,
        ("species",),
        (naive_bayes_udfs.local_categorical_fold_counts, naive_bayes_udfs.local_categorical_fold_confusion),
        x=test_naive_bayes.CATEGORICAL,
        parameters={"n_splits": 4, "seed": 9},
        disclosure=REFERENCE_DISCLOSURE,
    ),
    "pca": Case(
        PcaFlow,
        lambda: test_pca.make_partitions([30, 250, 120]),
        test_pca.VARIABLES,
        tuple(test_pca.NAMES),
        (pca_udfs.local_moments,),
    ),
    "pca_with_transformation": Case(
        PcaWithTransformationFlow,
        lambda: test_pca.make_partitions([30, 250, 120]),
        test_pca.VARIABLES,
        tuple(test_pca.NAMES),
        (pca_udfs.local_moments,),
        parameters={"data_transformation": {"log": ["a"], "exp": ["b"], "center": ["c"], "standardize": ["d", "a"]}},
    ),
    "ttest_onesample": Case(
        TTestOnesampleFlow,
        lambda: test_ttest_onesample.partitions((40, 55, 70)),
        test_ttest_onesample.VARIABLES,
        ("score",),
        (ttest_udfs.local_moments,),
        parameters={"mu": 5.5},
    ),
    "ttest_paired": Case(
        TTestPairedFlow,
        lambda: test_ttest_paired.partitions((40, 55, 70)),
        test_ttest_paired.VARIABLES,
        ("after",),
        (ttest_udfs.local_paired_moments,),
        x=("before",),
    ),
    "ttest_independent": Case(
        TTestIndependentFlow,
        lambda: test_ttest_independent.partitions((40, 55, 70)),
        test_ttest_independent.VARIABLES,
        ("score",),
        (ttest_udfs.local_group_moments,),
        x=("group",),
        parameters={"groupA": "b", "groupB": "a"},
    ),
}


def assert_close(secure: Any, plain: Any, path: str = "result") -> None:
    """Equal structure; numbers equal to ``RTOL`` relative (NaN where the other is NaN)."""
    if isinstance(plain, dict):
        assert isinstance(secure, dict), path
        assert secure.keys() == plain.keys(), path
        for key in plain:
            assert_close(secure[key], plain[key], f"{path}.{key}")
    elif isinstance(plain, (list, tuple)):
        assert isinstance(secure, (list, tuple)), path
        assert len(secure) == len(plain), path
        for i, (s, p) in enumerate(zip(secure, plain, strict=True)):
            assert_close(s, p, f"{path}[{i}]")
    elif isinstance(plain, float) or isinstance(secure, float):
        if math.isnan(plain):
            assert math.isnan(secure), path
        else:
            assert secure == pytest.approx(plain, rel=RTOL, abs=1e-12), path
    else:
        assert secure == plain, path


@pytest.mark.parametrize("name", sorted(CASES))
def test_secure_aggregation_gives_the_plain_result(name: str) -> None:
    # Arrange
    case = CASES[name]
    parts = case.partitions()

    def run(secure: bool) -> dict[str, Any]:
        return run_flow(
            case.flow,
            parts,
            case.variables,
            y=case.y,
            x=case.x,
            parameters=case.parameters,
            secure_aggregation=secure,
            **case.disclosure,
        )

    # Act
    plain, secure = run(False), run(True)

    # Assert
    assert_close(secure, plain)


@pytest.mark.parametrize("name", sorted(CASES))
def test_converted_flows_declare_their_sums(name: str) -> None:
    for local in CASES[name].summed:
        assert any(o.is_secure_sum for o in udf_spec(local).outputs), udf_spec(local).name
