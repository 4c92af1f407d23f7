"""Survival function of the studentized range, vectorized over q (Tukey's HSD p-values).

``scipy.stats.studentized_range.sf`` integrates each value on its own (about 12 ms a value
here): the 406 pairs of a factor with 29 levels took 4.8 s. This is the same double integral
with fixed Gauss-Legendre rules, evaluated for every q at once:

    sf(q; k, df) = integral over s of f_S(s) * P(range of k standard normals > q s),
    S = sqrt(chi2_df / df),
    P(range > w) = k * integral of phi(z) * (Phi(z)^(k-1) - (Phi(z) - Phi(z - w))^(k-1)) dz,

the inner difference taken as ``-expm1((k-1) log1p(-Phi(z-w)/Phi(z)))`` so small p-values
keep their relative precision. Against the exact k = 2 case (2 t.sf(q / sqrt 2, df)) it
agrees to about 1e-9 relative down to p ~ 1e-8, where scipy's own integration is off by 1e-6.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from udf_library._lazy import LazyModule

if TYPE_CHECKING:
    from scipy import special, stats
else:
    special = LazyModule("scipy.special")
    stats = LazyModule("scipy.stats")

__all__ = ["studentized_range_sf"]

_INNER = np.polynomial.legendre.leggauss(160)
_OUTER = np.polynomial.legendre.leggauss(96)
_Z_LIMIT = 9.0
"""The inner integral runs over z in [-9, 9]: phi(z) is below 1e-17 outside."""
_S_TAIL = 1e-15
"""The outer integral runs between these quantiles of S."""
_CHUNK = 64
"""q values integrated at once (bounds the q x s x z work array to about 8 MB)."""


def studentized_range_sf(q: npt.ArrayLike, k: int, df: float) -> npt.NDArray[np.float64]:
    """P(Q > q) for the studentized range Q of ``k`` groups and ``df`` residual degrees of freedom."""
    values = np.atleast_1d(np.asarray(q, dtype=np.float64))
    low, high = np.sqrt(stats.chi2.ppf([_S_TAIL, 1.0 - _S_TAIL], df) / df)
    s = (high - low) / 2 * _OUTER[0] + (high + low) / 2
    log_density = (
        np.log(2.0) + df / 2 * np.log(df / 2) - special.gammaln(df / 2) + (df - 1) * np.log(s) - df * s * s / 2
    )
    s_weights = np.exp(log_density) * _OUTER[1] * (high - low) / 2
    z = _Z_LIMIT * _INNER[0]
    log_phi = -z * z / 2 - 0.5 * np.log(2 * np.pi)
    log_cdf = special.log_ndtr(z)
    z_weights = _INNER[1] * _Z_LIMIT * np.exp(log_phi + (k - 1) * log_cdf)
    cdf = special.ndtr(z)
    result = np.empty_like(values)
    for start in range(0, len(values), _CHUNK):
        w = np.maximum(values[start : start + _CHUNK], 0.0)[:, None, None] * s[None, :, None]
        ratio = np.minimum(special.ndtr(z - w) / cdf, 1.0)  # Phi(z - w) <= Phi(z); rounding must not cross 1
        with np.errstate(divide="ignore"):  # ratio 1 at w = 0: log1p(-1) = -inf, the right limit
            beyond = -np.expm1((k - 1) * np.log1p(-ratio))
        result[start : start + _CHUNK] = k * (beyond @ z_weights) @ s_weights
    return np.clip(result, 0.0, 1.0)
