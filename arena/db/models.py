"""The arena's tables, as SQLAlchemy 2 typed models.

Every schema change is an Alembic revision in ``migrations/versions``; a test checks
that upgrading an empty database to head gives exactly these tables.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, stored with its time zone and always read back as aware UTC.

    PostgreSQL keeps the zone; SQLite keeps the text without it and hands back naive
    datetimes, which here are UTC (everything the arena writes is). A naive value
    written is taken as UTC too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value if value is None else as_utc(value)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as the enum's values (readable strings), checked by a constraint.
    return Enum(
        cls,
        name=name,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        create_constraint=True,
        length=16,
    )


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
    mode: Mapped[BattleMode] = mapped_column(_enum(BattleMode, "battle_mode"))
    status: Mapped[BattleStatus] = mapped_column(_enum(BattleStatus, "battle_status"))
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
    side: Mapped[Side] = mapped_column(_enum(Side, "side"))
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
    winner: Mapped[Winner] = mapped_column(_enum(Winner, "winner"))
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
    side: Mapped[Side] = mapped_column(_enum(Side, "side"))
    tag: Mapped[str] = mapped_column(String(40))


class Reaction(Base):
    """A volunteer's thumbs up (+1) or down (-1) on one answer: a side of one turn."""

    __tablename__ = "reactions"
    __table_args__ = (UniqueConstraint("battle_id", "turn", "side"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("battles.id", ondelete="CASCADE"))
    turn: Mapped[int] = mapped_column(Integer)
    side: Mapped[Side] = mapped_column(_enum(Side, "side"))
    value: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FlagStatus(enum.StrEnum):
    """A flag raised by a recomputation, and what an admin decided about it."""

    FLAGGED = "flagged"  # found by the last recomputation; its votes are excluded
    CLEARED = "cleared"  # an admin decided the voter is honest: the votes count again
    CONFIRMED = "confirmed"  # an admin confirmed it: excluded even if no longer detected


class VoterFlag(Base):
    """A voter a recomputation found suspicious (steering, outlier), with the evidence."""

    __tablename__ = "voter_flags"
    __table_args__ = (UniqueConstraint("voter_id", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    voter_id: Mapped[int] = mapped_column(ForeignKey("voters.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[str] = mapped_column(Text, default="")
    p_value: Mapped[float | None] = mapped_column(Float)
    status: Mapped[FlagStatus] = mapped_column(_enum(FlagStatus, "flag_status"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("rating_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RateCounter(Base):
    """A fixed-window rate-limit counter, shared by app processes through the database."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # Unix time, seconds


class ModelHealth(Base):
    """A model sitting out after failures, shared by the app processes of one database."""

    __tablename__ = "model_health"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row, when it went out
    backoff: Mapped[float] = mapped_column(Float, default=0.0)  # seconds
    until: Mapped[float] = mapped_column(Float, default=0.0)  # Unix time the back-off ends
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AppState(Base):
    """Small named values every process and CLI of one database shares (e.g. a salt)."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RatingRun(Base):
    __tablename__ = "rating_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    method: Mapped[str] = mapped_column(String(16))
    anchor: Mapped[str] = mapped_column(String(200))
    level: Mapped[float] = mapped_column(Float)
    rounds: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer)
    votes_used: Mapped[int] = mapped_column(Integer)
    excluded_failed: Mapped[int] = mapped_column(Integer, default=0)
    excluded_flagged: Mapped[int] = mapped_column(Integer, default=0)
    excluded_named: Mapped[int] = mapped_column(Integer, default=0)
    excluded_voided: Mapped[int] = mapped_column(Integer, default=0)
    excluded_fast: Mapped[int] = mapped_column(Integer, default=0)
    excluded_cap_voter: Mapped[int] = mapped_column(Integer, default=0)
    excluded_cap_address: Mapped[int] = mapped_column(Integer, default=0)
    excluded_steering: Mapped[int] = mapped_column(Integer, default=0)
    excluded_outlier: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")

    ratings: Mapped[list[ModelRating]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="ModelRating.rank"
    )
    pairs: Mapped[list[RunPairCount]] = relationship(
        back_populates="run", cascade="all, delete-orphan"
    )


class ModelRating(Base):
    __tablename__ = "model_ratings"
    __table_args__ = (UniqueConstraint("run_id", "model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("rating_runs.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer)
    rating: Mapped[float] = mapped_column(Float)
    ci_lower: Mapped[float] = mapped_column(Float)
    ci_upper: Mapped[float] = mapped_column(Float)
    battles: Mapped[int] = mapped_column(Integer)
    wins: Mapped[int] = mapped_column(Integer)
    ties: Mapped[int] = mapped_column(Integer)
    ties_bothbad: Mapped[int] = mapped_column(Integer)
    losses: Mapped[int] = mapped_column(Integer)
    win_rate: Mapped[float] = mapped_column(Float)

    run: Mapped[RatingRun] = relationship(back_populates="ratings")


class RunPairCount(Base):
    """How many votes a rating run used per (model_a, model_b, winner).

    The leaderboard's pair tables read these few rows (at most 4 per ordered pair)
    instead of aggregating every vote again.
    """

    __tablename__ = "rating_run_pairs"
    __table_args__ = (UniqueConstraint("run_id", "model_a", "model_b", "winner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("rating_runs.id", ondelete="CASCADE"), index=True
    )
    model_a: Mapped[str] = mapped_column(String(200))
    model_b: Mapped[str] = mapped_column(String(200))
    winner: Mapped[Winner] = mapped_column(_enum(Winner, "winner"))
    count: Mapped[int] = mapped_column(Integer)

    run: Mapped[RatingRun] = relationship(back_populates="pairs")


class JobLock(Base):
    """A row per running exclusive job (e.g. a rating recomputation)."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditLog(Base):
    """Who did what, when, in the admin area or CLI."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
