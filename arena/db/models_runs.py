"""The tables of a rating run: the run, each model's rating, and the vote counts per pair
that the leaderboard's pair tables read (arena/recompute.py writes them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arena.db.models_base import Base, UTCDateTime, enum_column, utcnow
from arena.db.models_battles import Winner


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
    winner: Mapped[Winner] = mapped_column(enum_column(Winner, "winner"))
    count: Mapped[int] = mapped_column(Integer)

    run: Mapped[RatingRun] = relationship(back_populates="pairs")
