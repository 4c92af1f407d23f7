"""PNG plots of results (matplotlib, Agg)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mip_client.plots import plot_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

RESULTS = {
    "kmeans": {"variables": ["a", "b"], "centroids": [[1.0, 2.0], [3.0, 1.0], [0.0, 0.5]]},
    "pca": {
        "n_obs": 9,
        "eigen_vals": [2.0, 0.7, 0.3],
        "eigen_vecs": [[0.6, 0.6, 0.5], [0.7, -0.7, 0.0], [0.3, 0.3, -0.9]],
    },
    "multiple_histograms": {
        "histogram": [
            {"var": "age", "grouping_var": None, "grouping_enum": None, "bins": [0, 10, 20], "counts": [5, None]},
            {"var": "sex", "grouping_var": "site", "grouping_enum": "s1", "bins": ["F", "M"], "counts": [12, 14]},
        ]
    },
    "linear_regression": {
        "dependent_var": "y",
        "indep_vars": ["Intercept", "x1"],
        "coefficients": [1.0, 0.5],
        "lower_ci": [0.5, 0.1],
        "upper_ci": [1.5, 0.9],
    },
    "logistic_regression": {"coefficients": [-1.0, 2.0], "lower_ci": [-2.0, 1.0], "upper_ci": [0.0, 3.0]},
}


@pytest.mark.parametrize("algorithm", sorted(RESULTS))
def test_plot_writes_a_png(tmp_path: Path, algorithm: str) -> None:
    # Arrange
    path = tmp_path / f"{algorithm}.png"

    # Act
    plot_result(algorithm, RESULTS[algorithm], path, y=["a", "b", "c"], x=["x1"])

    # Assert
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_unplottable_algorithm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no plot for 'anova'"):
        plot_result("anova", {}, tmp_path / "x.png")


def test_without_matplotlib_a_plot_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: an import of matplotlib.figure fails, as in a client installed without [plots]
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)

    # Act / Assert
    with pytest.raises(ImportError, match=r"mip-mesh\[plots\]"):
        plot_result("kmeans", RESULTS["kmeans"], tmp_path / "kmeans.png")
