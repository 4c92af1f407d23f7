"""The observed levels of categorical variables: one round that every design-matrix flow shares.

Linear and logistic regression (and their cross-validations) call these UDFs, so they are
defined once; a level count is a cell like any other.
"""

from __future__ import annotations

from udf_library import _design
from udf_library._bundle import ArrayBundle
from udf_library._hints import LEVEL_HINT
from udf_library._udf import shared, udf

__all__ = ["global_levels", "local_levels"]


@udf(outputs=(shared("counts", rows="count", label="variable", hint=LEVEL_HINT),))
def local_levels(data: ArrayBundle, variables: list[str]) -> ArrayBundle:
    """Rows per observed level of each categorical variable (one row per level)."""
    return _design.level_counts(data, variables)


@udf(outputs=(shared("levels"),))
def global_levels(counts: ArrayBundle) -> ArrayBundle:
    """The levels seen on any node, sorted; the first of each variable is its reference."""
    return _design.observed_levels(counts)
