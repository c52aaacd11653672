"""Engines, sessions and schema migrations for the relational side (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DataError, DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from lensdb.core.errors import BackendUnavailable, Conflict, InvalidInput, LensDBError, first_line

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
#: The driver a plain ``postgresql://`` URL gets: psycopg2, installed with LensDB, whose COPY path the bulk loads use.
POSTGRES_DRIVER = "postgresql+psycopg2"


class DatabaseUnavailable(BackendUnavailable):
    """The relational database cannot be reached or opened."""


class SchemaOutOfDate(LensDBError):
    """The database schema is older than this LensDB: run ``lensdb db upgrade``."""


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite files get foreign keys, WAL and a busy timeout, and their folder is created.

    ``kwargs`` go to :func:`sqlalchemy.create_engine` (for example ``poolclass``).
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"database URL {url!r} is not a valid SQLAlchemy URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 60}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            _sqlite_math(dbapi_conn)

        return engine
    if parsed.get_backend_name() != "postgresql":
        raise InvalidInput(f"database URL {url!r}: only sqlite:/// and postgresql:// are supported")
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2's default PostgreSQL driver is psycopg (3), which LensDB does not install; LensDB's own is
        # psycopg2, whose COPY path catalog/bulk.py uses. The plain form every PostgreSQL guide writes means it.
        parsed = parsed.set(drivername=POSTGRES_DRIVER)
    try:
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    except ImportError as exc:  # a driver named in the URL that is not installed
        raise InvalidInput(
            f"database URL {parsed.render_as_string(hide_password=True)!r}: its driver "
            f"{parsed.get_driver_name()!r} is not installed ({first_line(exc)}); write postgresql://... "
            f"(LensDB's own driver, {POSTGRES_DRIVER}) or install that driver") from None


#: The SQL functions a cone condition uses (:func:`lensdb.catalog.queries.filter_conditions`): PostgreSQL has them,
#: SQLite only when it was built with its math functions, so they are added to SQLite builds that lack them.
_SQLITE_MATH = {"sin": (1, math.sin), "cos": (1, math.cos), "power": (2, math.pow)}


def _sqlite_math(dbapi_conn) -> None:
    for name, (nargs, fn) in _SQLITE_MATH.items():
        try:
            dbapi_conn.execute(f"SELECT {name}({', '.join(['1'] * nargs)})")
        except sqlite3.OperationalError:
            dbapi_conn.create_function(name, nargs, fn, deterministic=True)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema of ``url`` up to ``revision`` (default: the newest)."""
    from alembic import command

    _check_reachable(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Take the schema of ``url`` down to ``revision`` (``base`` removes every LensDB table)."""
    from alembic import command

    _check_reachable(url)
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The schema revision stored in the database, ``None`` for an empty database."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise DatabaseUnavailable(f"cannot open database {make_url(url)!r}: {exc.orig}") from exc
    finally:
        engine.dispose()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def require_current(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the schema is at the newest revision."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    if rev != head_revision():
        where = "empty" if rev is None else f"at revision {rev}"
        raise SchemaOutOfDate(
            f"database {engine.url.render_as_string(hide_password=True)} is {where}; "
            f"run 'lensdb db upgrade' to bring it to {head_revision()}"
        )


def _check_reachable(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach database {make_url(url).render_as_string(hide_password=True)}: {exc.orig}".strip()
        ) from exc
    finally:
        engine.dispose()


def ping(engine: Engine) -> str | None:
    """``None`` when the database answers a trivial query, else a one-line reason (for health checks)."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {first_line(exc, 200)}"


def has_table(engine: Engine, name: str) -> bool:
    return inspect(engine).has_table(name)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def domain_error(exc: BaseException) -> LensDBError | None:
    """The domain error a database failure stands for, or ``None`` when ``exc`` (and what caused it) is none.

    A broken constraint is a :class:`~lensdb.core.errors.Conflict`; a missing table means the schema is behind
    (:class:`SchemaOutOfDate`); a failed connection is :class:`DatabaseUnavailable` (retry later).
    """
    for e in _chain(exc):
        if isinstance(e, IntegrityError):
            return Conflict(f"the request contradicts stored data: {first_line(e.orig or e)}")
        if isinstance(e, DataError):  # a value the column cannot hold (a NUL in text on PostgreSQL, a huge number)
            return InvalidInput(f"the database refused a value: {first_line(e.orig or e)}")
        if isinstance(e, OverflowError):  # SQLite's driver, before the database sees an integer beyond int64
            return InvalidInput(f"a number is too large for the database (64-bit integers): {first_line(e)}")
        if isinstance(e, OperationalError | ProgrammingError) and _missing_table(e):
            return SchemaOutOfDate(f"the database schema is missing tables ({first_line(e.orig or e)}); "
                                   "run 'lensdb db upgrade'")
        if isinstance(e, OperationalError) or (isinstance(e, DBAPIError) and e.connection_invalidated):
            return DatabaseUnavailable(f"the relational database is unavailable: {first_line(e.orig or e)}")
    return None


def _missing_table(exc: DBAPIError) -> bool:
    text = str(exc.orig or exc).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)
