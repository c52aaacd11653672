"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 07:20:35.026631
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON on SQLite, JSONB on PostgreSQL (catalog.models.JSONType).
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('command', sa.Text(), nullable=False),
    sa.Column('params', JSON_TYPE, nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('running', 'done', 'failed')", name=op.f('ck_jobs_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_table('label_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_sets')),
    sa.UniqueConstraint('name', name=op.f('uq_label_sets_name'))
    )
    op.create_table('models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('encoder_version', sa.String(length=64), nullable=True),
    sa.Column('params', JSON_TYPE, nullable=True),
    sa.Column('metrics', JSON_TYPE, nullable=True),
    sa.Column('training_set', JSON_TYPE, nullable=True),
    sa.Column('artefact_path', sa.Text(), nullable=True),
    sa.Column('artefact_sha256', sa.String(length=64), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('encoder', 'probe', 'finetune')", name=op.f('ck_models_kind')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_models_job_id_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_models')),
    sa.UniqueConstraint('name', name=op.f('uq_models_name'))
    )
    op.create_table('shards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('cutout', sa.Integer(), nullable=False),
    sa.Column('image_dtype', sa.String(length=16), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_shards_job_id_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shards')),
    sa.UniqueConstraint('name', name=op.f('uq_shards_name'))
    )
    op.create_table('sources',
    sa.Column('object_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('release', sa.Integer(), nullable=False),
    sa.Column('brickid', sa.Integer(), nullable=False),
    sa.Column('objid', sa.Integer(), nullable=False),
    sa.Column('survey', sa.String(length=8), nullable=False),
    sa.Column('ra', sa.Double(), nullable=False),
    sa.Column('dec', sa.Double(), nullable=False),
    sa.Column('mag_g', sa.Double(), nullable=True),
    sa.Column('mag_r', sa.Double(), nullable=True),
    sa.Column('mag_z', sa.Double(), nullable=True),
    sa.Column('ebv', sa.Double(), nullable=False),
    sa.Column('psfsize_g', sa.Double(), nullable=False),
    sa.Column('psfsize_r', sa.Double(), nullable=False),
    sa.Column('psfsize_z', sa.Double(), nullable=False),
    sa.Column('psfdepth_g', sa.Double(), nullable=False),
    sa.Column('psfdepth_r', sa.Double(), nullable=False),
    sa.Column('psfdepth_z', sa.Double(), nullable=False),
    sa.Column('source_type', sa.String(length=4), nullable=False),
    sa.Column('z_phot_mean', sa.Double(), nullable=True),
    sa.Column('z_phot_median', sa.Double(), nullable=True),
    sa.Column('z_phot_std', sa.Double(), nullable=True),
    sa.Column('z_phot_l68', sa.Double(), nullable=True),
    sa.Column('z_phot_u68', sa.Double(), nullable=True),
    sa.Column('shard_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.CheckConstraint("survey IN ('south', 'north')", name=op.f('ck_sources_survey')),
    sa.ForeignKeyConstraint(['shard_id'], ['shards.id'], name=op.f('fk_sources_shard_id_shards')),
    sa.PrimaryKeyConstraint('object_id', name=op.f('pk_sources'))
    )
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sources_dec'), ['dec'], unique=False)
        batch_op.create_index(batch_op.f('ix_sources_shard_id_row'), ['shard_id', 'row'], unique=False)
        batch_op.create_index(batch_op.f('ix_sources_survey_mag_z'), ['survey', 'mag_z'], unique=False)

    op.create_table('labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label_set_id', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('class', sa.String(length=16), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('separation_arcsec', sa.Double(), nullable=True),
    sa.Column('provenance', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=255), nullable=True),
    sa.Column('model_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("grade IS NULL OR grade IN ('A', 'B')", name=op.f('ck_labels_grade')),
    sa.CheckConstraint('"class" IN (\'lens\', \'non_lens\', \'near_lens\')', name=op.f('ck_labels_class')),
    sa.ForeignKeyConstraint(['label_set_id'], ['label_sets.id'],
                            name=op.f('fk_labels_label_set_id_label_sets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_labels_model_id_models')),
    sa.ForeignKeyConstraint(['object_id'], ['sources.object_id'], name=op.f('fk_labels_object_id_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_labels')),
    sa.UniqueConstraint('label_set_id', 'object_id', 'class',
                        name=op.f('uq_labels_label_set_id_object_id_class'))
    )
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_labels_object_id'), ['object_id'], unique=False)

    op.create_table('predictions',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('object_id', sa.BigInteger(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_predictions_model_id_models'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['object_id'], ['sources.object_id'],
                            name=op.f('fk_predictions_object_id_sources')),
    sa.PrimaryKeyConstraint('model_id', 'object_id', name=op.f('pk_predictions'))
    )
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_predictions_model_id_rank'), ['model_id', 'rank'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_predictions_model_id_rank'))

    op.drop_table('predictions')
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_labels_object_id'))

    op.drop_table('labels')
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sources_survey_mag_z'))
        batch_op.drop_index(batch_op.f('ix_sources_shard_id_row'))
        batch_op.drop_index(batch_op.f('ix_sources_dec'))

    op.drop_table('sources')
    op.drop_table('shards')
    op.drop_table('models')
    op.drop_table('label_sets')
    op.drop_table('jobs')
