"""Read-only queries behind the leaderboard: the latest rating run and the pair tables.

The leaderboard shows a stored rating run (see :mod:`arena.recompute`) joined with the
models' external scores, and two pair tables (battles per pair, pairwise win fraction)
built from the pair counts stored with the run (at most ``4 * models**2`` rows), so they
count exactly the votes the run's fit used. Runs stored before those counts existed
(revision 0002) fall back to one ``GROUP BY`` over the votes -- never one Python object
per vote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from arena.db.counted import counted, in_window
from arena.db.models import (
    Battle,
    Model,
    ModelRating,
    RatingRun,
    RunPairCount,
    Vote,
    Winner,
)


@dataclass(frozen=True)
class RunInfo:
    """The rating run a leaderboard shows."""

    id: int
    created_at: datetime
    method: str
    anchor: str
    level: float
    votes_used: int
    excluded: dict[str, int] = field(default_factory=dict)  # votes left out, per reason
    note: str = ""

    @property
    def provisional(self) -> bool:
        """True for a provisional run (the in-app schedule's refresh while young)."""
        return any(line.startswith("provisional:") for line in self.note.splitlines())

    @property
    def min_votes(self) -> int:
        """Votes a model needed to be rated in this run (0 for runs without a threshold)."""
        found = re.search(r"^min votes per rated model: (\d+)$", self.note, re.MULTILINE)
        return int(found.group(1)) if found else 0

    @property
    def too_few(self) -> set[str]:
        """The models this run left unrated for too few votes (from its note)."""
        found = re.search(r"^not enough votes yet \(fewer than \d+\): (.*)$", self.note, re.M)
        return set(found.group(1).split(", ")) if found else set()


@dataclass(frozen=True)
class UnratedRow:
    """A model with usable votes in the run but no rating: too few votes, or cut off."""

    model: str
    battles: int
    reason: str  # "few_votes" or "not_connected"


#: Every reason a rating run leaves votes out, in the order they are tested.
EXCLUSION_REASONS = (
    "voided", "failed", "named", "flagged",
    "fast", "cap_voter", "cap_address", "steering", "outlier",
)  # fmt: skip


@dataclass(frozen=True)
class BoardRow:
    """One model of the leaderboard: the run's figures and the model's external columns."""

    rank: int
    model: str
    rating: float
    ci_lower: float
    ci_upper: float
    win_rate: float
    battles: int
    weights: str | None
    japanese_mt_bench: float | None
    nejumi_lb3: float | None


@dataclass
class PairTable:
    """Battles and pairwise win fractions among ``models`` (in the given order).

    ``battles[i, j]`` counts battles between models i and j (either side);
    ``wins[i, j]`` is i's wins over j plus half the ties; ``fraction`` divides them.
    """

    models: list[str]
    battles: np.ndarray = field(repr=False)
    wins: np.ndarray = field(repr=False)

    @property
    def fraction(self) -> np.ndarray:
        """Win fraction of row over column; NaN where the pair never met."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.battles > 0, self.wins / np.maximum(self.battles, 1), np.nan)


def latest_run(session: Session) -> RunInfo | None:
    """The newest rating run, or None before the first recomputation."""
    run = session.scalars(
        select(RatingRun).order_by(RatingRun.created_at.desc(), RatingRun.id.desc()).limit(1)
    ).first()
    if run is None:
        return None
    excluded = {why: getattr(run, f"excluded_{why}") or 0 for why in EXCLUSION_REASONS}
    return RunInfo(
        run.id,
        run.created_at,
        run.method,
        run.anchor,
        run.level,
        run.votes_used,
        excluded,
        run.note or "",
    )


def unrated(session: Session, run: RunInfo, rated: Iterable[str]) -> list[UnratedRow]:
    """Models with votes in the run's pair counts but no rating, most battles first."""
    battles: dict[str, int] = {}
    for side in (RunPairCount.model_a, RunPairCount.model_b):  # summed by the database
        rows = session.execute(
            select(side, func.sum(RunPairCount.count))
            .where(RunPairCount.run_id == run.id)
            .group_by(side)
        )
        for model, n in rows:
            battles[model] = battles.get(model, 0) + int(n)
    rated, few = set(rated), run.too_few
    out = [
        UnratedRow(m, n, "few_votes" if m in few else "not_connected")
        for m, n in battles.items()
        if m not in rated
    ]
    return sorted(out, key=lambda r: (-r.battles, r.model))


def board(session: Session, run_id: int) -> list[BoardRow]:
    """The run's ratings, best first, with each model's weights and external scores."""
    rows = session.execute(
        select(
            ModelRating.rank,
            ModelRating.model,
            ModelRating.rating,
            ModelRating.ci_lower,
            ModelRating.ci_upper,
            ModelRating.win_rate,
            ModelRating.battles,
            Model.weights,
            Model.japanese_mt_bench,
            Model.nejumi_lb3,
        )
        .outerjoin(Model, Model.name == ModelRating.model)
        .where(ModelRating.run_id == run_id)
        .order_by(ModelRating.rating.desc(), ModelRating.model)
    )
    return [BoardRow(*row) for row in rows]


def pair_table(session: Session, run: RunInfo, models: list[str]) -> PairTable:
    """Battle counts and win fractions among ``models`` from the run's stored pair counts.

    Fallback: a run stored before runs kept their pair counts (Alembic revision 0002) has
    no rows in ``rating_run_pairs``; its table is then aggregated from the votes by
    :func:`pair_table_from_votes`, with the votes cast up to the run's time.
    """
    pairs = RunPairCount
    rows = session.execute(
        select(pairs.model_a, pairs.model_b, pairs.winner, pairs.count).where(
            pairs.run_id == run.id, pairs.model_a.in_(models), pairs.model_b.in_(models)
        )
    ).all()
    if not rows and not session.scalar(select(exists().where(pairs.run_id == run.id))):
        return pair_table_from_votes(session, models, until=run.created_at)
    return _tabulate(models, rows)


def pair_table_from_votes(
    session: Session, models: list[str], until: datetime | None = None
) -> PairTable:
    """Battle counts and win fractions among ``models`` from one SQL ``GROUP BY``.

    Only votes that enter the ratings by default count (:func:`arena.db.counted.counted`);
    ``until`` keeps votes cast before then. Slow on many votes: the
    leaderboard uses it only for runs stored without their pair counts.
    """
    ids = dict(session.execute(select(Model.id, Model.name).where(Model.name.in_(models))).all())
    query = (
        select(Battle.model_a_id, Battle.model_b_id, Vote.winner, func.count())
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
        .where(
            counted(),
            *in_window(None, until),
            Battle.model_a_id.in_(list(ids)),
            Battle.model_b_id.in_(list(ids)),
        )
        .group_by(Battle.model_a_id, Battle.model_b_id, Vote.winner)
    )
    rows = [(ids[a], ids[b], winner, count) for a, b, winner, count in session.execute(query)]
    return _tabulate(models, rows)


def _tabulate(models: list[str], rows: Iterable[Sequence]) -> PairTable:
    # rows: (model_a, model_b, winner, count); a tie is half a win for each side.
    index = {name: k for k, name in enumerate(models)}
    n = len(models)
    battles, wins = np.zeros((n, n)), np.zeros((n, n))
    for name_a, name_b, winner, count in rows:
        a, b = index[name_a], index[name_b]
        battles[a, b] += count
        battles[b, a] += count
        if winner == Winner.MODEL_A:
            wins[a, b] += count
        elif winner == Winner.MODEL_B:
            wins[b, a] += count
        else:
            wins[a, b] += count / 2
            wins[b, a] += count / 2
    return PairTable(list(models), battles, wins)


def history(
    session: Session, models: list[str], runs: int = 30
) -> list[tuple[datetime, str, float]]:
    """(run time, model, rating) of ``models`` over the last ``runs`` runs, oldest first."""
    recent = (
        select(RatingRun.id)
        .order_by(RatingRun.created_at.desc(), RatingRun.id.desc())
        .limit(runs)
        .scalar_subquery()
    )
    rows = session.execute(
        select(RatingRun.created_at, ModelRating.model, ModelRating.rating)
        .join(ModelRating, ModelRating.run_id == RatingRun.id)
        .where(RatingRun.id.in_(recent), ModelRating.model.in_(models))
        .order_by(RatingRun.created_at, ModelRating.model)
    )
    return [(at, model, rating) for at, model, rating in rows]
