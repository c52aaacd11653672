"""Failures of the service layer that the domain errors of :mod:`lensdb.core.errors` do not name, and the one place
that turns engine failures into domain errors.

Engine exceptions never leave the service layer raw: :func:`as_domain` asks each engine what a failure means
(:func:`lensdb.vectordb.connection.is_unavailable` for Milvus, :func:`lensdb.catalog.db.domain_error` for the
relational database): unavailability becomes :class:`~lensdb.core.errors.BackendUnavailable` (retry later), a
missing schema :class:`lensdb.catalog.db.SchemaOutOfDate`, a broken constraint
:class:`~lensdb.core.errors.Conflict`. Faces (the gRPC API, the web page, the CLI) map domain errors to their own
status codes; nothing here knows a protocol.
"""

from __future__ import annotations

from lensdb.catalog.db import domain_error
from lensdb.core.errors import BackendUnavailable, LensDBError, first_line
from lensdb.vectordb.connection import is_unavailable as milvus_unavailable

__all__ = ["BackendUnavailable", "Cancelled", "DeadlineExceeded", "as_domain", "milvus_unavailable"]


class DeadlineExceeded(LensDBError):
    """The caller's deadline passed before the work was done."""


class Cancelled(LensDBError):
    """The caller went away (cancelled the call or closed the connection)."""


def as_domain(exc: BaseException) -> BaseException:
    """The domain error that ``exc`` stands for (``exc`` itself when it is one, or unrecognised)."""
    if isinstance(exc, BackendUnavailable | DeadlineExceeded | Cancelled):
        return exc
    if milvus_unavailable(exc):
        return BackendUnavailable(f"the vector database (Milvus) is unavailable: {first_line(exc)}")
    return domain_error(exc) or exc
