"""volunteer feedback: reasons for a vote, reactions to answers, where a prompt came from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 02:00:00.000000

Issue 18: after voting, a volunteer may give reasons per side (``vote_reasons``: one row
per battle, side and tag) and a comment (``votes.comment``); after the vote, each answer
may get a thumbs up or down (``reactions``: one per battle, turn and side); and a battle
records whether its first prompt was typed or a suggested example
(``battles.prompt_source``). Old rows get NULL / no rows. Downgrading drops them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _side() -> sa.Enum:
    return sa.Enum("a", "b", name="side", native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    with op.batch_alter_table("battles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prompt_source", sa.String(length=40), nullable=True))
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comment", sa.Text(), nullable=True))
    op.create_table(
        "vote_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.String(length=32), nullable=False),
        sa.Column("side", _side(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battles.id"], name=op.f("fk_vote_reasons_battle_id_battles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vote_reasons")),
        sa.UniqueConstraint("battle_id", "side", "tag", name=op.f("uq_vote_reasons_battle_id")),
    )  # fmt: skip
    op.create_table(
        "reactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.String(length=32), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("side", _side(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battles.id"], name=op.f("fk_reactions_battle_id_battles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reactions")),
        sa.UniqueConstraint("battle_id", "turn", "side", name=op.f("uq_reactions_battle_id")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("reactions")
    op.drop_table("vote_reasons")
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_column("comment")
    with op.batch_alter_table("battles", schema=None) as batch_op:
        batch_op.drop_column("prompt_source")
