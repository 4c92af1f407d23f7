"""UDFs that try to break the privacy wall, so tests can prove the node stops them.

They ship with the library on purpose: a node runs only installed UDFs, and these show
that even an installed UDF cannot take rows out by declaring them shareable.
"""

from __future__ import annotations

from udf_library._bundle import ArrayBundle
from udf_library._udf import private, shared, udf

__all__ = ["leak_rows", "row_count", "select_all"]


@udf(outputs=(shared("rows"),))
def leak_rows(data: ArrayBundle) -> ArrayBundle:
    """Return every input row as a "shareable" output; the node must refuse it."""
    return data


@udf(outputs=(private("rows"),))
def select_all(data: ArrayBundle) -> ArrayBundle:
    """Copy the input rows into a private table (derived row by row: stays private)."""
    return data


@udf(outputs=(shared("count"),))
def row_count(data: ArrayBundle) -> ArrayBundle:
    """The number of input rows: an aggregate, allowed to leave the node."""
    return ArrayBundle({"rows": [data.num_rows]})
