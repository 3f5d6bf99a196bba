"""rating run pair counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00.000000

Each rating run stores the votes it used per (model_a, model_b, winner), so the
leaderboard's pair tables no longer aggregate every vote. Runs stored before this
revision have no rows here; the leaderboard falls back to the old aggregation for them.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rating_run_pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('model_a', sa.String(length=200), nullable=False),
    sa.Column('model_b', sa.String(length=200), nullable=False),
    sa.Column('winner', sa.Enum('model_a', 'model_b', 'tie', 'tie (bothbad)', name='winner', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['rating_runs.id'], name=op.f('fk_rating_run_pairs_run_id_rating_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_run_pairs')),
    sa.UniqueConstraint('run_id', 'model_a', 'model_b', 'winner', name=op.f('uq_rating_run_pairs_run_id'))
    )
    with op.batch_alter_table('rating_run_pairs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_run_pairs_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rating_run_pairs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_run_pairs_run_id'))

    op.drop_table('rating_run_pairs')
