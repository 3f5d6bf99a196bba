"""vote integrity: abandoned battles, identity matches, vote signals, voter flags, rate counters

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 19:00:00.000000

A voter keeps one open blind battle (the one left behind becomes ``abandoned``); an
identity flag keeps the phrase that matched; each vote keeps its quality signals
(address hash, answer lengths, the voter's votes that day, too fast to read); the
recomputation records voters it flags and the votes it excluded per reason; the rate
limits of several app processes can share counters through the database.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD_STATUSES = ('streaming', 'ready', 'voted', 'failed')
NEW_STATUSES = (*OLD_STATUSES, 'abandoned')


def _status_check(statuses: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def upgrade() -> None:
    with op.batch_alter_table('battles', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_battles_battle_status'), type_='check')
        batch_op.create_check_constraint('battle_status', _status_check(NEW_STATUSES))
        batch_op.add_column(sa.Column('identity_match', sa.Text(), nullable=True))
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('chars_a', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('chars_b', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('voter_day_votes', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('flag_fast', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('rating_runs', schema=None) as batch_op:
        for reason in ('fast', 'cap_voter', 'cap_address', 'steering', 'outlier'):
            batch_op.add_column(
                sa.Column(f'excluded_{reason}', sa.Integer(), nullable=False, server_default='0')
            )
    op.create_table('voter_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('voter_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('p_value', sa.Float(), nullable=True),
    sa.Column('status', sa.Enum('flagged', 'cleared', 'confirmed', name='flag_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['rating_runs.id'], name=op.f('fk_voter_flags_run_id_rating_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['voter_id'], ['voters.id'], name=op.f('fk_voter_flags_voter_id_voters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voter_flags')),
    sa.UniqueConstraint('voter_id', 'reason', name=op.f('uq_voter_flags_voter_id'))
    )
    op.create_table('rate_counters',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_counters'))
    )
    with op.batch_alter_table('rate_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_counters_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rate_counters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_counters_expires_at'))
    op.drop_table('rate_counters')
    op.drop_table('voter_flags')
    with op.batch_alter_table('rating_runs', schema=None) as batch_op:
        for reason in ('fast', 'cap_voter', 'cap_address', 'steering', 'outlier'):
            batch_op.drop_column(f'excluded_{reason}')
    with op.batch_alter_table('votes', schema=None) as batch_op:
        for column in ('flag_fast', 'voter_day_votes', 'chars_b', 'chars_a', 'ip_hash'):
            batch_op.drop_column(column)
    op.execute("UPDATE battles SET status = 'failed' WHERE status = 'abandoned'")
    with op.batch_alter_table('battles', schema=None) as batch_op:
        batch_op.drop_column('identity_match')
        batch_op.drop_constraint(op.f('ck_battles_battle_status'), type_='check')
        batch_op.create_check_constraint('battle_status', _status_check(OLD_STATUSES))
