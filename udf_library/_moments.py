"""Count, mean and centred sum of squares (M2): per node, then pooled exactly (Chan et al.)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["moments", "pool_moments", "pool_sums", "sums"]


def moments(values: npt.NDArray[np.float64]) -> tuple[int, float, float]:
    """A group's count, mean and M2 on one node (M2 rather than a raw sum of squares: no cancellation)."""
    n = len(values)
    if n == 0:
        return 0, 0.0, 0.0
    mean = float(values.mean())
    centred = values - mean
    return n, mean, float(centred @ centred)


def pool_moments(
    ns: npt.NDArray[np.float64], means: npt.NDArray[np.float64], m2s: npt.NDArray[np.float64]
) -> tuple[float, float, float]:
    """The pooled count, mean and M2 of one group from its per-node moments."""
    n = float(ns.sum())
    if n == 0:
        return 0.0, 0.0, 0.0
    mean = float(ns @ means / n)
    return n, mean, float(m2s.sum() + ns @ (means - mean) ** 2)


def sums(values: npt.NDArray[np.float64]) -> tuple[int, float, float]:
    """A group's count, sum and sum of squares on one node: they merge by adding (secure aggregation)."""
    return len(values), float(values.sum()), float(values @ values)


def pool_sums(
    ns: npt.NDArray[np.float64], totals: npt.NDArray[np.float64], squares: npt.NDArray[np.float64]
) -> tuple[float, float, float]:
    """The pooled count, mean and M2 of one group from its per-node (or already summed) sums.

    M2 = sum of squares - n * mean**2 loses about log10(mean**2 / variance) of float64's
    16 digits, a few for the variables of MIP data models: far inside 1e-9.
    """
    n = float(ns.sum())
    if n == 0:
        return 0.0, 0.0, 0.0
    mean = float(totals.sum()) / n
    return n, mean, max(float(squares.sum()) - n * mean * mean, 0.0)
