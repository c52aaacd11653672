"""Failures of the service layer that the domain errors of :mod:`lensdb.core.errors` do not name, and the
recognition of engine failures (Milvus, SQLAlchemy) that mean "a backend is down".

Engine exceptions never leave the service layer raw: :func:`as_domain` turns the ones that mean unavailability
into :class:`BackendUnavailable` (retry later), a missing schema into :class:`lensdb.catalog.db.SchemaOutOfDate`, and
a broken constraint into :class:`lensdb.core.errors.Conflict`; the gRPC layer maps domain errors to status codes.
"""

from __future__ import annotations

import grpc
from lensdb.catalog.db import DatabaseUnavailable, SchemaOutOfDate
from lensdb.core.errors import Conflict, LensDBError
from pymilvus import MilvusException
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError


class BackendUnavailable(LensDBError):
    """Milvus or the relational database cannot be reached now; the same request may succeed later."""


class DeadlineExceeded(LensDBError):
    """The caller's deadline passed before the work was done."""


class Cancelled(LensDBError):
    """The caller went away (cancelled the call or closed the connection)."""


_UNAVAILABLE_RPC = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_UNAVAILABLE_TEXT = ("fail connecting", "server unavailable", "connection refused", "failed to connect")


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_milvus_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the Milvus server cannot be reached."""
    for e in _chain(exc):
        if isinstance(e, grpc.RpcError) and getattr(e, "code", None) and e.code() in _UNAVAILABLE_RPC:
            return True
        if isinstance(e, MilvusException) and any(t in str(e.message).lower() for t in _UNAVAILABLE_TEXT):
            return True
    return False


def as_domain(exc: BaseException) -> BaseException:
    """The domain error that ``exc`` stands for (``exc`` itself when it is one, or unrecognised)."""
    if isinstance(exc, BackendUnavailable | DatabaseUnavailable | DeadlineExceeded | Cancelled):
        return exc
    if is_milvus_unavailable(exc):
        return BackendUnavailable(f"the vector database (Milvus) is unavailable: {_first_line(exc)}")
    for e in _chain(exc):
        if isinstance(e, IntegrityError):
            return Conflict(f"the request contradicts stored data: {_first_line(e.orig or e)}")
        if isinstance(e, OperationalError | ProgrammingError) and _missing_table(e):
            return SchemaOutOfDate(f"the database schema is missing tables ({_first_line(e.orig or e)}); "
                                   "run 'lensdb db upgrade'")
        if isinstance(e, OperationalError) or (isinstance(e, DBAPIError) and e.connection_invalidated):
            return BackendUnavailable(f"the relational database is unavailable: {_first_line(e.orig or e)}")
    return exc


def _missing_table(exc: DBAPIError) -> bool:
    text = str(exc.orig or exc).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
