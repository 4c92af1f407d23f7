"""The one table between errors and gRPC status codes, both ways."""

from __future__ import annotations

import logging
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from mip_common import errors

__all__ = ["DOMAIN", "code_of", "error_from_rpc", "to_rich_status"]

log = logging.getLogger(__name__)

DOMAIN = "mip-mesh"
_MESSAGE_CHARS = 2000

_CODES: dict[type[errors.MipError], grpc.StatusCode] = {
    errors.InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    errors.PrivacyError: grpc.StatusCode.PERMISSION_DENIED,
    errors.TooFewRowsError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.SmallCellError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.SelectionRuleError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.FailedPreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.DataRejectedError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.DataLoadError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ResourceLimitError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.NodeUnavailableError: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineError: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    errors.InternalError: grpc.StatusCode.INTERNAL,
}
_BY_REASON = {cls.reason: cls for cls in _CODES}
_FALLBACK: dict[grpc.StatusCode, type[errors.MipError]] = {
    grpc.StatusCode.UNAVAILABLE: errors.NodeUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineError,
    grpc.StatusCode.CANCELLED: errors.NodeUnavailableError,
    grpc.StatusCode.UNAUTHENTICATED: errors.UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidRequestError,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPreconditionError,
}


def code_of(exc: errors.MipError) -> grpc.StatusCode:
    """The gRPC status code of an error class (walking up to its base)."""
    for cls in type(exc).__mro__:
        if cls in _CODES:
            return _CODES[cls]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


def to_rich_status(exc: errors.MipError) -> grpc.Status:
    """``exc`` as a status with an ``ErrorInfo{reason, domain, metadata}`` detail."""
    info = error_details_pb2.ErrorInfo(
        reason=exc.reason, domain=DOMAIN, metadata={k: _short(v, 200) for k, v in exc.metadata.items()}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=code_of(exc).value[0], message=_short(exc.message, _MESSAGE_CHARS), details=[detail]
    )
    return rpc_status.to_status(status)


def _short(text: str, limit: int) -> str:
    """Messages echo what callers sent; keep them under gRPC's metadata limits."""
    return text if len(text) <= limit else text[:limit] + " ... (message cut)"


def error_from_rpc(err: grpc.RpcError, *, context: str = "") -> errors.MipError:
    """The typed error behind a failed call, picked by ``ErrorInfo.reason`` when present.

    ``context`` (for example the node id) is put in front of the message so the
    researcher learns where it happened.
    """
    code: grpc.StatusCode = err.code()  # type: ignore[attr-defined]
    message: str = err.details() or code.name  # type: ignore[attr-defined]
    reason, metadata = _error_info(err)
    cls = _BY_REASON.get(reason or "") or _FALLBACK.get(code, errors.InternalError)
    if cls is errors.InternalError and code is not grpc.StatusCode.INTERNAL:
        message = f"{code.name}: {message}"
    prefix = f"{context}: " if context else ""
    error = cls(prefix + message, metadata=metadata)
    error.__cause__ = err
    return error


def _error_info(err: grpc.RpcError) -> tuple[str | None, dict[str, str]]:
    try:
        status: Any = rpc_status.from_call(err)  # type: ignore[arg-type]
    except Exception:  # a status whose details do not parse is still an error
        log.debug("could not parse status details", exc_info=True)
        return None, {}
    if status is None:
        return None, {}
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == DOMAIN:
            return info.reason, dict(info.metadata)
    return None, {}
