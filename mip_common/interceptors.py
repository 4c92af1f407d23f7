"""Server interceptors: typed errors become statuses, experiment ids travel in metadata."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from mip_common.errors import MipError
from mip_common.logs import EXPERIMENT_ID
from mip_common.status import to_rich_status

__all__ = ["EXPERIMENT_ID_KEY", "ErrorMappingInterceptor", "experiment_metadata"]

log = logging.getLogger(__name__)

EXPERIMENT_ID_KEY = "x-mip-experiment-id"


def experiment_metadata() -> tuple[tuple[str, str], ...]:
    """Call metadata carrying the current experiment id to a node."""
    experiment_id = EXPERIMENT_ID.get()
    return ((EXPERIMENT_ID_KEY, experiment_id),) if experiment_id else ()


async def _abort(context: grpc.aio.ServicerContext[Any, Any], method: str, exc: BaseException) -> None:
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    if isinstance(exc, MipError):
        log.info(
            "request refused",
            extra={"fields": {"method": method, "reason": exc.reason, "error": exc.message[:500]}},
        )
        await context.abort_with_status(to_rich_status(exc))
    log.exception("unhandled error in %s", method)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")


def _experiment_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == EXPERIMENT_ID_KEY:
            return str(value)
    return ""


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps every handler: sets the experiment id and turns raised errors into statuses."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method  # type: ignore[attr-defined]
        cached = self._wrapped.get(method)  # wrapped once per method, not per call: this runs before every RPC
        if cached is None or cached[0] is not handler:
            cached = self._wrapped[method] = (handler, _wrap(method, handler))
        return cached[1]


def _wrap(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            _wrap_stream(method, handler.unary_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _wrap_unary(method, handler.stream_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream(method, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


def _wrap_unary(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        EXPERIMENT_ID.set(_experiment_of(context))  # each RPC runs in its own task and context
        try:
            return await behavior(request, context)
        except Exception as exc:
            await _abort(context, method, exc)

    return wrapper


def _wrap_stream(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        EXPERIMENT_ID.set(_experiment_of(context))
        try:
            async for response in behavior(request, context):
                yield response
        except Exception as exc:
            await _abort(context, method, exc)

    return wrapper
