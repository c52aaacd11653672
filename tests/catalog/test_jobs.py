"""Jobs whose process died: recorded with host and pid, marked failed by the next job (or ``lensdb jobs``) once the
process is gone, never while it runs, and never for a process id the system gave to another program."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from catalog_testdata import migrated_engine
from sqlalchemy import insert, select

from lensdb.catalog.jobs import job_scope, mark_failed, mark_stale, process_running
from lensdb.catalog.models import Job
from lensdb.cli import main
from lensdb.core.errors import Conflict, NotFound


def _job(engine, pid: int, started: datetime, host: str | None = None) -> int:
    with engine.begin() as conn:
        return conn.execute(insert(Job).values(kind="ingest", command="lensdb ingest x", status="running",
                                               host=host or socket.gethostname(), pid=pid,
                                               started_at=started).returning(Job.id)).scalar_one()


def _status(engine, job_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(Job.status, Job.message).where(Job.id == job_id)).one()
    return row.status, row.message


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_jobs_are_marked_by_the_next_job(db_url):
    engine = migrated_engine(db_url)
    try:
        now = datetime.now(UTC)
        dead = _job(engine, _dead_pid(), now - timedelta(minutes=5))
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            alive = _job(engine, sleeper.pid, now + timedelta(minutes=1))  # started before its job: its own
            reused = _job(engine, sleeper.pid, now - timedelta(hours=2))  # the pid now runs another program
            elsewhere = _job(engine, _dead_pid(), now - timedelta(hours=1), host="another-host")
            with job_scope(engine, "score", {"n": 1}) as new:
                pass
            assert _status(engine, dead)[0] == "failed" and "ended without recording an outcome" in _status(
                engine, dead)[1]
            assert _status(engine, reused)[0] == "failed"
            assert _status(engine, alive) == ("running", None)
            assert _status(engine, elsewhere)[0] == "running"  # cannot be checked from here
            assert _status(engine, new)[0] == "done"
            with engine.connect() as conn:
                pid = conn.execute(select(Job.pid).where(Job.id == new)).scalar()
            assert pid == os.getpid()
        finally:
            sleeper.kill()
            sleeper.wait()
        assert mark_stale(engine) == [alive]
        mark_failed(engine, elsewhere, "its node was lost")
        assert _status(engine, elsewhere) == ("failed", "its node was lost")
        with pytest.raises(Conflict, match="is failed, not running"):
            mark_failed(engine, elsewhere, "again")
        with pytest.raises(NotFound):
            mark_failed(engine, 10**6, "x")
    finally:
        engine.dispose()


def test_process_running_needs_a_pid():
    assert not process_running(None, None) and not process_running(_dead_pid(), None)
    assert process_running(os.getpid(), datetime.now(UTC) + timedelta(seconds=5))


def test_jobs_command_lists_and_marks(sqlite_url, capsys):
    engine = migrated_engine(sqlite_url)
    try:
        stale = _job(engine, _dead_pid(), datetime.now(UTC) - timedelta(minutes=1))
        other = _job(engine, 1, datetime.now(UTC), host="lost-node")
    finally:
        engine.dispose()
    assert main(["--database-url", sqlite_url, "jobs"]) == 0
    out = capsys.readouterr().out
    assert f"marked failed (process gone): {stale}" in out and "lost-node" in out
    assert main(["--database-url", sqlite_url, "jobs", "fail", str(other)]) == 0
    assert main(["--database-url", sqlite_url, "jobs", "fail", str(other)]) == 2
    assert "not running" in capsys.readouterr().err
