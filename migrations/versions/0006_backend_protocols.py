"""backend protocols: raw finish reasons, the provider's error code and message, reasoning

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 23:00:00.000000

Each answer keeps the finish reason as the provider spelled it beside the normalised
one (``finish_raw``), the provider's own error code and message when it failed
(``upstream_code``, ``upstream_message``), and a reasoning model's thinking apart from
the answer (``reasoning``). Old rows get NULL in all four.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("finish_raw", "upstream_code", "upstream_message", "reasoning")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finish_raw", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("upstream_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("upstream_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reasoning", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        for column in reversed(COLUMNS):
            batch_op.drop_column(column)
