"""jobs.pid: the process that runs a job, so that a job whose process died can be told from one still running

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 05:00:00

A killed command cannot record its end: its job stayed ``running`` for ever. With the process id (and the host, which
``jobs`` already had), the next job on the same host, or ``lensdb jobs``, checks whether that process still runs and
marks the job ``failed`` when it does not (:func:`lensdb.catalog.jobs.mark_stale`).
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("pid")
