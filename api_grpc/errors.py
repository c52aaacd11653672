"""The one map from domain errors to gRPC status codes, and the decorators that apply it to every servicer method.

The first row whose exception type matches wins, so subclasses come before their bases. Anything that is not a
domain error is a bug: it is logged with its traceback and answered INTERNAL with an incident id, never with its
text (which may hold internals). Errors that reach the servicers raw from an engine are first turned into domain
errors by :func:`lensdb.services.errors.as_domain`.
"""

from __future__ import annotations

import functools
import logging
import uuid

import grpc

from lensdb.catalog.db import DatabaseUnavailable, SchemaOutOfDate
from lensdb.core.config import ConfigError
from lensdb.core.errors import Conflict, InvalidInput, LensDBError, NotFound, redact_paths
from lensdb.services.errors import BackendUnavailable, Cancelled, DeadlineExceeded, as_domain

log = logging.getLogger("lensdb.api")
Code = grpc.StatusCode

#: Domain error -> status code. Retry-safe failures (the backend is down) are UNAVAILABLE; failures the caller
#: can fix are INVALID_ARGUMENT / NOT_FOUND; those the operator must fix (state of the server) FAILED_PRECONDITION.
STATUS_MAP: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (DeadlineExceeded, Code.DEADLINE_EXCEEDED),
    (Cancelled, Code.CANCELLED),
    (BackendUnavailable, Code.UNAVAILABLE),
    (DatabaseUnavailable, Code.UNAVAILABLE),
    (SchemaOutOfDate, Code.FAILED_PRECONDITION),
    (InvalidInput, Code.INVALID_ARGUMENT),
    (NotFound, Code.NOT_FOUND),
    (Conflict, Code.FAILED_PRECONDITION),
    (ConfigError, Code.FAILED_PRECONDITION),
    (LensDBError, Code.FAILED_PRECONDITION),
)
#: Longest error text sent to a client (the status details travel in a header).
MAX_DETAILS = 2000



def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """(status code, details) for an exception raised while serving a request."""
    domain = as_domain(exc)
    for kind, code in STATUS_MAP:
        if isinstance(domain, kind):
            return code, redact_paths(str(domain))[:MAX_DETAILS]
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s", incident, exc_info=exc)
    return Code.INTERNAL, f"internal error (incident {incident}); the server log has the details"


def _abort(context: grpc.ServicerContext, exc: BaseException):
    code, details = status_of(exc)
    context.abort(code, details)


def unary(method):
    """Decorate a unary servicer method: any exception becomes the mapped status."""

    @functools.wraps(method)
    def handler(self, request, context):
        try:
            return method(self, request, context)
        except Exception as exc:
            _abort(context, exc)

    return handler


def stream(method):
    """Decorate a server-streaming servicer method (a generator): any exception becomes the mapped status."""

    @functools.wraps(method)
    def handler(self, request, context):
        try:
            yield from method(self, request, context)
        except Exception as exc:
            _abort(context, exc)

    return handler
