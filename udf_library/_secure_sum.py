"""Outputs merged by summing over nodes: the fixed-point words secure aggregation masks, and the sums.

A shareable output declared ``shared(name, merge="secure_sum", keys=(...))`` is merged at
the global node as the element-wise sum over the local nodes of its value columns, its
key columns (cluster ids, levels) identical on every node and kept in the clear. Under
secure aggregation each node sends its values as integers modulo 2**64 in fixed point
(``FRACTION_BITS`` binary digits after the point), with pairwise masks added that cancel
in the sum; without it the nodes send floats and the global node sums those. Either way
the merged table has the key columns then every value column as float64.
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
]

SECURE_SUM = "secure_sum"
"""``shared(..., merge=SECURE_SUM)``: the output is merged as a sum over nodes."""

FRACTION_BITS = 32
"""Binary digits after the point: values are exact to 2**-33, sums of up to 2**31 / nodes."""

_SCALE = float(2**FRACTION_BITS)
_HALF_RANGE = 2**63


class SecureSumError(ValueError):
    """Parts of a summed output cannot be summed: other keys or columns, or values out of range."""


def fixed_point_bound(parties: int) -> float:
    """Largest magnitude one of ``parties`` nodes may send, so that no sum of them overflows."""
    return (_HALF_RANGE / max(parties, 1) - 1.0) / _SCALE


def encode_fixed(values: npt.NDArray[Any], parties: int) -> npt.NDArray[np.uint64]:
    """``values`` as fixed-point words modulo 2**64; refused when missing, infinite or too large."""
    floats = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(floats)):
        raise SecureSumError("a summed value is missing or infinite; secure aggregation sums only finite numbers")
    bound = fixed_point_bound(parties)
    if floats.size and float(np.max(np.abs(floats))) > bound:
        raise SecureSumError(
            f"a summed value exceeds {bound:.6g}, the largest fixed-point value secure aggregation can add "
            f"over {parties} node(s) without overflow (2**63 / nodes at {FRACTION_BITS} fraction bits); "
            "rescale the variables or turn secure aggregation off"
        )
    return np.rint(floats * _SCALE).astype(np.int64).view(np.uint64)


def decode_fixed(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """Fixed-point words modulo 2**64 (two's complement) as floats."""
    return np.asarray(words, dtype=np.uint64).view(np.int64).astype(np.float64) / _SCALE


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


def sum_parts(parts: Sequence[ArrayBundle], keys: Sequence[str]) -> ArrayBundle:
    """The element-wise sum of the parts' value columns (as float64), their keys checked identical."""
    names, total = _check_alike(parts, keys)
    for part in parts:
        total = total + part.matrix(names)
    return _assemble(parts[0], keys, names, total)


def sum_masked_parts(
    parts: Sequence[ArrayBundle], keys: Sequence[str], unmask: npt.NDArray[np.uint64] | None = None
) -> ArrayBundle:
    """The decoded sum of masked fixed-point parts (value columns hold the words as int64).

    ``unmask`` is added to the word sum before decoding (masks that did not cancel).
    """
    names, _ = _check_alike(parts, keys)
    words = np.zeros((parts[0].num_rows, len(names)), dtype=np.uint64)
    for part in parts:
        for j, name in enumerate(names):
            column = part[name]
            if column.dtype.kind not in "iu":
                raise SecureSumError(f"masked column {name!r} must hold 64-bit words, got {column.dtype}")
            words[:, j] += column.view(np.uint64)
    if unmask is not None:
        words += unmask.reshape(words.shape)
    return _assemble(parts[0], keys, names, decode_fixed(words))


def _check_alike(parts: Sequence[ArrayBundle], keys: Sequence[str]) -> tuple[list[str], npt.NDArray[np.float64]]:
    if not parts:
        raise SecureSumError("no parts to sum")
    first = parts[0]
    names, _ = value_matrix(first, keys)
    for index, part in enumerate(parts[1:], start=2):
        if part.names != first.names or part.num_rows != first.num_rows:
            raise SecureSumError(
                f"part {index} of a summed output has columns {part.names} and {part.num_rows} rows; "
                f"part 1 has {first.names} and {first.num_rows}: nodes must send the same cells"
            )
        for key in keys:
            if not np.array_equal(part[key], first[key]):
                raise SecureSumError(f"key column {key!r} of part {index} differs from part 1: cells must align")
    return names, np.zeros((first.num_rows, len(names)))


def _assemble(
    first: ArrayBundle, keys: Sequence[str], names: list[str], values: npt.NDArray[np.float64]
) -> ArrayBundle:
    columns: dict[str, Any] = {k: first[k] for k in keys}
    columns |= {name: values[:, j] for j, name in enumerate(names)}
    return ArrayBundle({c: columns[c] for c in first.names})
