"""UDFs that misbehave on purpose, so operators and tests can see the node's limits hold.

A node must survive a UDF that raises, one that never ends and one that allocates
without bound: with ``udf_isolation = "process"`` the last two are stopped by
``udf_timeout_s`` and ``udf_memory_bytes``.
"""

from __future__ import annotations

import time

import numpy as np

from udf_library import ArrayBundle, shared, udf

__all__ = ["allocate_forever", "raise_error", "secure_sum_of", "sleep_forever"]


@udf(outputs=(shared("result"),))
def raise_error(message: str) -> ArrayBundle:
    """Fail with ``message``."""
    raise RuntimeError(message)


@udf(outputs=(shared("result"),))
def sleep_forever(seconds: float) -> ArrayBundle:
    """Take ``seconds`` (think: forever) before answering."""
    time.sleep(seconds)
    return ArrayBundle({"slept": [seconds]})


@udf(outputs=(shared("result"),))
def allocate_forever(step_bytes: int) -> ArrayBundle:
    """Keep allocating ``step_bytes`` at a time and never let go."""
    held = []
    while True:
        held.append(np.ones(step_bytes // 8))


@udf(outputs=(shared("total", merge="secure_sum"),))
def secure_sum_of(value: float) -> ArrayBundle:
    """One value merged by secure sum: a value too large for the fixed-point words is refused."""
    return ArrayBundle({"value": [value]})
