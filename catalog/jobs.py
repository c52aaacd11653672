"""Job records: every command that changes the database leaves a row saying what ran, with what, and how it ended.

A job records its host and process id. A process killed (SIGKILL, out of memory, a node lost) cannot record its end,
so its job would stay ``running``: the next job on the same host, and ``lensdb jobs``, look for such jobs and mark
them ``failed`` once their process is gone (:func:`mark_stale`). A process id the system reused for another program
is told apart by the process's start time (Linux ``/proc``).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from lensdb.catalog.db import session_scope
from lensdb.catalog.models import Job, utcnow
from lensdb.core.errors import Conflict, NotFound

log = logging.getLogger(__name__)
#: /proc start times count clock ticks since boot, and the boot time is whole seconds.
_SLACK = timedelta(seconds=2)


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
    mark_stale(engine)
    with session_scope(engine) as s:
        job = Job(kind=kind, command=command or " ".join(sys.argv), params=_jsonable(params), status="running",
                  host=socket.gethostname(), pid=os.getpid())
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
    """Record a job's end; a ``None`` message keeps the one the job set (its summary)."""
    values = {"status": status, "finished_at": utcnow(), **({"message": message} if message is not None else {})}
    try:
        with session_scope(engine) as s:
            s.execute(update(Job).where(Job.id == job_id).values(**values))
    except Exception:  # the database itself may be what failed; the original error matters more
        log.warning("could not record the end of job %s", job_id, exc_info=True)


def set_message(engine: Engine, job_id: int, message: str) -> None:
    """Record a job's closing message (for example an ingest's summary)."""
    with engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(message=message[:4000]))


def _process_started(pid: int) -> datetime | None:
    """When process ``pid`` started (Linux ``/proc``), ``None`` when that cannot be read here."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return datetime.fromtimestamp(boot + int(fields[19]) / os.sysconf("SC_CLK_TCK"), UTC)
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_running(pid: int | None, since: datetime | None) -> bool:
    """Whether process ``pid`` of this host still runs the job that started at ``since`` (a process that started
    after the job is another program that was given the same id)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    started = _process_started(pid)
    if started is None or since is None:
        return True
    if since.tzinfo is None:  # SQLite returns naive UTC times
        since = since.replace(tzinfo=UTC)
    return started <= since.astimezone(UTC).replace(microsecond=0) + _SLACK


def mark_stale(engine: Engine) -> list[int]:
    """Mark ``failed`` the ``running`` jobs of this host whose process is gone; returns their ids.

    Jobs of other hosts are left alone: their processes cannot be checked from here (``lensdb jobs fail ID`` marks
    one by hand once its host is known to be gone).
    """
    host = socket.gethostname()
    with engine.connect() as conn:
        rows = conn.execute(select(Job.id, Job.pid, Job.started_at).where(Job.status == "running",
                                                                          Job.host == host)).all()
    stale = [r.id for r in rows if r.pid != os.getpid() and not process_running(r.pid, r.started_at)]
    for job_id, pid in ((r.id, r.pid) for r in rows if r.id in stale):
        _finish(engine, job_id, "failed", f"the process (pid {pid} on {host}) ended without recording an outcome "
                                          "(killed or crashed); re-run the command: it resumes where it stopped")
        log.warning("job %d was left running by a process that is gone (pid %s): marked failed", job_id, pid)
    return stale


def mark_failed(engine: Engine, job_id: int, reason: str) -> None:
    """Mark a ``running`` job ``failed`` by hand (a job of a host that is gone).

    Raises:
        NotFound: no such job. Conflict: the job is not running.
    """
    with engine.connect() as conn:
        status = conn.execute(select(Job.status).where(Job.id == job_id)).scalar()
    if status is None:
        raise NotFound(f"no job {job_id}; list them with 'lensdb jobs'")
    if status != "running":
        raise Conflict(f"job {job_id} is {status}, not running; only a running job can be marked failed")
    _finish(engine, job_id, "failed", reason)


def recent_jobs(engine: Engine, limit: int = 50) -> list:
    """The newest jobs, newest first: id, kind, status, host, pid, started_at, finished_at, message, command."""
    with engine.connect() as conn:
        return conn.execute(select(Job.id, Job.kind, Job.status, Job.host, Job.pid, Job.started_at, Job.finished_at,
                                   Job.message, Job.command).order_by(Job.id.desc()).limit(limit)).all()


def running_jobs(engine: Engine, kind: str) -> list:
    """The jobs of ``kind`` recorded as running (call :func:`mark_stale` first to drop those whose process died):
    id, kind, status, host, pid, started_at, message, params."""
    with engine.connect() as conn:
        return conn.execute(select(Job.id, Job.kind, Job.status, Job.host, Job.pid, Job.started_at, Job.message,
                                   Job.params).where(Job.kind == kind, Job.status == "running")
                            .order_by(Job.id)).all()


def job_row(engine: Engine, job_id: int):
    """One job (id, kind, status, host, pid, started_at, finished_at, message, params), or None."""
    with engine.connect() as conn:
        return conn.execute(select(Job.id, Job.kind, Job.status, Job.host, Job.pid, Job.started_at,
                                   Job.finished_at, Job.message, Job.params).where(Job.id == job_id)).first()
