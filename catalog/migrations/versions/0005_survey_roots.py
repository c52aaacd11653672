"""survey roots (relocatable shards), COMMENT ON every table and column, the candidates view

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 06:15:00

Shard paths were absolute: a data folder that moved broke every cutout. Shards are now recorded relative to a named
survey root (``survey_roots``), which ``lensdb db survey-root NAME PATH`` re-points. Existing shards get one root per
folder they lie in (named after the folder), so an upgraded catalogue is relocatable too. On PostgreSQL every table
and column gets its COMMENT (from ``catalog.models.COMMENTS``). The ``candidates`` view joins predictions with
sources and models, with the graders' consensus from revision 0004's ``grade_consensus`` (``catalog/views.py``).
"""

import os
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from lensdb.catalog.comments import apply_comments
from lensdb.catalog.views import create_candidates_view, drop_candidates_view

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'survey_roots',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_survey_roots')),
    )
    with op.batch_alter_table('shards') as batch:
        batch.add_column(sa.Column('root', sa.String(length=64), nullable=True))
        batch.create_foreign_key(op.f('fk_shards_root_survey_roots'), 'survey_roots', ['root'], ['name'],
                                 onupdate='CASCADE')
    _relativise(op.get_bind())
    bind = op.get_bind()
    create_candidates_view(bind)
    apply_comments(bind)


def _relativise(bind) -> None:
    """One root per folder holding already ingested shards; their paths become relative to it."""
    rows = bind.execute(sa.text("SELECT id, path FROM shards WHERE root IS NULL")).all()
    roots: dict[str, str] = {}  # folder -> root name
    now = datetime.now(UTC)
    for shard_id, path in rows:
        folder, name = os.path.split(path)
        if not os.path.isabs(path) or not folder:
            continue
        if folder not in roots:
            base = os.path.basename(folder.rstrip(os.sep)) or "root"
            candidate, k = base[:60], 2
            while candidate in roots.values():
                candidate, k = f"{base[:56]}-{k}", k + 1
            roots[folder] = candidate
            bind.execute(sa.text("INSERT INTO survey_roots (name, path, updated_at) VALUES (:n, :p, :t)"),
                         {"n": candidate, "p": folder, "t": now})
        bind.execute(sa.text("UPDATE shards SET root = :r, path = :p WHERE id = :i"),
                     {"r": roots[folder], "p": name, "i": shard_id})


def downgrade() -> None:
    bind = op.get_bind()
    drop_candidates_view(bind)
    # Back to absolute paths before the roots go.
    for shard_id, rel, folder in bind.execute(sa.text(
            "SELECT s.id, s.path, r.path FROM shards AS s JOIN survey_roots AS r ON r.name = s.root")).all():
        bind.execute(sa.text("UPDATE shards SET path = :p WHERE id = :i"),
                     {"p": os.path.join(folder, rel), "i": shard_id})
    with op.batch_alter_table('shards') as batch:
        batch.drop_constraint(op.f('fk_shards_root_survey_roots'), type_='foreignkey')
        batch.drop_column('root')
    op.drop_table('survey_roots')
    if bind.dialect.name == "postgresql":
        for table, column in bind.execute(sa.text(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name IN ('jobs', 'shards', 'sources', 'label_sets', 'labels', "
                "'models', 'predictions', 'grades', 'grading_queues', 'queue_items', 'queue_cursors', "
                "'grading_rounds')")).all():
            bind.exec_driver_sql(f'COMMENT ON COLUMN "{table}"."{column}" IS NULL')
        for table in ('jobs', 'shards', 'sources', 'label_sets', 'labels', 'models', 'predictions', 'grades',
                      'grading_queues', 'queue_items', 'queue_cursors', 'grading_rounds'):
            bind.exec_driver_sql(f'COMMENT ON TABLE "{table}" IS NULL')
