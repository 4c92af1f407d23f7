"""The node's disclosure settings as UDFs see them, and the safe extremes they imply.

A UDF that reports a minimum, maximum or quantile takes a ``DisclosurePolicy``
parameter; the node fills it from its own settings and no caller can set it. So the
node, not the flow, decides how extremes are coded and how small a cell may be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_MIN_ROWS", "EXTREMES_MODES", "DisclosurePolicy"]

DEFAULT_MIN_ROWS = 10
"""A node's ``min_rows`` unless its operator sets another: the one place the default is written."""

EXTREMES_MODES = ("coded", "suppress", "exact")
"""How a node reports minima, maxima and quantiles:

- ``coded`` (default): the mean of the ``min_cell_rows`` sorted values around the
  statistic's rank, so the minimum is the mean of the smallest ``min_cell_rows`` values,
  the maximum the mean of the largest, a quartile the mean of the values nearest it;
- ``suppress``: not reported (NaN, shown as null);
- ``exact``: the values themselves, each of which is one row's value.
"""


@dataclass(frozen=True, slots=True)
class DisclosurePolicy:
    """Thresholds and extreme-value coding of the node a UDF runs on."""

    min_rows: int = DEFAULT_MIN_ROWS
    min_cell_rows: int = DEFAULT_MIN_ROWS
    extremes: str = "coded"

    def __post_init__(self) -> None:
        if self.extremes not in EXTREMES_MODES:
            raise ValueError(f"extremes must be one of {EXTREMES_MODES}, got {self.extremes!r}")
        if self.min_rows < 1 or self.min_cell_rows < 1:
            raise ValueError("min_rows and min_cell_rows must be at least 1")

    def is_small(self, count: float) -> bool:
        """Whether a cell of ``count`` rows may not be shown (zero cells may)."""
        return 0 < count < self.min_cell_rows

    def suppress_small(self, counts: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """Counts with those under ``min_cell_rows`` as NaN; if one alone is, the next smallest too.

        A single suppressed count of a table would follow from its total minus the others.
        """
        shown = np.asarray(counts, dtype=np.float64).copy()
        small = (shown > 0) & (shown < self.min_cell_rows)
        shown[small] = np.nan
        if small.sum() == 1:
            others = np.flatnonzero(~small & (shown > 0))
            if others.size:
                shown[others[np.argmin(shown[others])]] = np.nan
        return shown

    def minimum(self, values: npt.NDArray[Any]) -> float:
        """The smallest value, coded as the policy says."""
        return self.quantiles(values, [0.0])[0]

    def maximum(self, values: npt.NDArray[Any]) -> float:
        """The largest value, coded as the policy says."""
        return self.quantiles(values, [1.0])[0]

    def quantiles(self, values: npt.NDArray[Any], probabilities: Sequence[float]) -> list[float]:
        """Quantiles (0 = minimum, 1 = maximum) of the non-missing ``values``, coded as the policy says."""
        finite = np.sort(np.asarray(values, dtype=np.float64))
        finite = finite[~np.isnan(finite)]
        n = len(finite)
        if self.extremes == "suppress" or n == 0:
            return [float("nan")] * len(probabilities)
        if self.extremes == "exact":
            return [float(v) for v in np.quantile(finite, probabilities)]
        k = self.min_cell_rows
        if n < k:
            return [float("nan")] * len(probabilities)
        coded = []
        for p in probabilities:
            start = int(np.clip(round(p * (n - 1) - (k - 1) / 2), 0, n - k))
            coded.append(float(finite[start : start + k].mean()))
        return coded
