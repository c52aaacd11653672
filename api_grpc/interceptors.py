"""Server interceptors: token authentication, and one observer that times every RPC, counts it in the metrics and
writes one structured log record per call.

The observer runs outermost, so refused calls (no token) are counted and logged too. The health service is
exempt from authentication: Kubernetes' gRPC probes cannot send a token.

Request bytes that do not parse as the method's message never reach a servicer: the observer parses them itself and
answers INVALID_ARGUMENT (UNAUTHENTICATED first when the call carries no valid token), counted and logged like any
other call, instead of letting gRPC answer INTERNAL and log a traceback per call.
"""

from __future__ import annotations

import hmac
import logging
import time

import grpc

from lensdb.api_grpc.metrics import Metrics

access_log = logging.getLogger("lensdb.api.access")
#: Methods callable without a token.
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def _replace_behaviour(handler: grpc.RpcMethodHandler, wrap) -> grpc.RpcMethodHandler:
    """``handler`` with its behaviour function ``f`` replaced by ``wrap(f, streaming_response)``."""
    if handler.unary_unary:
        return handler._replace(unary_unary=wrap(handler.unary_unary, False))
    if handler.unary_stream:
        return handler._replace(unary_stream=wrap(handler.unary_stream, True))
    if handler.stream_unary:
        return handler._replace(stream_unary=wrap(handler.stream_unary, False))
    return handler._replace(stream_stream=wrap(handler.stream_stream, True))


class Unparseable:
    """What a request that failed to parse becomes (the parser's error kept for the message)."""

    def __init__(self, error: Exception):
        self.error = error


def _safe_parser(parse):
    """``parse`` that returns :class:`Unparseable` instead of raising."""
    if parse is None:
        return None

    def tolerant(data: bytes):
        try:
            return parse(data)
        except Exception as exc:  # protobuf's DecodeError, and anything else a parser raises on garbage
            return Unparseable(exc)

    return tolerant


def _code_name(context: grpc.ServicerContext, default: grpc.StatusCode) -> str:
    code = context.code()
    return (code if isinstance(code, grpc.StatusCode) else default).name


def _failed(context: grpc.ServicerContext) -> str:
    """The status of a call whose behaviour raised: the one it aborted with, CANCELLED when the client left."""
    if context.code() is None and not context.is_active():
        return "CANCELLED"
    return _code_name(context, grpc.StatusCode.UNKNOWN)


class AuthInterceptor(grpc.ServerInterceptor):
    """Refuse calls without ``authorization: Bearer <token>`` metadata (UNAUTHENTICATED), except health checks.

    Args:
        token: the shared secret; compared in constant time.
    """

    def __init__(self, token: str):
        if not token or not token.strip():
            raise ValueError("AuthInterceptor needs a non-empty token")
        self._expected = f"Bearer {token}".encode()

    def allowed(self, details: grpc.HandlerCallDetails) -> bool:
        """Whether the call may proceed: an open method, or the right bearer token."""
        if details.method.startswith(OPEN_PREFIXES):
            return True
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else bytes(value)
                return hmac.compare_digest(given, self._expected)
        return False

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or self.allowed(handler_call_details):
            return handler

        def deny(_behaviour, streaming):
            def refuse(request, context):
                context.abort(grpc.StatusCode.UNAUTHENTICATED,
                              "missing or wrong token: send metadata 'authorization: Bearer <token>'")

            if streaming:
                def refuse_stream(request, context):
                    refuse(request, context)
                    yield  # pragma: no cover - abort raises first

                return refuse_stream
            return refuse

        return _replace_behaviour(handler, deny)


class ObserveInterceptor(grpc.ServerInterceptor):
    """Time, count and log every RPC.

    Args:
        metrics: where to count (``None``: logs only).
        auth: the authentication in force, so that an unparseable request without a token is refused as such.
    """

    def __init__(self, metrics: Metrics | None, auth: AuthInterceptor | None = None):
        self.metrics, self.auth = metrics, auth

    def _finish(self, method: str, context, code: str, started: float) -> None:
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.in_flight.dec()
            self.metrics.observe(method, code, seconds)
        level = logging.DEBUG if method.startswith(OPEN_PREFIXES) else logging.INFO
        if code in ("INTERNAL", "UNKNOWN", "DATA_LOSS"):
            level = logging.ERROR
        if access_log.isEnabledFor(level):
            fields = {"method": method, "code": code, "ms": round(seconds * 1000.0, 3), "peer": context.peer()}
            access_log.log(level, "rpc %s %s %.1f ms", method, code, fields["ms"], extra={"rpc": fields})

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        handler = handler._replace(request_deserializer=_safe_parser(handler.request_deserializer))
        allowed = self.auth is None or self.auth.allowed(handler_call_details)

        def refuse_unparseable(request, context) -> None:
            if isinstance(request, Unparseable):
                if not allowed:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                  "missing or wrong token: send metadata 'authorization: Bearer <token>'")
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"the request bytes are not a valid message for {method} ({type(request.error).__name__})"
                              "; send the message the protocol defines (lensdb/v1/*.proto)")

        def checked(request, context):
            if not handler.request_streaming:
                refuse_unparseable(request, context)
                return request

            def each():
                for item in request:
                    refuse_unparseable(item, context)
                    yield item

            return each()

        def observe(behaviour, streaming):
            if streaming:
                def call_stream(request, context):
                    started, code = self._start(), "UNKNOWN"
                    try:
                        yield from behaviour(checked(request, context), context)
                        code = _code_name(context, grpc.StatusCode.OK)
                    except GeneratorExit:
                        code = "CANCELLED"
                        raise
                    except BaseException:
                        code = _failed(context)
                        raise
                    finally:
                        self._finish(method, context, code, started)

                return call_stream

            def call(request, context):
                started, code = self._start(), "UNKNOWN"
                try:
                    response = behaviour(checked(request, context), context)
                    code = _code_name(context, grpc.StatusCode.OK)
                    return response
                except BaseException:
                    code = _failed(context)
                    raise
                finally:
                    self._finish(method, context, code, started)

            return call

        return _replace_behaviour(handler, observe)

    def _start(self) -> float:
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        return time.perf_counter()
