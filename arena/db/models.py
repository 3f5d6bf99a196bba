"""The arena's tables, as SQLAlchemy 2 typed models: every one importable from here.

They are defined by area: :mod:`arena.db.models_base` (the declarative base and column
types), :mod:`arena.db.models_battles` (battles and what they are made of),
:mod:`arena.db.models_runs` (rating runs) and :mod:`arena.db.models_ops` (flags, audit
log, state shared by processes). Importing this module registers them all on
``Base.metadata``, which Alembic's env reads.

Every schema change is an Alembic revision in ``migrations/versions``; a test checks
that upgrading an empty database to head gives exactly these tables.
"""

from __future__ import annotations

from arena.db.models_base import NAMING, Base, UTCDateTime, as_utc, enum_column, utcnow
from arena.db.models_battles import (
    Battle,
    BattleCategory,
    BattleMode,
    BattleStatus,
    Event,
    Message,
    Model,
    Reaction,
    Side,
    Vote,
    Voter,
    VoteReason,
    Winner,
)
from arena.db.models_ops import (
    AppState,
    AuditLog,
    FlagStatus,
    JobLock,
    ModelHealth,
    RateCounter,
    VoterFlag,
)
from arena.db.models_runs import ModelRating, RatingRun, RunPairCount

__all__ = [
    "NAMING",
    "AppState",
    "AuditLog",
    "Base",
    "Battle",
    "BattleCategory",
    "BattleMode",
    "BattleStatus",
    "Event",
    "FlagStatus",
    "JobLock",
    "Message",
    "Model",
    "ModelHealth",
    "ModelRating",
    "RateCounter",
    "RatingRun",
    "Reaction",
    "RunPairCount",
    "Side",
    "UTCDateTime",
    "Vote",
    "VoteReason",
    "Voter",
    "VoterFlag",
    "Winner",
    "as_utc",
    "enum_column",
    "utcnow",
]
