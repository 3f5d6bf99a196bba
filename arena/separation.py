"""A stored rating run as numbers: votes until neighbours separate, and the active board.

The leaderboard and ``/api/leaderboard`` say, for each pair of neighbours, how many more
votes (at the arena's current sampling) until their intervals separate
(:func:`neighbours`); the active sampler (:mod:`arena.sampling`) needs the latest run's
ratings, half-widths and pair counts (:func:`load_board`), reloaded only when a new run
appears (:func:`refresh_board`). The numerics are :mod:`ratings.separation`'s.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.db import stats
from arena.db.models import RatingRun
from arena.sampling import Board
from ratings.separation import votes_until_separated


@dataclass(frozen=True)
class Neighbours:
    """Two models next to each other on the board (``upper`` rated higher)."""

    upper: str
    lower: str
    gap: float
    #: Further votes until their intervals separate: 0 already, None not within
    #: ratings.separation.DEFAULT_HORIZON votes at the current sampling (or never).
    votes: int | None


def _arrays(
    session: Session, run: stats.RunInfo, rows: list[stats.BoardRow]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    models = [r.model for r in rows]
    rating = np.array([r.rating for r in rows], dtype=np.float64)
    half = np.array([(r.ci_upper - r.ci_lower) / 2 for r in rows], dtype=np.float64)
    half[~np.isfinite(half)] = np.inf
    games = stats.pair_table(session, run, models).battles
    return models, rating, half, games


#: The latest runs' neighbours (a run never changes once stored), keyed by database,
#: run id and run time (a process may read several databases, whose ids overlap).
_NEIGHBOURS: dict[tuple[str, int, object], list[Neighbours]] = {}
_NEIGHBOURS_LOCK = threading.Lock()


def neighbours(
    session: Session, run: stats.RunInfo, rows: list[stats.BoardRow]
) -> list[Neighbours]:
    """Votes until each pair of neighbours of the run's board separates, best pair first.

    ``rows`` are the run's board (:func:`arena.db.stats.board`); the future votes are
    assumed to fall on pairs in the shares the run's own votes did. Worked out once per
    run (the leaderboard and ``/api/leaderboard`` both ask on every view).
    """
    key = (str(session.get_bind().url), run.id, run.created_at)
    with _NEIGHBOURS_LOCK:
        if key in _NEIGHBOURS:
            return _NEIGHBOURS[key]
    found = _neighbours(session, run, rows)
    with _NEIGHBOURS_LOCK:
        if len(_NEIGHBOURS) >= 8:
            _NEIGHBOURS.pop(next(iter(_NEIGHBOURS)))
        _NEIGHBOURS[key] = found
    return found


def _neighbours(
    session: Session, run: stats.RunInfo, rows: list[stats.BoardRow]
) -> list[Neighbours]:
    if len(rows) < 2:
        return []
    models, rating, half, games = _arrays(session, run, rows)
    if not np.triu(games, 1).sum() > 0:
        return []
    found = votes_until_separated(rating, half, games, level=run.level)
    return [
        Neighbours(
            models[u], models[lo], round(float(gap), 1), int(v) if math.isfinite(v) else None
        )
        for u, lo, gap, v in zip(found.upper, found.lower, found.gap, found.votes, strict=True)
    ]


def latest_run_id(session: Session) -> int | None:
    """The newest run's id (one indexed row)."""
    return session.scalar(
        select(RatingRun.id).order_by(RatingRun.created_at.desc(), RatingRun.id.desc()).limit(1)
    )


def load_board(session: Session) -> Board | None:
    """The latest run as the active sampler needs it; None before the first run."""
    run = stats.latest_run(session)
    if run is None:
        return None
    rows = stats.board(session, run.id)
    if len(rows) < 2:
        return None
    models, rating, half, games = _arrays(session, run, rows)
    return Board(run.id, tuple(models), rating, half, games, level=run.level)


def refresh_board(session: Session, board: Board | None) -> Board | None:
    """``board`` if it is still the latest run's, else the latest run's board."""
    latest = latest_run_id(session)
    if board is not None and board.run_id == latest:
        return board
    return load_board(session) if latest is not None else None
