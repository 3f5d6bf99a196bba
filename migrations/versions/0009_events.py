"""events: time-boxed voting drives, and the battles started under one

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 04:00:00.000000

Issue 18: an admin sets up an event (slug, name, goal, start, deadline, thank-you texts);
volunteers who come by its link start battles tagged with it (``battles.event_id``,
nullable, indexed; an event's deletion leaves its battles untagged). Old battles get
NULL. Downgrading drops both.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("goal", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("thanks_ja", sa.Text(), nullable=False),
        sa.Column("thanks_en", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("slug", name=op.f("uq_events_slug")),
    )
    with op.batch_alter_table("battles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_battles_event_id"), ["event_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_battles_event_id_events"), "events", ["event_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("battles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_battles_event_id_events"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_battles_event_id"))
        batch_op.drop_column("event_id")
    op.drop_table("events")
