"""The tables of a battle: the models and voters, the battle with its messages, vote,
categories, reasons and reactions, the event it was started under; and their enums.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arena.db.models_base import Base, UTCDateTime, enum_column, utcnow


class Winner(enum.StrEnum):
    """The four verdicts, spelled as in the public Chatbot Arena data."""

    MODEL_A = "model_a"
    MODEL_B = "model_b"
    TIE = "tie"
    BOTHBAD = "tie (bothbad)"


class BattleStatus(enum.StrEnum):
    STREAMING = "streaming"
    READY = "ready"
    VOTED = "voted"
    FAILED = "failed"
    ABANDONED = "abandoned"  # the voter started another blind battle without voting


class BattleMode(enum.StrEnum):
    """anony: blind battle; named: both models chosen and shown; direct: one-model chat."""

    ANONY = "anony"
    NAMED = "named"
    DIRECT = "direct"


class Side(enum.StrEnum):
    A = "a"
    B = "b"


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    provider: Mapped[str] = mapped_column(String(40))
    weights: Mapped[str] = mapped_column(String(8), default="closed")
    description: Mapped[str] = mapped_column(Text, default="")
    japanese_mt_bench: Mapped[float | None] = mapped_column(Float)
    nejumi_lb3: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Voter(Base):
    __tablename__ = "voters"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    #: An imported voter's judge id as the file gave it (exports pseudonymise the token).
    judge: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Battle(Base):
    __tablename__ = "battles"
    __table_args__ = (
        Index("ix_battles_created_at", "created_at"),
        Index("ix_battles_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    voter_id: Mapped[int] = mapped_column(ForeignKey("voters.id", ondelete="CASCADE"), index=True)
    model_a_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    model_b_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"), index=True)
    mode: Mapped[BattleMode] = mapped_column(enum_column(BattleMode, "battle_mode"))
    status: Mapped[BattleStatus] = mapped_column(enum_column(BattleStatus, "battle_status"))
    #: The arena's own battles: ``ja`` or ``en``; imported ones: as the file wrote it.
    language: Mapped[str] = mapped_column(String(64), default="ja")
    turns: Mapped[int] = mapped_column(Integer, default=0)
    flag_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_moderation: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The phrase of an answer that named a model (kept so an admin can review the flag).
    identity_match: Mapped[str | None] = mapped_column(Text)
    #: An imported battle's id in its source file (``question_id`` or ``id``).
    source_id: Mapped[str | None] = mapped_column(String(200))
    #: An imported battle's other columns, JSON: ``conv_metadata``, ``category_tag`` and
    #: ``metadata`` (foreign layouts of open shape; nothing here is queried).
    meta: Mapped[str | None] = mapped_column(Text)
    #: How the first prompt came: ``typed``, or ``example:<category>`` (a suggested one).
    prompt_source: Mapped[str | None] = mapped_column(String(40))
    #: The event (a time-boxed drive, arena/events.py) the battle was started under.
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL"), index=True
    )
    #: The first prompt's language as arena/categories.py detected it (ISO 639-1, ``und``
    #: when unclear); NULL until the battle's first turn is stored and tagged.
    prompt_language: Mapped[str | None] = mapped_column(String(8), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    model_a: Mapped[Model] = relationship(foreign_keys=[model_a_id])
    model_b: Mapped[Model | None] = relationship(foreign_keys=[model_b_id])
    messages: Mapped[list[Message]] = relationship(
        back_populates="battle", order_by="Message.id", cascade="all, delete-orphan"
    )
    vote: Mapped[Vote | None] = relationship(back_populates="battle", cascade="all, delete-orphan")


class BattleCategory(Base):
    """A category a battle was tagged with by the rules of arena/categories.py."""

    __tablename__ = "battle_categories"
    # The per-category leaderboard looks battles up by category.
    __table_args__ = (Index("ix_battle_categories_category", "category", "battle_id"),)

    battle_id: Mapped[str] = mapped_column(
        ForeignKey("battles.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(24), primary_key=True)


class Event(Base):
    """A time-boxed voting drive: volunteers come by ``/?event=<slug>`` (arena/events.py)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    goal: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    thanks_ja: Mapped[str] = mapped_column(Text, default="")
    thanks_en: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_battle_side_turn", "battle_id", "side", "turn"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"))
    side: Mapped[Side] = mapped_column(enum_column(Side, "side"))
    turn: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    #: This message's tokens as an imported file counted them (``num_tokens``).
    num_tokens: Mapped[int | None] = mapped_column(Integer)
    #: One of stop, length, content_filter, refusal, tool_calls, aborted, error.
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    #: The finish reason as the provider spelled it (``end_turn``, ``abort``, ``SAFETY``).
    finish_raw: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    #: The provider's own error code and message (never shown to the volunteer).
    upstream_code: Mapped[str | None] = mapped_column(String(64))
    upstream_message: Mapped[str | None] = mapped_column(Text)
    #: A reasoning model's thinking: never sent to the page before the vote.
    reasoning: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    battle: Mapped[Battle] = relationship(back_populates="messages")


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (Index("ix_votes_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str] = mapped_column(
        ForeignKey("battles.id", ondelete="CASCADE"), unique=True
    )
    voter_id: Mapped[int] = mapped_column(ForeignKey("voters.id", ondelete="CASCADE"), index=True)
    winner: Mapped[Winner] = mapped_column(enum_column(Winner, "winner"))
    seconds_to_vote: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    void_reason: Mapped[str | None] = mapped_column(Text)
    # Quality signals, stored when the vote is cast (see arena/integrity/quality.py).
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    chars_a: Mapped[int | None] = mapped_column(Integer)
    chars_b: Mapped[int | None] = mapped_column(Integer)
    voter_day_votes: Mapped[int | None] = mapped_column(Integer)
    flag_fast: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The volunteer's free comment from the reasons step (optional).
    comment: Mapped[str | None] = mapped_column(Text)

    battle: Mapped[Battle] = relationship(back_populates="vote")


class VoteReason(Base):
    """One reason a volunteer gave for a side, after voting (tags in arena/feedback.py)."""

    __tablename__ = "vote_reasons"
    __table_args__ = (UniqueConstraint("battle_id", "side", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"))
    side: Mapped[Side] = mapped_column(enum_column(Side, "side"))
    tag: Mapped[str] = mapped_column(String(40))


class Reaction(Base):
    """A volunteer's thumbs up (+1) or down (-1) on one answer: a side of one turn."""

    __tablename__ = "reactions"
    __table_args__ = (UniqueConstraint("battle_id", "turn", "side"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"))
    turn: Mapped[int] = mapped_column(Integer)
    side: Mapped[Side] = mapped_column(enum_column(Side, "side"))
    value: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
