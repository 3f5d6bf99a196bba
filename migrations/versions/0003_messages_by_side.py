"""messages indexed by battle, side and turn

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000

A conversation is one side of one battle. With the side in the index, reading it (the
export builds each side's JSON in the database) touches only that side's rows, in
order. The index still serves every lookup by battle alone.
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_battle_turn')
        batch_op.create_index('ix_messages_battle_side_turn', ['battle_id', 'side', 'turn'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_battle_side_turn')
        batch_op.create_index('ix_messages_battle_turn', ['battle_id', 'turn'], unique=False)
