"""Job records: every command that changes the database leaves a row saying what ran, with what, and how it ended."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, update

from lensdb.catalog.db import session_scope
from lensdb.catalog.models import Job, utcnow

log = logging.getLogger(__name__)


def _jsonable(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        out[key] = value if isinstance(value, str | int | float | bool | type(None) | list | dict) else str(value)
    return out


@contextmanager
def job_scope(engine: Engine, kind: str, params: dict[str, Any] | None = None,
              command: str | None = None) -> Iterator[int]:
    """Record a job as ``running``; mark it ``done`` on success or ``failed`` (with the error) on any exception.

    Yields the job id, for the rows the job writes to refer to. The job row is committed before the work starts
    and updated in its own transaction afterwards, so a failed job stays visible.
    """
    with session_scope(engine) as s:
        job = Job(kind=kind, command=command or " ".join(sys.argv), params=_jsonable(params), status="running",
                  host=socket.gethostname())
        s.add(job)
        s.flush()
        job_id = job.id
    try:
        yield job_id
    except BaseException as exc:
        _finish(engine, job_id, "failed", f"{type(exc).__name__}: {exc}"[:4000])
        raise
    _finish(engine, job_id, "done", None)


def _finish(engine: Engine, job_id: int, status: str, message: str | None) -> None:
    try:
        with session_scope(engine) as s:
            s.execute(update(Job).where(Job.id == job_id).values(status=status, message=message,
                                                                  finished_at=utcnow()))
    except Exception:  # the database itself may be what failed; the original error matters more
        log.warning("could not record the end of job %s", job_id, exc_info=True)


def set_message(engine: Engine, job_id: int, message: str) -> None:
    """Record a job's closing message (for example an ingest's summary)."""
    with engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(message=message[:4000]))
