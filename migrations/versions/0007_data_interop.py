"""data interop: what an imported battle file brings with it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 01:00:00.000000

Issue 14: a battle file from another arena keeps its own id (``battles.source_id``, so
an imported release can be joined back to its source), its judge as given
(``voters.judge``; exports still pseudonymise), its language as written ("Chinese",
"unknown": ``battles.language`` widens from 8 to 64 characters), each message's token
count (``messages.num_tokens``) and its other columns (``battles.meta``: JSON with
``conv_metadata``, ``category_tag`` and ``metadata``). Old rows get NULL.

Downgrading drops those columns, and a language longer than 8 characters becomes its
ISO code where the old importer knew one, else ``und``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: The names the importer before 0007 turned into codes.
OLD_CODES = {
    "japanese": "ja", "english": "en", "chinese": "zh", "korean": "ko", "german": "de",
    "french": "fr", "spanish": "es", "russian": "ru", "portuguese": "pt", "italian": "it",
}  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("battles", schema=None) as batch_op:
        batch_op.alter_column(
            "language", existing_type=sa.String(length=8), type_=sa.String(length=64)
        )
        batch_op.add_column(sa.Column("source_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("meta", sa.Text(), nullable=True))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("num_tokens", sa.Integer(), nullable=True))
    with op.batch_alter_table("voters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("judge", sa.String(length=200), nullable=True))


def downgrade() -> None:
    cases = " ".join(f"WHEN '{name}' THEN '{code}'" for name, code in OLD_CODES.items())
    op.execute(
        f"UPDATE battles SET language = CASE lower(language) {cases} ELSE 'und' END "
        "WHERE length(language) > 8"
    )
    with op.batch_alter_table("voters", schema=None) as batch_op:
        batch_op.drop_column("judge")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("num_tokens")
    with op.batch_alter_table("battles", schema=None) as batch_op:
        batch_op.drop_column("meta")
        batch_op.drop_column("source_id")
        batch_op.alter_column(
            "language", existing_type=sa.String(length=64), type_=sa.String(length=8)
        )
