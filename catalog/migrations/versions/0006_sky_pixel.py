"""sources.sky_pixel: a portable position index (HEALPix nested, order 29, plain B-tree) on every backend

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 20:30:00

Cone search, known-lens cross-match and the near-lens exclusion used q3c on PostgreSQL, which most servers do not
offer (Debian's and the official images, Bitnami's, managed services). ``sky_pixel`` holds each source's HEALPix
nested pixel at order 29 (:func:`lensdb.core.sky.sky_pixel`, astropy-healpix), computed by LensDB on insert; any
coarser pixel is one contiguous range of it, so a B-tree index on the column finds the candidates of a cone on any
PostgreSQL 13+ and on SQLite, and the exact angular distance decides (:mod:`lensdb.catalog.crossmatch`). q3c, when
installed (revision 0002), stays the faster path. The upgrade fills the column for every existing row; the
downgrade drops it (nothing else is lost: it is derived from ra and dec).
"""

import numpy as np
import sqlalchemy as sa
from alembic import op

from lensdb.catalog.bulk import copy_columns
from lensdb.catalog.comments import apply_comments
from lensdb.catalog.views import create_candidates_view, drop_candidates_view
from lensdb.core.sky import sky_pixel

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

INDEX = "ix_sources_sky_pixel"
#: Rows read, computed and written back at a time while filling the column.
CHUNK = 50_000


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("sources", sa.Column("sky_pixel", sa.BigInteger(), nullable=True))
    _backfill(bind)
    if bind.dialect.name == "sqlite":
        # NOT NULL needs a table rebuild on SQLite, which a view on the table blocks: drop it and create it again.
        drop_candidates_view(bind)
        with op.batch_alter_table("sources") as batch:
            batch.alter_column("sky_pixel", existing_type=sa.BigInteger(), nullable=False)
        create_candidates_view(bind)
    else:
        op.alter_column("sources", "sky_pixel", existing_type=sa.BigInteger(), nullable=False)
    op.create_index(INDEX, "sources", ["sky_pixel"])
    apply_comments(bind)


def _backfill(bind) -> None:
    """sky_pixel of every existing row, CHUNK rows at a time in object id order."""
    last = None
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        bind.execute(sa.text("CREATE TEMPORARY TABLE lensdb_sky_pixel_fill (object_id bigint PRIMARY KEY, "
                             "sky_pixel bigint) ON COMMIT DROP"))
    while True:
        query = "SELECT object_id, ra, dec FROM sources"
        query += " WHERE object_id > :last" if last is not None else ""
        rows = bind.execute(sa.text(query + " ORDER BY object_id LIMIT :n"),
                            {"last": last, "n": CHUNK}).all()
        if not rows:
            break
        ids = np.array([r[0] for r in rows], np.int64)
        pix = sky_pixel([r[1] for r in rows], [r[2] for r in rows])
        if postgres:
            bind.execute(sa.text("TRUNCATE lensdb_sky_pixel_fill"))
            copy_columns(bind, "lensdb_sky_pixel_fill", {"object_id": ids, "sky_pixel": pix})
            bind.execute(sa.text("UPDATE sources AS s SET sky_pixel = f.sky_pixel FROM lensdb_sky_pixel_fill AS f "
                                 "WHERE s.object_id = f.object_id"))
        else:
            bind.execute(sa.text("UPDATE sources SET sky_pixel = :p WHERE object_id = :o"),
                         [{"p": int(p), "o": int(o)} for o, p in zip(ids, pix, strict=True)])
        last = int(ids[-1])
    if postgres:
        bind.execute(sa.text("DROP TABLE lensdb_sky_pixel_fill"))


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index(INDEX, table_name="sources")
    if bind.dialect.name == "sqlite":
        drop_candidates_view(bind)
        with op.batch_alter_table("sources") as batch:
            batch.drop_column("sky_pixel")
        create_candidates_view(bind)
    else:
        op.drop_column("sources", "sky_pixel")
