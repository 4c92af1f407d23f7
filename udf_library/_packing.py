"""Aggregates of any shape as a small table a local node may share, and back.

A node shares an output computed from private rows only when it has fewer rows than its
input, so arrays (counts per cut and class, per-class moments, confusion matrices) travel
as ``PACK_ROWS`` rows: element ``i`` of array ``<name>`` (flattened) sits in row
``i // w``, column ``<name>_<i % w>``, with ``w = ceil(size / PACK_ROWS)``, and column
``pack_row`` numbers the rows. A table of ``size / PACK_ROWS`` columns rather than one
row of ``size`` columns: DuckDB creates and reads a table in time growing faster than its
column count, and a decision-tree level shares up to 1024 cuts x classes counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from udf_library._bundle import ArrayBundle

__all__ = ["PACK_ROW", "PACK_ROWS", "pack", "unpack"]

PACK_ROWS = 8
"""Rows of every packed table: fewer than a node's default ``min_rows`` (``DEFAULT_MIN_ROWS``, 10)."""
PACK_ROW = "pack_row"


def pack(arrays: dict[str, npt.NDArray[Any]]) -> ArrayBundle:
    """Pack ``arrays`` (any shapes) into one table of ``PACK_ROWS`` rows, zero-padded."""
    columns: dict[str, Any] = {PACK_ROW: np.arange(PACK_ROWS)}
    for name, array in arrays.items():
        flat = np.asarray(array).ravel()
        width = -(-flat.size // PACK_ROWS)
        padded = np.zeros(width * PACK_ROWS, dtype=flat.dtype)
        padded[: flat.size] = flat
        block = padded.reshape(PACK_ROWS, width)
        for j in range(width):
            columns[f"{name}_{j}"] = block[:, j]
    return ArrayBundle(columns)


def unpack(bundle: ArrayBundle, name: str, shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
    """Array ``name`` of every packed table merged into ``bundle``: shape ``(tables, *shape)``.

    Rows are grouped by ``pack_row`` with a stable sort, so a merge need not keep each
    table's rows together, only the node order (as ``create_remote_and_merge_global``
    does): table ``t`` of every array is then the ``t``-th merged node.
    """
    size = int(np.prod(shape)) if shape else 1
    tables = bundle.num_rows // PACK_ROWS
    if size == 0:
        return np.zeros((tables, *shape))
    width = -(-size // PACK_ROWS)
    order = np.argsort(bundle[PACK_ROW], kind="stable")
    block = bundle.matrix([f"{name}_{j}" for j in range(width)])[order]
    flat = block.reshape(PACK_ROWS, tables, width).transpose(1, 0, 2).reshape(tables, PACK_ROWS * width)
    return flat[:, :size].reshape(tables, *shape)
