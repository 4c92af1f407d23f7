"""Errors a flow raises on purpose; the controller maps each to a gRPC status."""

from __future__ import annotations

__all__ = ["AlgorithmError", "InvalidInputDataError", "InvalidParametersError"]


class AlgorithmError(Exception):
    """The data cannot support the computation (say, perfectly collinear columns).

    Mapped to FAILED_PRECONDITION: the request was well formed, the data was not fit.
    """


class InvalidParametersError(ValueError):
    """Parameters that do not fit the algorithm's spec; carries every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class InvalidInputDataError(ValueError):
    """Variables that do not fit the algorithm's spec; carries every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
