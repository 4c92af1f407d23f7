"""Count, mean and centred sum of squares (M2): per node, then pooled exactly (Chan et al.)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["moments", "pool_moments"]


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
