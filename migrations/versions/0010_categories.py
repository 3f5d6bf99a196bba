"""categories: each battle's prompt language and categories (issue 15)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:00:00.000000

``battles.prompt_language`` (the first prompt's language, ISO 639-1, NULL until tagged;
indexed) and ``battle_categories`` (one row per battle and category, keyed by both;
indexed by category, then battle, for the per-category leaderboard). Upgrading tags
every battle that has a prompt by the rules of arena/categories.py, so the per-category
boards are not empty on an existing database; ``python -m arena categorise`` does the
same later (for imported battles, or with ``--all`` after a rule change). Downgrading
drops both.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "battle_categories",
        sa.Column("battle_id", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battles.id"], name=op.f("fk_battle_categories_battle_id_battles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("battle_id", "category", name=op.f("pk_battle_categories")),
    )  # fmt: skip
    op.create_index("ix_battle_categories_category", "battle_categories", ["category", "battle_id"])
    with op.batch_alter_table("battles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prompt_language", sa.String(length=8), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_battles_prompt_language"), ["prompt_language"], unique=False
        )
    from arena.categories import tag_untagged

    tag_untagged(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("battles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_battles_prompt_language"))
        batch_op.drop_column("prompt_language")
    op.drop_index("ix_battle_categories_category", table_name="battle_categories")
    op.drop_table("battle_categories")
