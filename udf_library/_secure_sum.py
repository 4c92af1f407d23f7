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
    "LOW_WORD_PREFIX",
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

LOW_WORD_PREFIX = "__low_"
"""A masked part holds each value column's high words under its name, its low words under this prefix."""

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
        if name.startswith(LOW_WORD_PREFIX):
            raise SecureSumError(f"summed output column {name!r} may not start with {LOW_WORD_PREFIX!r}")
    return names, bundle.matrix(names)


def words_bundle(
    bundle: ArrayBundle, keys: Sequence[str], names: Sequence[str], words: npt.NDArray[np.uint64]
) -> ArrayBundle:
    """A part as sent under secure aggregation: keys, then high words (as int64) under the value
    columns' names, then low words under ``LOW_WORD_PREFIX`` names."""
    signed = np.asarray(words, dtype=np.uint64).view(np.int64)
    columns: dict[str, Any] = {k: bundle[k] for k in keys}
    columns |= {name: signed[:, j, 0] for j, name in enumerate(names)}
    ordered = {c: columns[c] for c in bundle.names}
    return ArrayBundle(ordered | {LOW_WORD_PREFIX + name: signed[:, j, 1] for j, name in enumerate(names)})


def sum_parts(parts: Sequence[ArrayBundle], keys: Sequence[str]) -> ArrayBundle:
    """The element-wise sum of the parts' value columns (as float64), their keys checked identical."""
    names = _check_alike(parts, keys)
    total = np.zeros((parts[0].num_rows, len(names)))
    for part in parts:
        total = total + part.matrix(names)
    return _assemble(parts[0], keys, names, total)


def sum_masked_parts(parts: Sequence[ArrayBundle], keys: Sequence[str]) -> ArrayBundle:
    """The decoded sum of parts made by ``words_bundle`` (masked or not: masks cancel in the sum)."""
    names = _check_alike(parts, keys, is_words=True)
    words = np.zeros((parts[0].num_rows, len(names), 2), dtype=np.uint64)
    for part in parts:
        for j, name in enumerate(names):
            for w, column in enumerate((name, LOW_WORD_PREFIX + name)):
                if part[column].dtype.kind not in "iu":
                    raise SecureSumError(f"masked column {column!r} must hold 64-bit words, got {part[column].dtype}")
                words[:, j, w] += part[column].view(np.uint64)
    return _assemble(parts[0], keys, names, decode_fixed(words))


def _check_alike(parts: Sequence[ArrayBundle], keys: Sequence[str], *, is_words: bool = False) -> list[str]:
    if not parts:
        raise SecureSumError("no parts to sum")
    first = parts[0]
    missing = [k for k in keys if k not in first.names]
    if missing:
        raise SecureSumError(f"summed output lacks its key columns {missing}")
    names = [c for c in first.names if c not in keys and not (is_words and c.startswith(LOW_WORD_PREFIX))]
    if is_words and any(LOW_WORD_PREFIX + n not in first.names for n in names):
        raise SecureSumError("a masked part lacks the low words of a value column")
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
    return ArrayBundle({c: columns[c] for c in first.names if c in columns})
