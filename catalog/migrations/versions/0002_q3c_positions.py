"""q3c position index on sources (PostgreSQL only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00

On PostgreSQL: install the q3c extension and index ``q3c_ang2ipix(ra, dec)`` on ``sources``, so that cone
searches (``q3c_radial_query``) and cross-matches (``q3c_join``) run from the index. On SQLite this revision
does nothing: the kdtree path of :mod:`lensdb.catalog.crossmatch` uses the plain ``dec`` index instead.

Downgrade drops the index but leaves the extension: other database objects (a user's own tables or views)
may use it, and dropping an extension needs more privileges than using it.
"""

import sqlalchemy as sa
from alembic import op

from lensdb.core.errors import LensDBError

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

INDEX = "ix_sources_q3c_ang2ipix"


def require_extension(conn, name: str) -> None:
    """Raise a LensDBError naming the Debian package to install when extension ``name`` is missing."""
    if conn.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = :n"), {"n": name}).first():
        return
    major = int(conn.execute(sa.text("SHOW server_version_num")).scalar()) // 10000
    raise LensDBError(
        f"the PostgreSQL server has no '{name}' extension, which LensDB needs for cone search and "
        f"cross-match: install the Debian package postgresql-{major}-{name} on the database server "
        f"(apt-get install postgresql-{major}-{name}), then run 'lensdb db upgrade' again"
    )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    require_extension(conn, "q3c")
    op.execute("CREATE EXTENSION IF NOT EXISTS q3c")
    op.create_index(INDEX, "sources", [sa.text("q3c_ang2ipix(ra, dec)")])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="sources")
