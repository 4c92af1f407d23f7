"""TLS credentials and caller authentication, the same in node and controller.

A server refuses a call before any handler runs unless the caller presents a client
certificate whose identity (common name or a DNS subject alternative name) is allowed, or
a bearer token that matches one of the configured tokens (compared in constant time).
The gRPC health service and server reflection stay reachable for orchestrators.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import grpc

from mip_common.errors import MipError, PermissionDeniedError, UnauthenticatedError
from mip_common.status import to_rich_status

__all__ = [
    "CALLER",
    "EXEMPT_SERVICES",
    "AuthInterceptor",
    "channel_credentials",
    "peer_identities",
    "read_tokens",
    "server_credentials",
]

log = logging.getLogger(__name__)

CALLER: ContextVar[str] = ContextVar("caller", default="")
"""Who made the current call: ``cert:<identity>``, ``token:<n>`` or ``""`` (anonymous)."""

EXEMPT_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
"""Method prefixes reachable without caller authentication."""

AUTHORIZATION_KEY = "authorization"


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise MipError(f"cannot read the {what} {str(path)!r}: {exc.strerror}") from None


def server_credentials(
    cert_file: str | Path, key_file: str | Path, ca_file: str | Path | None, *, require_client_auth: bool
) -> grpc.ServerCredentials:
    """TLS server credentials; with ``require_client_auth``, clients need a certificate ``ca_file`` signed.

    gRPC Python can only require client certificates or not ask for them at all: with
    ``require_client_auth`` a client without a valid certificate fails the TLS handshake.
    """
    if require_client_auth and not ca_file:
        raise MipError("client certificates can only be required with a CA file (tls_ca_file)")
    return grpc.ssl_server_credentials(
        [(_read(key_file, "TLS key"), _read(cert_file, "TLS certificate"))],
        root_certificates=_read(ca_file, "CA file") if ca_file else None,
        require_client_auth=require_client_auth,
    )


def channel_credentials(
    ca_file: str | Path | None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    *,
    token: str = "",
) -> grpc.ChannelCredentials:
    """TLS channel credentials: verify the server with ``ca_file`` (system roots if None).

    ``cert_file``/``key_file`` add a client certificate; ``token`` adds a bearer token to
    every call.
    """
    if bool(cert_file) != bool(key_file):
        raise MipError("a client certificate needs both its certificate and its key file")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file, "CA file") if ca_file else None,
        private_key=_read(key_file, "TLS key") if key_file else None,
        certificate_chain=_read(cert_file, "TLS certificate") if cert_file else None,
    )
    if token:
        credentials = grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))
    return credentials


def read_tokens(token_file: str | Path | None, tokens: Iterable[str] = ()) -> tuple[str, ...]:
    """Tokens from ``token_file`` (one per line, ``#`` comments) and ``tokens``; blanks dropped."""
    found = [t.strip() for t in tokens if t.strip()]
    if token_file:
        for line in _read(token_file, "token file").decode().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                found.append(line)
    return tuple(found)


def peer_identities(context: grpc.aio.ServicerContext[Any, Any]) -> list[str]:
    """The verified client certificate's common name and DNS/IP names; empty without one."""
    auth = context.auth_context() or {}
    names: list[str] = []
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth.get(key, ()):
            text = value.decode() if isinstance(value, bytes) else str(value)
            if text not in names:
                names.append(text)
    return names


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses calls from unauthenticated or unknown callers before any handler runs.

    Parameters
    ----------
    mode
        ``"mtls"``: the TLS client certificate's identity must be in ``allowed_identities``
        (any verified certificate if empty). ``"token"``: an ``authorization: Bearer <t>``
        metadata entry must match one of ``tokens``.
    on_refused
        Called with (method, caller, reason) for every refused call, e.g. to audit it.
    """

    def __init__(
        self,
        mode: str,
        *,
        allowed_identities: Sequence[str] = (),
        tokens: Sequence[str] = (),
        on_refused: Callable[[str, str, str], None] | None = None,
    ) -> None:
        if mode not in ("mtls", "token"):
            raise ValueError(f"mode must be 'mtls' or 'token', got {mode!r}")
        if mode == "token" and not tokens:
            raise MipError("client_auth = 'token' needs at least one token (token_file or tokens)")
        self._mode = mode
        self._allowed = frozenset(allowed_identities)
        self._tokens = tuple(t.encode() for t in tokens)
        self._on_refused = on_refused

    def check(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """The caller of an allowed call; raises UnauthenticatedError or PermissionDeniedError."""
        if self._mode == "mtls":
            names = peer_identities(context)
            if not names:
                raise UnauthenticatedError("a client certificate signed by the federation's CA is required")
            if self._allowed and self._allowed.isdisjoint(names):
                raise PermissionDeniedError(f"identity {names[0]!r} may not call this service")
            return f"cert:{names[0]}"
        presented = b""
        for key, value in context.invocation_metadata() or ():
            if key == AUTHORIZATION_KEY and isinstance(value, str) and value.startswith("Bearer "):
                presented = value.removeprefix("Bearer ").strip().encode()
        matched = -1
        for index, token in enumerate(self._tokens):  # compare against every token, in constant time
            if hmac.compare_digest(presented, token) and presented:
                matched = index
        if matched < 0:
            raise UnauthenticatedError("a valid bearer token is required (authorization: Bearer <token>)")
        return f"token:{matched + 1}"

    async def _refuse(self, method: str, context: grpc.aio.ServicerContext[Any, Any], exc: MipError) -> None:
        caller = ",".join(peer_identities(context)) or context.peer()
        log.warning(
            "call refused",
            extra={"fields": {"method": method, "caller": caller, "reason": exc.reason, "error": exc.message}},
        )
        if self._on_refused is not None:
            try:
                self._on_refused(method, caller, exc.reason)
            except Exception:
                log.exception("could not record a refused call")
        await context.abort_with_status(to_rich_status(exc))

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(EXEMPT_SERVICES):
            return handler
        kinds = {
            "unary_unary": (grpc.unary_unary_rpc_method_handler, False),
            "unary_stream": (grpc.unary_stream_rpc_method_handler, True),
            "stream_unary": (grpc.stream_unary_rpc_method_handler, False),
            "stream_stream": (grpc.stream_stream_rpc_method_handler, True),
        }
        for attribute, (make, is_streaming) in kinds.items():
            behavior = getattr(handler, attribute)
            if behavior:
                wrapped = self._wrap_stream(method, behavior) if is_streaming else self._wrap_unary(method, behavior)
                return make(
                    wrapped,
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler

    def _wrap_unary(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                CALLER.set(self.check(method, context))
            except MipError as exc:
                await self._refuse(method, context, exc)
            return await behavior(request, context)

        return wrapper

    def _wrap_stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            try:
                CALLER.set(self.check(method, context))
            except MipError as exc:
                await self._refuse(method, context, exc)
            async for response in behavior(request, context):
                yield response

        return wrapper
