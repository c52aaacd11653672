"""q3c position index on sources (PostgreSQL with the q3c extension only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00

On PostgreSQL: install the q3c extension and index ``q3c_ang2ipix(ra, dec)`` on ``sources``, so that cone
searches (``q3c_radial_query``) and cross-matches (``q3c_join``) run from the index. q3c is an accelerator, not a
requirement: on a PostgreSQL server that does not offer the extension (Debian's and the official images, Bitnami's,
managed services) this revision logs one line of notice and does nothing, as on SQLite; cone search and
cross-match then use the portable ``sources.sky_pixel`` index of revision 0006.

Downgrade drops the index but leaves the extension: other database objects (a user's own tables or views)
may use it, and dropping an extension needs more privileges than using it.
"""

import logging

import sqlalchemy as sa
from alembic import op

from lensdb.core.errors import LensDBError

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

INDEX = "ix_sources_q3c_ang2ipix"
log = logging.getLogger("lensdb.catalog.migrations")


def extension_available(conn, name: str) -> bool:
    """Whether the server offers extension ``name`` (its files are installed; CREATE EXTENSION would work)."""
    return conn.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = :n"), {"n": name}).first() \
        is not None


def require_extension(conn, name: str) -> None:
    """Raise a LensDBError naming the Debian package to install when extension ``name`` is missing (for callers
    that ask for q3c by name, e.g. ``--method q3c``)."""
    if extension_available(conn, name):
        return
    raise LensDBError(f"the PostgreSQL server has no '{name}' extension: {install_hint(conn, name)}")


def install_hint(conn, name: str) -> str:
    major = int(conn.execute(sa.text("SHOW server_version_num")).scalar()) // 10000
    return (f"install the Debian package postgresql-{major}-{name} on the database server "
            f"(apt-get install postgresql-{major}-{name}), then run 'lensdb db upgrade' again")


def _create_extension(conn, name: str) -> bool:
    """CREATE EXTENSION in a savepoint: False when this user lacks the privilege (q3c is not a trusted extension,
    so a plain database owner, as managed services and the Bitnami chart create, may not create it)."""
    if conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = :n"), {"n": name}).first():
        return True
    try:
        with conn.begin_nested():
            conn.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS {name}"))
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "pgcode", None) == "42501":  # insufficient_privilege
            return False
        raise
    return True


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    if not extension_available(conn, "q3c"):
        major = int(conn.execute(sa.text("SHOW server_version_num")).scalar()) // 10000
        log.warning("q3c is not installed on this PostgreSQL server: skipped its index; cone search and "
                    "cross-match use the portable sky_pixel index (to speed them up: apt-get install "
                    "postgresql-%d-q3c on the server, then as a superuser CREATE EXTENSION q3c; CREATE INDEX %s "
                    "ON sources (q3c_ang2ipix(ra, dec)); in this database)", major, INDEX)
        return
    if not _create_extension(conn, "q3c"):
        log.warning("q3c is offered by this PostgreSQL server but this user may not create it: skipped its index; "
                    "cone search and cross-match use the portable sky_pixel index (to speed them up, a superuser "
                    "runs CREATE EXTENSION q3c; CREATE INDEX %s ON sources (q3c_ang2ipix(ra, dec)); in this "
                    "database)", INDEX)
        return
    op.create_index(INDEX, "sources", [sa.text("q3c_ang2ipix(ra, dec)")])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
