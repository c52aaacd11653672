"""grader sessions: each grader's own identity on the inspection page; the skill model's views; flags and arc marks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 20:30:00

Until now the page took the grader's name from an unsigned cookie, so anyone holding the shared token could grade
in another grader's name. A login now issues a session fixed to one grader; the cookie holds the session's random
secret and the catalogue only its SHA-256 (``grader_sessions``), so sessions can be listed and revoked
(``lensdb grading graders``). The views ``grader_skill`` and ``swap_evidence`` give each grader's skills from the
blind calibration items and each object's evidence of being a lens (Space Warps' SWAP). The downgrade drops the
views and the table (every grader logs in again). Grades gain a flag (artefact, interesting non-lens, needs
discussion) and the position where the grader marked the lensed feature (``arc_x``, ``arc_y``); the downgrade drops
those columns.
"""

import sqlalchemy as sa
from alembic import op

from lensdb.catalog.comments import apply_comments

# The views as this revision defines them (catalog.models.VIEWS holds the current definitions).
VIEWS = {
    'grader_skill': '''
SELECT label_set_id, grader, lenses_shown, non_lenses_shown,
       CASE WHEN pl < 0.01 THEN 0.01 WHEN pl > 0.99 THEN 0.99 ELSE pl END AS p_lens,
       CASE WHEN pn < 0.01 THEN 0.01 WHEN pn > 0.99 THEN 0.99 ELSE pn END AS p_non
FROM (SELECT label_set_id, grader, lenses_shown, non_lenses_shown,
             (hits + 1.0) / (lenses_shown + 2.0) AS pl,
             (non_lenses_shown - false_alarms + 1.0) / (non_lenses_shown + 2.0) AS pn
      FROM grader_calibration) AS c''',
    'swap_evidence': '''
SELECT g.label_set_id, g.object_id, COUNT(*) AS n_grades,
       SUM(CASE WHEN g.grade IN ('A', 'B')
                THEN ln(COALESCE(s.p_lens, 0.5) / (1.0 - COALESCE(s.p_non, 0.5)))
                ELSE ln((1.0 - COALESCE(s.p_lens, 0.5)) / COALESCE(s.p_non, 0.5)) END) AS log_likelihood_ratio
FROM grades g LEFT JOIN grader_skill s ON s.label_set_id = g.label_set_id AND s.grader = g.grader
WHERE g.calibration IS NULL GROUP BY g.label_set_id, g.object_id''',
}

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'grader_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('grader', sa.String(length=255), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_grader_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_grader_sessions_token_hash')),
    )
    op.create_index(op.f('ix_grader_sessions_grader'), 'grader_sessions', ['grader'], unique=False)
    for name, sql in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")
    # Plain ADD COLUMN (no table rebuild: views read grades); the service checks the flag's values.
    op.add_column('grades', sa.Column('flag', sa.String(length=16), nullable=True))
    op.add_column('grades', sa.Column('arc_x', sa.Double(), nullable=True))
    op.add_column('grades', sa.Column('arc_y', sa.Double(), nullable=True))
    apply_comments(op.get_bind())


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch rebuild of grades would break the views on it.
    for column in ('arc_y', 'arc_x', 'flag'):
        op.execute(f'ALTER TABLE grades DROP COLUMN {column}')
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_index(op.f('ix_grader_sessions_grader'), table_name='grader_sessions')
    op.drop_table('grader_sessions')
