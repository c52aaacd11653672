"""the sha256 of every image of a shard (shards.images_sha256), for the full check of a moved survey root

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 20:40:00

A shard's fingerprint hashes its catalogue columns and a few sampled image rows: enough to tell another file of the
same name in the usual case, not a file that differs only in unsampled pixels. Ingest now also records the sha256
of every image row as stored (it reads them all anyway, to check them), so ``lensdb db survey-root --full`` can
verify every pixel of a folder before a root is re-pointed at it. Shards ingested before this revision have none
(NULL): the full check says so and relies on the fingerprint for them.
"""

import sqlalchemy as sa
from alembic import op

from lensdb.catalog.comments import apply_comments

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shards') as batch:
        batch.add_column(sa.Column('images_sha256', sa.String(length=64), nullable=True))
    apply_comments(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('shards') as batch:
        batch.drop_column('images_sha256')
