"""UDFs that try to break the privacy wall, so tests can prove the node stops them.

A test node loads them through ``extra_udf_packages``; they show that even a UDF the
node runs cannot take rows or small cells out by declaring its outputs shareable.
"""

from __future__ import annotations

import numpy as np

from udf_library import WHOLE_VIEW, ArrayBundle, private, shared, udf

__all__ = ["group_counts", "leak_rows", "row_count", "select_all", "undeclared_count"]


@udf(outputs=(shared("rows", rows=WHOLE_VIEW),))
def leak_rows(data: ArrayBundle) -> ArrayBundle:
    """Return every input row as a "shareable" output; the node must refuse it."""
    return data


@udf(outputs=(private("rows"),))
def select_all(data: ArrayBundle) -> ArrayBundle:
    """Copy the input rows into a private table (derived row by row: stays private)."""
    return data


@udf(outputs=(shared("count", rows="rows"),))
def row_count(data: ArrayBundle) -> ArrayBundle:
    """The number of input rows: an aggregate, allowed to leave the node."""
    return ArrayBundle({"rows": [data.num_rows]})


@udf(outputs=(shared("count"),))
def undeclared_count(data: ArrayBundle) -> ArrayBundle:
    """An aggregate whose output does not say what its cells are: the node must refuse it."""
    return ArrayBundle({"rows": [data.num_rows]})


@udf(outputs=(shared("counts", rows="n", label="group"),))
def group_counts(data: ArrayBundle, column: str) -> ArrayBundle:
    """Rows per value of ``column``: refused when a value has fewer rows than the node's cell minimum."""
    values, counts = np.unique(np.array([str(v) for v in data[column]], dtype=str), return_counts=True)
    return ArrayBundle({"group": values.astype(object), "n": counts})
