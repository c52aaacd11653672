"""grades of several graders, grading queues, cursors and active-learning rounds; consensus and calibration views

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 06:30:00

Until now a grading set (``label_sets.source = 'lensdb grade'``) held one label per object: the last grade given, by
whoever gave it. From here each grader's grade is its own row of ``grades`` (one per set, object and grader), and the
labels of a grading set are the consensus of those grades, kept in step by every grade write
(:mod:`lensdb.catalog.grading`). The upgrade turns each existing grading label into one grader's grade (the label's
author, or ``unknown``); the labels stay as they are, which is the consensus of one grade. The downgrade drops the new
tables and views and keeps the labels (the consensus at that moment).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON on SQLite, JSONB on PostgreSQL (catalog.models.JSONType).
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

GRADE_SOURCE = 'lensdb grade'
# The views as this revision defines them (catalog.models.VIEWS holds the current definitions).
VIEWS = {
    'grade_consensus': '''
SELECT label_set_id, object_id, COUNT(*) AS n_graders,
       SUM(CASE WHEN grade = 'A' THEN 1 ELSE 0 END) AS n_a,
       SUM(CASE WHEN grade = 'B' THEN 1 ELSE 0 END) AS n_b,
       SUM(CASE WHEN grade = 'N' THEN 1 ELSE 0 END) AS n_not,
       AVG(CASE grade WHEN 'A' THEN 3.0 WHEN 'B' THEN 2.0 ELSE 0.0 END) AS mean_points,
       CASE WHEN AVG(CASE grade WHEN 'A' THEN 3.0 WHEN 'B' THEN 2.0 ELSE 0.0 END) >= 2.5 THEN 'A'
            WHEN AVG(CASE grade WHEN 'A' THEN 3.0 WHEN 'B' THEN 2.0 ELSE 0.0 END) >= 1.5 THEN 'B'
            ELSE 'N' END AS consensus,
       MAX(updated_at) AS last_graded_at
FROM grades WHERE calibration IS NULL GROUP BY label_set_id, object_id''',
    'grader_calibration': '''
SELECT label_set_id, grader,
       SUM(CASE WHEN calibration = 'lens' THEN 1 ELSE 0 END) AS lenses_shown,
       SUM(CASE WHEN calibration = 'lens' AND grade IN ('A', 'B') THEN 1 ELSE 0 END) AS hits,
       SUM(CASE WHEN calibration = 'non_lens' THEN 1 ELSE 0 END) AS non_lenses_shown,
       SUM(CASE WHEN calibration = 'non_lens' AND grade IN ('A', 'B') THEN 1 ELSE 0 END) AS false_alarms,
       CAST(SUM(CASE WHEN calibration = 'lens' AND grade IN ('A', 'B') THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
           / NULLIF(SUM(CASE WHEN calibration = 'lens' THEN 1 ELSE 0 END), 0) AS hit_rate,
       CAST(SUM(CASE WHEN calibration = 'non_lens' AND grade IN ('A', 'B') THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
           / NULLIF(SUM(CASE WHEN calibration = 'non_lens' THEN 1 ELSE 0 END), 0) AS false_alarm_rate
FROM grades WHERE calibration IS NOT NULL GROUP BY label_set_id, grader''',
}


def upgrade() -> None:
    op.create_table('grading_queues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label_set_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('params', JSON_TYPE, nullable=True),
    sa.Column('model_id', sa.Integer(), nullable=True),
    sa.Column('round', sa.Integer(), nullable=True),
    sa.Column('superseded_by', sa.Integer(), nullable=True),
    sa.Column('n_items', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('probe', 'similar', 'labels', 'random', 'round')",
                            name=op.f('ck_grading_queues_kind')),
    sa.ForeignKeyConstraint(['label_set_id'], ['label_sets.id'], name=op.f('fk_grading_queues_label_set_id_label_sets'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_grading_queues_model_id_models'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grading_queues'))
    )
    op.create_table('grades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label_set_id', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('grader', sa.String(length=255), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('calibration', sa.String(length=16), nullable=True),
    sa.Column('queue_id', sa.Integer(), nullable=True),
    sa.Column('model_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("calibration IS NULL OR calibration IN ('lens', 'non_lens')",
                            name=op.f('ck_grades_calibration')),
    sa.CheckConstraint("grade IN ('A', 'B', 'N')", name=op.f('ck_grades_grade')),
    sa.ForeignKeyConstraint(['label_set_id'], ['label_sets.id'], name=op.f('fk_grades_label_set_id_label_sets'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_grades_model_id_models'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['object_id'], ['sources.object_id'], name=op.f('fk_grades_object_id_sources')),
    sa.ForeignKeyConstraint(['queue_id'], ['grading_queues.id'], name=op.f('fk_grades_queue_id_grading_queues'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grades')),
    sa.UniqueConstraint('label_set_id', 'object_id', 'grader', name=op.f('uq_grades_label_set_id_object_id_grader'))
    )
    op.create_index(op.f('ix_grades_label_set_id_grader_updated_at'), 'grades',
                            ['label_set_id', 'grader', 'updated_at'], unique=False)
    op.create_index(op.f('ix_grades_object_id'), 'grades', ['object_id'], unique=False)
    op.create_table('grading_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label_set_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=True),
    sa.Column('queue_id', sa.Integer(), nullable=True),
    sa.Column('previous_queue_id', sa.Integer(), nullable=True),
    sa.Column('params', JSON_TYPE, nullable=True),
    sa.Column('seconds', sa.Double(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['label_set_id'], ['label_sets.id'], name=op.f('fk_grading_rounds_label_set_id_label_sets'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_grading_rounds_model_id_models'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['queue_id'], ['grading_queues.id'], name=op.f('fk_grading_rounds_queue_id_grading_queues'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grading_rounds')),
    sa.UniqueConstraint('label_set_id', 'round', name=op.f('uq_grading_rounds_label_set_id_round'))
    )
    op.create_table('queue_cursors',
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('grader', sa.String(length=255), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['grading_queues.id'], name=op.f('fk_queue_cursors_queue_id_grading_queues'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('queue_id', 'grader', name=op.f('pk_queue_cursors'))
    )
    op.create_table('queue_items',
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('calibration', sa.String(length=16), nullable=True),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['object_id'], ['sources.object_id'], name=op.f('fk_queue_items_object_id_sources')),
    sa.ForeignKeyConstraint(['queue_id'], ['grading_queues.id'], name=op.f('fk_queue_items_queue_id_grading_queues'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('queue_id', 'position', name=op.f('pk_queue_items'))
    )
    op.create_index(op.f('ix_queue_items_queue_id_object_id'), 'queue_items', ['queue_id', 'object_id'], unique=False)
    for name, sql in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")
    # Each grade held as a label so far becomes its author's grade (A, B, or N for non_lens).
    op.execute(sa.text(
        "INSERT INTO grades (label_set_id, object_id, grader, grade, model_id, note, created_at, updated_at) "
        "SELECT l.label_set_id, l.object_id, COALESCE(l.author, 'unknown'), "
        "CASE WHEN l.class = 'lens' THEN COALESCE(l.grade, 'B') ELSE 'N' END, l.model_id, l.provenance, "
        "l.created_at, l.created_at "
        "FROM labels l JOIN label_sets s ON s.id = l.label_set_id "
        "WHERE s.source = :source AND l.class IN ('lens', 'non_lens')").bindparams(source=GRADE_SOURCE))


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_index(op.f('ix_queue_items_queue_id_object_id'), table_name='queue_items')
    op.drop_table('queue_items')
    op.drop_table('queue_cursors')
    op.drop_table('grading_rounds')
    op.drop_index(op.f('ix_grades_object_id'), table_name='grades')
    op.drop_index(op.f('ix_grades_label_set_id_grader_updated_at'), table_name='grades')
    op.drop_table('grades')
    op.drop_table('grading_queues')
