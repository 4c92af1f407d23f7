"""Errors mip-mesh raises on purpose, each with the reason code it carries on the wire.

MipError
├── InvalidRequestError        INVALID_ARGUMENT   bad names, arguments, requests
├── NotFoundError              NOT_FOUND          unknown table, UDF, algorithm, data model
├── AlreadyExistsError         ALREADY_EXISTS     a table or dataset that exists
├── PrivacyError               PERMISSION_DENIED  private data asked to leave its node
├── TooFewRowsError            FAILED_PRECONDITION  fewer rows than the node's minimum
├── SmallCellError             FAILED_PRECONDITION  a shareable output with a cell under the node's minimum
├── SelectionRuleError         FAILED_PRECONDITION  a selection that leaves out too few rows (differencing)
├── FailedPreconditionError  FAILED_PRECONDITION  valid, but not now or not here
├── DataRejectedError          FAILED_PRECONDITION  the data cannot support the computation
├── DataLoadError              INVALID_ARGUMENT   a data-model file that does not load
├── ResourceLimitError         RESOURCE_EXHAUSTED  more than a node's size caps allow
├── NodeUnavailableError       UNAVAILABLE        a node that does not answer
├── DeadlineError              DEADLINE_EXCEEDED  a time budget ran out
├── UnauthenticatedError       UNAUTHENTICATED    no or bad credentials
├── PermissionDeniedError      PERMISSION_DENIED  a caller that may not call this
└── InternalError              INTERNAL           a bug: see the server log
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlreadyExistsError",
    "DataLoadError",
    "DataRejectedError",
    "DeadlineError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidRequestError",
    "MipError",
    "NodeUnavailableError",
    "NotFoundError",
    "PermissionDeniedError",
    "PrivacyError",
    "ResourceLimitError",
    "SelectionRuleError",
    "SmallCellError",
    "TooFewRowsError",
    "UnauthenticatedError",
]


class MipError(Exception):
    """Base class for every error mip-mesh raises on purpose."""

    reason: ClassVar[str] = "MIP_ERROR"

    def __init__(self, message: str, *, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = dict(metadata or {})


class InvalidRequestError(MipError):
    """A request that cannot be run as written; the message says what to change."""

    reason = "INVALID_REQUEST"


class NotFoundError(MipError):
    """A named thing (table, UDF, algorithm, data model, dataset) that does not exist."""

    reason = "NOT_FOUND"


class AlreadyExistsError(MipError):
    """Something that would be created twice (a table, a dataset)."""

    reason = "ALREADY_EXISTS"


class PrivacyError(MipError):
    """Private data was asked to leave its node; the node refuses."""

    reason = "PRIVATE_DATA"


class TooFewRowsError(MipError):
    """A selection with fewer rows than the node's minimum: computing on it could expose people."""

    reason = "TOO_FEW_ROWS"


class SmallCellError(MipError):
    """A shareable output has a cell (cluster, level, class, bin) with fewer rows than the node allows."""

    reason = "SMALL_CELL"


class SelectionRuleError(MipError):
    """A selection leaves out of its datasets a few rows but not none: two such requests would single people out."""

    reason = "SELECTION_DIFFERENCE"


class FailedPreconditionError(MipError):
    """A request that is valid but cannot run in the node's or federation's current state."""

    reason = "FAILED_PRECONDITION"


class DataRejectedError(MipError):
    """The data cannot support the computation (for example perfectly collinear columns)."""

    reason = "DATA_REJECTED"


class DataLoadError(MipError):
    """A data-model folder or CSV that does not load; the message names file, line and column."""

    reason = "DATA_LOAD_FAILED"


class ResourceLimitError(MipError):
    """A request over a node's size caps (``max_table_bytes``, ``max_experiment_bytes``)."""

    reason = "RESOURCE_LIMIT"


class NodeUnavailableError(MipError):
    """A node that does not answer."""

    reason = "NODE_UNAVAILABLE"


class DeadlineError(MipError):
    """A time budget that ran out."""

    reason = "DEADLINE_EXCEEDED"


class UnauthenticatedError(MipError):
    """A caller without valid credentials."""

    reason = "UNAUTHENTICATED"


class PermissionDeniedError(MipError):
    """A caller whose identity may not make this call."""

    reason = "PERMISSION_DENIED"


class InternalError(MipError):
    """A bug or an unexpected failure; details are in the server log, not the message."""

    reason = "INTERNAL"
