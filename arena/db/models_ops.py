"""The tables of running the arena: voter flags and the audit log of what admins did, and
the small state the app processes of one database share (rate counters, model health,
named values, job locks).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from arena.db.models_base import Base, UTCDateTime, enum_column, utcnow


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
    status: Mapped[FlagStatus] = mapped_column(enum_column(FlagStatus, "flag_status"))
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
