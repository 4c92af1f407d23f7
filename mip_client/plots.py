"""Plots of results for ``mip run --plot FILE.png``, drawn with matplotlib's Agg backend.

Only aggregates are drawn, because only aggregates leave the nodes: k-means centroids (no
rows), PCA eigenvalues and loadings, histogram counts, regression coefficients. matplotlib is
the optional ``plots`` extra, imported only when a plot is drawn, so the rest of the client
works without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PLOTTABLE", "plot_result", "require_matplotlib"]


def require_matplotlib() -> type[Figure]:
    """matplotlib's Figure class, or an ImportError saying which extra to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('plots need matplotlib: pip install "mip-mesh[plots]"') from None
    return Figure


def plot_result(
    algorithm: str,
    result: Mapping[str, Any],
    path: Path,
    *,
    y: Sequence[str] = (),
    x: Sequence[str] = (),
) -> None:
    """Draw ``result`` of ``algorithm`` into ``path`` (PNG); ``y``/``x`` name the variables."""
    draw = _PLOTS.get(algorithm)
    if draw is None:
        raise ValueError(f"no plot for {algorithm!r}; --plot draws {', '.join(PLOTTABLE)}")
    figure = draw(result, list(y), list(x))
    figure.savefig(path, dpi=110, bbox_inches="tight")


def _kmeans(result: Mapping[str, Any], y: list[str], x: list[str]) -> Figure:
    centroids = np.asarray(result["centroids"], dtype=float)
    names = list(result.get("variables") or y)
    sizes = result.get("cluster_sizes") or result.get("counts")
    figure = require_matplotlib()(figsize=(6, 5))
    axes = figure.subplots()
    if centroids.shape[1] >= 2:
        xs, ys = centroids[:, 0], centroids[:, 1]
        axes.set_ylabel(names[1] if len(names) > 1 else "variable 2")
    else:
        xs, ys = centroids[:, 0], np.zeros(len(centroids))
        axes.set_yticks([])
    area = 80.0 + 1500.0 * np.asarray(sizes, dtype=float) / max(sum(sizes), 1) if sizes else 160.0
    axes.scatter(xs, ys, s=area, c=[f"C{i}" for i in range(len(xs))], alpha=0.7, edgecolors="black")
    for index, (cx, cy) in enumerate(zip(xs, ys, strict=True)):
        label = f"cluster {index}" + (f" (n={sizes[index]})" if sizes else "")
        axes.annotate(label, (cx, cy), textcoords="offset points", xytext=(8, 8))
    axes.set_xlabel(names[0] if names else "variable 1")
    note = "" if centroids.shape[1] <= 2 else f" (first 2 of {centroids.shape[1]} variables)"
    axes.set_title(f"k-means centroids, k={len(centroids)}{note}")
    axes.grid(alpha=0.3)
    return figure


def _pca(result: Mapping[str, Any], y: list[str], x: list[str]) -> Figure:
    values = np.asarray(result["eigen_vals"], dtype=float)
    vectors = np.asarray(result["eigen_vecs"], dtype=float)
    names = y if len(y) == vectors.shape[1] else [f"v{i}" for i in range(vectors.shape[1])]
    components = [f"PC{i + 1}" for i in range(len(values))]
    figure = require_matplotlib()(figsize=(13, 5), layout="constrained")
    scree, loadings = figure.subplots(1, 2, width_ratios=[1, 1.2])
    scree.bar(components, values, color="C0", label="eigenvalue")
    scree.set_ylabel("eigenvalue")
    share = scree.twinx()
    share.plot(components, np.cumsum(values) / values.sum(), color="C1", marker="o", label="cumulative share")
    share.set_ylim(0, 1.05)
    share.set_ylabel("cumulative share of variance")
    scree.set_title("scree plot")
    scree.tick_params(axis="x", rotation=90 if len(values) > 8 else 0)
    shown = min(len(values), 10)
    image = loadings.imshow(vectors[:shown].T, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    loadings.set_xticks(range(shown), components[:shown])
    loadings.set_yticks(range(len(names)), names)
    loadings.set_title("loadings")
    figure.colorbar(image, ax=loadings)
    return figure


def _histograms(result: Mapping[str, Any], y: list[str], x: list[str]) -> Figure:
    histograms = list(result["histogram"])
    columns = min(3, len(histograms))
    rows = (len(histograms) + columns - 1) // columns
    figure = require_matplotlib()(figsize=(4.5 * columns, 3.5 * rows))
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for axes, histogram in zip(grid, histograms, strict=False):
        _histogram(axes, histogram)
    for axes in grid[len(histograms) :]:
        axes.set_visible(False)
    figure.tight_layout()
    return figure


def _histogram(axes: Axes, histogram: Mapping[str, Any]) -> None:
    bins = [str(b) for b in histogram["bins"]]
    counts = [0 if c is None else c for c in histogram["counts"]]
    hidden = sum(c is None for c in histogram["counts"])
    if len(bins) == len(counts) + 1:  # numeric: bin edges
        edges = [float(b) for b in histogram["bins"]]
        axes.bar(edges[:-1], counts, width=np.diff(edges), align="edge", edgecolor="black")
    else:
        axes.bar(bins, counts, edgecolor="black")
        axes.tick_params(axis="x", rotation=45)
    title = str(histogram["var"])
    if histogram.get("grouping_var"):
        title += f" | {histogram['grouping_var']} = {histogram.get('grouping_enum')}"
    axes.set_title(title + (f"\n({hidden} bin(s) under the privacy threshold hidden)" if hidden else ""))
    axes.set_ylabel("count")


def _coefficients(result: Mapping[str, Any], y: list[str], x: list[str]) -> Figure:
    values = np.asarray(result["coefficients"], dtype=float)
    names = list(result.get("indep_vars") or (["Intercept", *x] if len(x) + 1 == len(values) else []))
    names = names if len(names) == len(values) else [f"b{i}" for i in range(len(values))]
    lower = np.asarray(result["lower_ci"], dtype=float)
    upper = np.asarray(result["upper_ci"], dtype=float)
    figure = require_matplotlib()(figsize=(7, 0.5 * len(values) + 1.5))
    axes = figure.subplots()
    rows = np.arange(len(values))[::-1]
    axes.errorbar(values, rows, xerr=[values - lower, upper - values], fmt="o", capsize=4, color="C0")
    axes.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    axes.set_yticks(rows, names)
    axes.set_xlabel("coefficient with 95% confidence interval")
    dependent = result.get("dependent_var") or (y[0] if y else "")
    axes.set_title(f"regression coefficients{f' for {dependent}' if dependent else ''}")
    axes.grid(axis="x", alpha=0.3)
    return figure


_PLOTS: dict[str, Callable[[Mapping[str, Any], list[str], list[str]], Figure]] = {
    "kmeans": _kmeans,
    "pca": _pca,
    "pca_with_transformation": _pca,
    "multiple_histograms": _histograms,
    "linear_regression": _coefficients,
    "logistic_regression": _coefficients,
}

PLOTTABLE = tuple(_PLOTS)
"""Algorithms ``plot_result`` can draw."""
