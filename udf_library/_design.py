"""Design matrices, dummy coding and mergeable moments, shared by the regression-like UDFs.

Nothing here is a UDF: the ``*_udfs`` modules call these helpers, so every algorithm codes
categoricals the same way (intercept, then each categorical's dummies with its alphabetically
first observed level as reference, then the numeric variables; columns named ``var[level]``).

Moments travel as one wide row of plain sums (``n``, column sums, the upper triangle of the
cross-product matrix), so the nodes' rows merge by adding them, which secure aggregation can
do on masked words. Centering the pooled sums loses about log10(mean**2 / variance) of float64's
16 digits (two for ages, brain volumes): far inside the 1e-9 the results are held to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from udf_library._bundle import ArrayBundle
from udf_library._errors import UdfInputError

__all__ = [
    "INTERCEPT",
    "Moments",
    "check_full_rank",
    "design_matrix",
    "level_cells",
    "level_counts",
    "level_strings",
    "merge_moments",
    "merged_moments",
    "moments_of",
    "moments_row",
    "observed_levels",
    "pack_moments",
    "unpack_moments",
]

INTERCEPT = "Intercept"
VARIABLE = "variable"
LEVEL = "level"
COUNT = "count"

FloatArray = npt.NDArray[np.float64]

# Reciprocal condition number below which a scaled cross-product matrix counts as singular.
_RCOND_SINGULAR = 1e-12


def level_strings(column: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """A categorical column as an object array of ``str`` (missing stays ``None``)."""
    if column.dtype == object:
        return np.array([None if v is None else str(v) for v in column], dtype=object)
    if column.dtype.kind == "f":
        return np.array(
            [None if np.isnan(v) else str(int(v)) if float(v).is_integer() else str(v) for v in column],
            dtype=object,
        )
    return np.array([str(v) for v in column], dtype=object)


def level_counts(data: ArrayBundle, variables: Sequence[str]) -> ArrayBundle:
    """Rows per observed level of each variable: one row per (variable, level)."""
    names: list[str] = []
    levels: list[str] = []
    counts: list[int] = []
    for variable in variables:
        values = [v for v in level_strings(data[variable]) if v is not None]
        found, found_counts = np.unique(np.array(values, dtype=str), return_counts=True)
        names.extend([variable] * len(found))
        levels.extend(str(v) for v in found)
        counts.extend(int(c) for c in found_counts)
    return ArrayBundle(
        {
            VARIABLE: np.array(names, dtype=object),
            LEVEL: np.array(levels, dtype=object),
            COUNT: np.array(counts, dtype=np.int64),
        }
    )


def level_cells(
    data: ArrayBundle, categoricals: Sequence[str], levels: Mapping[str, Any], prefix: str = ""
) -> dict[str, npt.NDArray[np.float64]]:
    """Rows at each level of each categorical as one-row ``{prefix}cell_<k>`` columns.

    Moments of dummy columns carry these counts (mean times n), so they are the cells of the
    output the node checks; spelled out, the node need not know how dummies are coded.
    """
    cells: dict[str, npt.NDArray[np.float64]] = {}
    for variable in categoricals:
        values = level_strings(data[variable])
        for level in levels[variable]:
            cells[f"{prefix}cell_{len(cells)}"] = np.array([float(np.sum(values == str(level)))])
    return cells


def observed_levels(counts: ArrayBundle) -> ArrayBundle:
    """Merged level counts of all nodes, levels with a row sorted alphabetically per variable."""
    totals: dict[tuple[str, str], int] = {}
    for variable, level, count in zip(counts[VARIABLE], counts[LEVEL], counts[COUNT], strict=True):
        key = (str(variable), str(level))
        totals[key] = totals.get(key, 0) + int(count)
    order = sorted(key for key, total in totals.items() if total > 0)
    return ArrayBundle(
        {
            VARIABLE: np.array([k[0] for k in order], dtype=object),
            LEVEL: np.array([k[1] for k in order], dtype=object),
            COUNT: np.array([totals[k] for k in order], dtype=np.int64),
        }
    )


def design_matrix(
    data: ArrayBundle,
    categoricals: Sequence[str],
    numerics: Sequence[str],
    levels: Mapping[str, Any],
) -> FloatArray:
    """The design without its intercept column: 0/1 dummies (reference level dropped), then numbers.

    A row whose level is not among ``levels`` would silently fall into the reference
    level, so it raises instead.
    """
    columns: list[FloatArray] = []
    for variable in categoricals:
        values = level_strings(data[variable])
        var_levels = [str(v) for v in levels[variable]]
        unknown = set(values.tolist()) - set(var_levels)
        if unknown:
            raise UdfInputError(f"variable {variable!r} has {len(unknown)} level(s) that the pooled levels lack")
        columns.extend((values == level).astype(np.float64) for level in var_levels[1:])
    columns.extend(np.asarray(data[name], dtype=np.float64) for name in numerics)
    if not columns:
        return np.empty((data.num_rows, 0), dtype=np.float64)
    return np.column_stack(columns)


class Moments:
    """Row count, column means and centered cross-products (``M2``) of a matrix's rows."""

    __slots__ = ("m2", "mean", "n")

    def __init__(self, n: float, mean: FloatArray, m2: FloatArray) -> None:
        self.n = float(n)
        self.mean = mean
        self.m2 = m2

    def covariance(self) -> FloatArray:
        """Sample covariance (ddof = 1)."""
        return self.m2 / (self.n - 1.0)


def moments_of(matrix: FloatArray) -> Moments:
    """Moments of the rows of ``matrix`` (rows by columns)."""
    n = matrix.shape[0]
    p = matrix.shape[1]
    if n == 0:
        return Moments(0.0, np.zeros(p), np.zeros((p, p)))
    mean = matrix.mean(axis=0)
    centered = matrix - mean
    return Moments(float(n), mean, centered.T @ centered)


def merge_moments(parts: Sequence[Moments]) -> Moments:
    """Moments of the union of the parts' rows (Chan et al.'s pairwise update)."""
    if not parts:
        raise ValueError("no moments to merge")
    total = Moments(parts[0].n, parts[0].mean.copy(), parts[0].m2.copy())
    for part in parts[1:]:
        if part.n == 0:
            continue
        if total.n == 0:
            total = Moments(part.n, part.mean.copy(), part.m2.copy())
            continue
        n = total.n + part.n
        delta = part.mean - total.mean
        mean = total.mean + delta * (part.n / n)
        m2 = total.m2 + part.m2 + np.outer(delta, delta) * (total.n * part.n / n)
        total = Moments(n, mean, m2)
    return total


def pack_moments(moments: Moments, prefix: str = "") -> dict[str, npt.NDArray[Any]]:
    """One-row columns of plain sums, which merge by adding: ``{prefix}n``, ``{prefix}sum_i``
    (column sums) and ``{prefix}sxx_i_j`` (sums of products, i <= j)."""
    p = moments.mean.shape[0]
    sums = moments.n * moments.mean
    products = moments.m2 + moments.n * np.outer(moments.mean, moments.mean)
    columns: dict[str, npt.NDArray[Any]] = {f"{prefix}n": np.array([moments.n])}
    for i in range(p):
        columns[f"{prefix}sum_{i}"] = np.array([sums[i]])
    for i in range(p):
        for j in range(i, p):
            columns[f"{prefix}sxx_{i}_{j}"] = np.array([products[i, j]])
    return columns


def moments_row(moments: Moments) -> ArrayBundle:
    """``moments`` as a one-row table."""
    return ArrayBundle(pack_moments(moments))


def unpack_moments(table: ArrayBundle, p: int, prefix: str = "") -> list[Moments]:
    """The moments in ``table``, one per row."""
    found = []
    for r in range(table.num_rows):
        n = float(table[f"{prefix}n"][r])
        sums = np.array([table[f"{prefix}sum_{i}"][r] for i in range(p)], dtype=np.float64)
        products = np.zeros((p, p))
        for i in range(p):
            for j in range(i, p):
                products[i, j] = products[j, i] = table[f"{prefix}sxx_{i}_{j}"][r]
        mean = sums / n if n > 0 else np.zeros(p)
        found.append(Moments(n, mean, products - n * np.outer(mean, mean)))
    return found


def merged_moments(table: ArrayBundle, p: int, prefix: str = "") -> Moments:
    """The moments of a merged table: its rows (one per node, or one already summed) added up."""
    names = [f"{prefix}n", *(f"{prefix}sum_{i}" for i in range(p))]
    names += [f"{prefix}sxx_{i}_{j}" for i in range(p) for j in range(i, p)]
    summed = ArrayBundle({c: [float(np.sum(table[c], dtype=np.float64))] for c in names})
    return unpack_moments(summed, p, prefix)[0]


def check_full_rank(matrix: FloatArray, names: Sequence[str], *, what: str = "design") -> None:
    """Raise ``UdfInputError`` naming the columns when a cross-product matrix is singular.

    ``matrix`` is a centered (covariance-like) or uncentered cross-product matrix; it is
    scaled to unit diagonal first so that units do not matter. A zero diagonal means a
    constant column (collinear with the intercept when ``matrix`` is centered).
    """
    diag = np.diag(matrix).copy()
    scale = np.abs(diag).max() if diag.size else 0.0
    constant = [names[i] for i in range(len(names)) if diag[i] <= scale * 1e-14]
    if constant:
        raise UdfInputError(
            f"{what} column(s) {constant} do not vary in the selected rows; they are perfectly "
            "collinear with the intercept: remove them or change the filters"
        )
    if len(names) == 0:
        return
    d = 1.0 / np.sqrt(diag)
    scaled = matrix * d[:, None] * d[None, :]
    eigenvalues, eigenvectors = np.linalg.eigh(scaled)
    if eigenvalues[0] > _RCOND_SINGULAR * max(eigenvalues[-1], 1.0):
        return
    loadings = np.abs(eigenvectors[:, 0])
    involved = [names[i] for i in range(len(names)) if loadings[i] > 1e-6 * loadings.max()]
    raise UdfInputError(
        f"{what} columns {involved} are perfectly collinear (one is a linear combination of "
        "the others); remove one of them"
    )
