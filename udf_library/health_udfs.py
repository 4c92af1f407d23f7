"""The canary's UDFs: a tiny round through every node that touches no data."""

from __future__ import annotations

from udf_library._bundle import ArrayBundle
from udf_library._udf import WHOLE_VIEW, shared, udf

__all__ = ["global_count", "local_ping"]


@udf(outputs=(shared("ping", rows=WHOLE_VIEW),))
def local_ping(previous: ArrayBundle | None = None) -> ArrayBundle:
    """One row saying this node answered (``previous``, a table shared by the last round, is only received)."""
    return ArrayBundle({"answered": [1]})


@udf(outputs=(shared("count"),))
def global_count(pings: ArrayBundle) -> ArrayBundle:
    """How many local nodes answered the round."""
    return ArrayBundle({"answered": [int(pings["answered"].sum())]})
