"""Graders' sessions on the inspection page (table ``grader_sessions``): issued at login with the grader's name
fixed in them, looked up by the SHA-256 of their secret (the secret itself is never stored), revocable.

The page's cookie holds the secret; a request's grader is the session's grader, never a name the browser sends,
so holding the shared token does not let one grader write another's grades.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update

from lensdb.catalog.models import Grade, GraderSession, utcnow

#: How often a session's ``last_used_at`` is rewritten (a page of 100 stamps must not mean 100 writes).
TOUCH_EVERY = timedelta(minutes=1)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def open_session(engine: Engine, grader: str, client: str | None = None) -> str:
    """A new session for ``grader``; returns its secret (to put in the cookie; only its hash is kept)."""
    secret = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(insert(GraderSession).values(grader=grader, token_hash=secret_hash(secret),
                                                  client=(client or "")[:255] or None, created_at=utcnow()))
    return secret


def session_grader(engine: Engine, secret: str) -> str | None:
    """The grader of a valid (not revoked) session, else ``None``."""
    if not secret or len(secret) > 200:
        return None
    digest = secret_hash(secret)
    with engine.connect() as conn:
        row = conn.execute(select(GraderSession.id, GraderSession.grader, GraderSession.last_used_at)
                           .where(GraderSession.token_hash == digest, GraderSession.revoked_at.is_(None))).first()
    if row is None:
        return None
    now = utcnow()
    last = row.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite gives naive datetimes back
        last = last.replace(tzinfo=now.tzinfo)
    if last is None or now - last > TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(update(GraderSession).where(GraderSession.id == row.id).values(last_used_at=now))
    return row.grader


def close_session(engine: Engine, secret: str) -> bool:
    """Revoke one session (logout); True when it was valid."""
    with engine.begin() as conn:
        res = conn.execute(update(GraderSession).where(GraderSession.token_hash == secret_hash(secret),
                                                       GraderSession.revoked_at.is_(None)).values(revoked_at=utcnow()))
    return res.rowcount > 0


def revoke_grader(engine: Engine, grader: str) -> int:
    """Revoke every valid session of ``grader``; returns how many."""
    with engine.begin() as conn:
        res = conn.execute(update(GraderSession).where(GraderSession.grader == grader,
                                                       GraderSession.revoked_at.is_(None)).values(revoked_at=utcnow()))
    return res.rowcount


@dataclass(frozen=True)
class GraderInfo:
    grader: str
    active_sessions: int
    sessions: int
    last_login: datetime | None
    last_used: datetime | None
    grades: int


def graders(engine: Engine) -> list[GraderInfo]:
    """Every grader with a session or a grade: sessions (valid / all), last login and use, grades given."""
    with engine.connect() as conn:
        s = conn.execute(select(GraderSession.grader,
                                func.count().filter(GraderSession.revoked_at.is_(None)),
                                func.count(), func.max(GraderSession.created_at),
                                func.max(GraderSession.last_used_at)).group_by(GraderSession.grader)).all()
        g = dict(conn.execute(select(Grade.grader, func.count()).group_by(Grade.grader)).all())
    out = {r[0]: GraderInfo(r[0], int(r[1]), int(r[2]), r[3], r[4], int(g.get(r[0], 0))) for r in s}
    for name, n in g.items():
        out.setdefault(name, GraderInfo(name, 0, 0, None, None, int(n)))
    return [out[k] for k in sorted(out)]
