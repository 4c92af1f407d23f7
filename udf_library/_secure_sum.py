"""Outputs merged by summing over nodes: the fixed-point words secure aggregation masks, and the sums.

A shareable output declared ``shared(name, merge="secure_sum", keys=(...))`` is merged at
the global node as the element-wise sum over the local nodes of its value columns, its
key columns (cluster ids, levels) identical on every node and kept in the clear. Under
secure aggregation each node sends each value as fixed-point integers modulo 2**64 (the
words the pairwise masks are added to, and that cancel in the sum); without it the nodes
send floats and the global node sums those. Either way the merged table has the key
columns then every value column as float64.

A value ``v`` is the integer ``I = round(v * 2**FRACTION_BITS)`` split into two words,
``I = high * 2**32 + low`` with ``0 <= low < 2**32``: the low words of up to 2**31 nodes
sum without overflow, the high words while ``|high| < 2**63 / nodes``. So values are exact
to 2**-49 and may reach 2**47 / nodes (about 1.4e14 / nodes) before the node refuses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from udf_library._bundle import ArrayBundle

__all__ = [
    "FRACTION_BITS",
    "SECURE_SUM",
    "SecureSumError",
    "decode_fixed",
    "encode_fixed",
    "fixed_point_bound",
    "sum_masked_parts",
    "sum_parts",
    "value_matrix",
    "words_bundle",
]

SECURE_SUM = "secure_sum"
"""``shared(..., merge=SECURE_SUM)``: the output is merged as a sum over nodes."""

FRACTION_BITS = 48
"""Binary digits after the point of the fixed-point integers."""

_SCALE = float(2**FRACTION_BITS)
_LOW = float(2**32)


class SecureSumError(ValueError):
    """Parts of a summed output cannot be summed: other keys or columns, or values out of range."""


def fixed_point_bound(parties: int) -> float:
    """Largest magnitude one of ``parties`` nodes may send, so that no sum of them overflows."""
    # high words of at most 2**63 // parties - 2**11: a float (ulp 2**10 up there) rounds to no more
    return float(2**63 // max(parties, 1) - 2**11) * _LOW / _SCALE


def encode_fixed(values: npt.NDArray[Any], parties: int) -> npt.NDArray[np.uint64]:
    """``values`` as fixed-point words modulo 2**64, shape ``values.shape + (2,)`` (high, low).

    Refused when a value is missing, infinite, or so large that a sum over ``parties``
    nodes could overflow.
    """
    floats = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(floats)):
        raise SecureSumError("a summed value is missing or infinite; secure aggregation sums only finite numbers")
    bound = fixed_point_bound(parties)
    if floats.size and float(np.max(np.abs(floats))) > bound:
        raise SecureSumError(
            f"a summed value exceeds {bound:.6g}, the largest value secure aggregation can add over "
            f"{parties} node(s) without overflow ({FRACTION_BITS} fraction bits in two 64-bit words); "
            "rescale the variables or turn secure aggregation off"
        )
    scaled = np.rint(floats * _SCALE)  # exact: a power-of-two scale, then an integer in a float
    high = np.floor(scaled / _LOW)
    low = scaled - high * _LOW  # exact, in [0, 2**32)
    words = np.stack([high.astype(np.int64), low.astype(np.int64)], axis=-1)
    return words.view(np.uint64)


def decode_fixed(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """Summed fixed-point words (last axis: high, low) as floats."""
    array = np.asarray(words, dtype=np.uint64)
    high = array[..., 0].view(np.int64).astype(np.float64)
    low = array[..., 1].astype(np.float64)
    return (high * _LOW + low) / _SCALE


def value_matrix(bundle: ArrayBundle, keys: Sequence[str]) -> tuple[list[str], npt.NDArray[np.float64]]:
    """The value (non-key) columns of ``bundle`` and their values, rows by columns; numbers only."""
    missing = [k for k in keys if k not in bundle.names]
    if missing:
        raise SecureSumError(f"summed output lacks its key columns {missing}")
    names = [c for c in bundle.names if c not in keys]
    for name in names:
        if bundle[name].dtype.kind not in "iufb":
            raise SecureSumError(f"summed output column {name!r} is not numeric; declare it a key column")
    return names, bundle.matrix(names)


def words_bundle(
    bundle: ArrayBundle, keys: Sequence[str], names: Sequence[str], words: npt.NDArray[np.uint64]
) -> ArrayBundle:
    """A part as sent under secure aggregation: the same columns, twice the rows.

    Rows ``0..r-1`` hold the high words of the value columns (as int64), rows ``r..2r-1``
    the low words; key columns repeat their values in both halves.
    """
    signed = np.asarray(words, dtype=np.uint64).view(np.int64)
    stacked = np.ascontiguousarray(np.concatenate([signed[..., 0], signed[..., 1]]).T)
    columns: dict[str, Any] = {k: np.concatenate([bundle[k], bundle[k]]) for k in keys}
    columns |= {name: stacked[j] for j, name in enumerate(names)}
    return ArrayBundle({c: columns[c] for c in bundle.names})


def sum_parts(parts: Sequence[ArrayBundle], keys: Sequence[str]) -> ArrayBundle:
    """The element-wise sum of the parts' value columns (as float64), their keys checked identical."""
    names = _check_alike(parts, keys)
    total = np.zeros((parts[0].num_rows, len(names)))
    for part in parts:
        total = total + part.matrix(names)
    return _assemble(parts[0], keys, names, total)


def sum_masked_parts(parts: Sequence[ArrayBundle], keys: Sequence[str]) -> ArrayBundle:
    """The decoded sum of parts made by ``words_bundle`` (masked or not: masks cancel in the sum)."""
    names = _check_alike(parts, keys)
    rows = parts[0].num_rows // 2
    if parts[0].num_rows % 2 or any(not np.array_equal(parts[0][k][:rows], parts[0][k][rows:]) for k in keys):
        raise SecureSumError("a masked part must hold a high-word half and a low-word half of the same cells")
    total = np.zeros((len(names), 2 * rows), dtype=np.uint64)
    for part in parts:
        bad = [c for c in names if part[c].dtype.kind not in "iu"]
        if bad:
            raise SecureSumError(f"masked columns {bad[:5]} must hold 64-bit words")
        if names:
            total += np.stack([part[c] for c in names]).view(np.uint64)
    words = np.stack([total[:, :rows].T, total[:, rows:].T], axis=-1)
    first = parts[0].take(np.arange(rows))
    return _assemble(first, keys, names, decode_fixed(words))


def _check_alike(parts: Sequence[ArrayBundle], keys: Sequence[str]) -> list[str]:
    if not parts:
        raise SecureSumError("no parts to sum")
    first = parts[0]
    missing = [k for k in keys if k not in first.names]
    if missing:
        raise SecureSumError(f"summed output lacks its key columns {missing}")
    names = [c for c in first.names if c not in keys]
    for index, part in enumerate(parts[1:], start=2):
        if part.names != first.names or part.num_rows != first.num_rows:
            raise SecureSumError(
                f"part {index} of a summed output has columns {part.names} and {part.num_rows} rows; "
                f"part 1 has {first.names} and {first.num_rows}: nodes must send the same cells"
            )
        for key in keys:
            if not np.array_equal(part[key], first[key]):
                raise SecureSumError(f"key column {key!r} of part {index} differs from part 1: cells must align")
    return names


def _assemble(
    first: ArrayBundle, keys: Sequence[str], names: list[str], values: npt.NDArray[np.float64]
) -> ArrayBundle:
    columns: dict[str, Any] = {k: first[k] for k in keys}
    columns |= {name: values[:, j] for j, name in enumerate(names)}
    return ArrayBundle({c: columns[c] for c in first.names})
