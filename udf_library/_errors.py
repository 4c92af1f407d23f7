"""The one exception a UDF raises on purpose."""

from __future__ import annotations

__all__ = ["UdfInputError"]


class UdfInputError(ValueError):
    """The data cannot support this computation (say, a singular matrix).

    Its message reaches the researcher, so it names the problem and never holds row values.
    """
