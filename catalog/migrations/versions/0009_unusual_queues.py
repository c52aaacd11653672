"""grading queues of kind 'unusual' (the anomaly ranking of the stored vectors)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 20:30:00

Adds ``unusual`` to the kinds a grading queue may have (``ck_grading_queues_kind``). On SQLite the table is rebuilt
(batch mode; the migration environment turns foreign keys off meanwhile and checks them after). A downgrade refuses
while queues of kind ``unusual`` exist, rather than delete what graders saw.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OLD = ('probe', 'similar', 'labels', 'random', 'round')
NEW = (*OLD, 'unusual')


def _check(kinds) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    with op.batch_alter_table('grading_queues') as batch:
        batch.drop_constraint(op.f('ck_grading_queues_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_grading_queues_kind'), _check(NEW))


def downgrade() -> None:
    n = op.get_bind().execute(sa.text("SELECT count(*) FROM grading_queues WHERE kind = 'unusual'")).scalar()
    if n:
        raise RuntimeError(f"{n} grading queue(s) of kind 'unusual' exist; revision 0008 cannot hold them: delete "
                           "them first (or stay at 0009)")
    with op.batch_alter_table('grading_queues') as batch:
        batch.drop_constraint(op.f('ck_grading_queues_kind'), type_='check')
        batch.create_check_constraint(op.f('ck_grading_queues_kind'), _check(OLD))
