"""The leaderboard of one category: a stored run's board, refitted on that category's votes.

The leaderboard and ``/api/leaderboard`` can be filtered to the battles of one prompt
language (Japanese, English) or one category of :mod:`arena.categories`. Each such board
has its own counts and intervals: the votes of its battles that count by the one rule
(:func:`arena.db.counted.counted`: not voided, failed, named unless the run included
named battles, or flagged), cast before the stored run's time, aggregated by one
``GROUP BY`` and fitted as the run was (:func:`ratings.leaderboard_from_counts` with the
run's anchor, interval level and prior, the sandwich interval, the run's vote threshold
per model). The rigging screen a run applies on top (read time, daily caps, flagged
voters) is not applied again per category, so a category's votes can be a few more than
the main board's share of them.

A board is worked out on its first view and kept per database, stored run and filter
(the run never changes, so neither does the board); a new run makes new boards.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from arena.categories import CATEGORIES
from arena.db import stats
from arena.db.counted import counted, in_window
from arena.db.models import Battle, BattleCategory, Model, Vote
from ratings import (
    DEFAULT_PRIOR,
    WINNER_CODES,
    Leaderboard,
    RatingsError,
    enough_votes,
    leaderboard_from_counts,
)

ALL = "all"
#: Prompt languages the board can be filtered to (ISO 639-1, as battles.prompt_language).
LANGUAGE_FILTERS = ("ja", "en")
#: Every filter, in the order the page offers them; ``all`` is the stored run itself.
FILTERS = (ALL, *LANGUAGE_FILTERS, *CATEGORIES)
_PRIOR_NOTE = re.compile(r"^prior: ([0-9.eE+-]+) virtual ties per model$", re.M)
_OUTCOMES = {w: int(code) for w, code in WINNER_CODES.items()}


@dataclass(frozen=True)
class CategoryBoard:
    """One filter's board: its rated models, the others with votes, and its pair table."""

    category: str
    #: Counted votes of the category's battles up to the run's time (all models).
    votes: int
    rows: list[stats.BoardRow]
    unrated: list[stats.UnratedRow] = field(default_factory=list)
    pairs: stats.PairTable | None = None
    #: Votes a model needed to be rated (the run's threshold).
    min_votes: int = 0

    @property
    def too_few(self) -> bool:
        """No model has enough votes in this category to be rated."""
        return not self.rows


def condition(key: str) -> ColumnElement[bool]:
    """What a battle of filter ``key`` is (``key`` a language filter or a category)."""
    if key in LANGUAGE_FILTERS:
        return Battle.prompt_language == key
    if key in CATEGORIES:
        tagged = select(BattleCategory.battle_id).where(BattleCategory.category == key)
        return Battle.id.in_(tagged)
    raise ValueError(f"unknown category {key!r}: expected one of {', '.join(FILTERS)}")


def prior_of(run: stats.RunInfo) -> float:
    """The prior the run was fitted with (from its note), else the default."""
    found = _PRIOR_NOTE.search(run.note)
    return float(found.group(1)) if found else DEFAULT_PRIOR


def _counts(
    session: Session, run: stats.RunInfo, key: str
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The category's counted votes by (model_a, model_b, outcome): one GROUP BY."""
    include_named = "named-mode battles included" in run.note
    rows = session.execute(
        select(Battle.model_a_id, Battle.model_b_id, Vote.winner, func.count())
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
        .where(counted(include_named), *in_window(None, run.created_at), condition(key))
        .group_by(Battle.model_a_id, Battle.model_b_id, Vote.winner)
    ).all()
    ids = sorted({a for a, *_ in rows} | {b for _, b, *_ in rows})
    names_of = dict(session.execute(select(Model.id, Model.name).where(Model.id.in_(ids))).all())
    names = sorted(names_of.values())
    index = {i: names.index(names_of[i]) for i in ids}
    a = np.array([index[r[0]] for r in rows], dtype=np.intp)
    b = np.array([index[r[1]] for r in rows], dtype=np.intp)
    outcome = np.array([_OUTCOMES[str(r[2])] for r in rows], dtype=np.int8)
    count = np.array([r[3] for r in rows], dtype=np.int64)
    return names, a, b, outcome, count


def pair_table(models: Sequence[str], names: list[str], a, b, outcome, count) -> stats.PairTable:
    """Battles and wins among ``models`` (a tie is half a win each), as stats.PairTable."""
    where = {name: k for k, name in enumerate(models)}
    pos = np.array([where.get(name, -1) for name in names], dtype=np.intp)
    i, j = pos[a], pos[b]
    keep = (i >= 0) & (j >= 0)
    i, j, o, n = i[keep], j[keep], outcome[keep], count[keep].astype(np.float64)
    k = len(models)
    battles, wins = np.zeros((k, k)), np.zeros((k, k))
    np.add.at(battles, (i, j), n)
    np.add.at(battles, (j, i), n)
    a_won = o == WINNER_CODES["model_a"]
    b_won = o == WINNER_CODES["model_b"]
    tie = ~(a_won | b_won)
    np.add.at(wins, (i[a_won], j[a_won]), n[a_won])
    np.add.at(wins, (j[b_won], i[b_won]), n[b_won])
    np.add.at(wins, (i[tie], j[tie]), n[tie] / 2)
    np.add.at(wins, (j[tie], i[tie]), n[tie] / 2)
    return stats.PairTable(list(models), battles, wins)


def fit_counts(
    names: list[str],
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    count: np.ndarray,
    *,
    anchor: str,
    level: float,
    prior: float,
    min_votes: int,
) -> tuple[Leaderboard | None, np.ndarray]:
    """A filter's board from its grouped counts, as its run was fitted (no database): the
    run's vote threshold, then the run's fit (sandwich, its prior, the largest connected
    piece). Returns the fit (None when nothing can be rated) and which models met the
    threshold."""
    keep = enough_votes(a, b, count, len(names), min_votes) if names else np.zeros(0, bool)
    if not keep.any():
        return None, keep
    kept = [n for n, k in zip(names, keep, strict=True) if k]
    both = keep[a] & keep[b]
    renumber = np.cumsum(keep) - 1
    try:
        fitted = leaderboard_from_counts(
            kept, renumber[a[both]], renumber[b[both]], outcome[both], count[both],
            anchor=anchor, ci="sandwich", level=level, prior=prior, on_disconnected="largest",
        )  # fmt: skip
    except RatingsError:
        return None, keep
    return fitted, keep


def _board(session: Session, run: stats.RunInfo, key: str) -> CategoryBoard:
    names, a, b, outcome, count = _counts(session, run, key)
    votes, min_votes = int(count.sum()), run.min_votes
    battles = np.bincount(a, count, len(names)) + np.bincount(b, count, len(names))
    fitted, keep = fit_counts(
        names, a, b, outcome, count, anchor=run.anchor, level=run.level, prior=prior_of(run),
        min_votes=min_votes,
    )  # fmt: skip
    rated: list[stats.BoardRow] = []
    if fitted is not None:
        extra = {
            name: (weights, mt, nejumi)
            for name, weights, mt, nejumi in session.execute(
                select(Model.name, Model.weights, Model.japanese_mt_bench, Model.nejumi_lb3).where(
                    Model.name.in_([r.model for r in fitted.rows])
                )
            )
        }
        rated = [
            stats.BoardRow(r.rank, r.model, r.rating, r.ci_lower, r.ci_upper, r.win_rate,
                           r.battles, *extra.get(r.model, (None, None, None)))
            for r in fitted.rows
        ]  # fmt: skip
    shown = {r.model for r in rated}
    unrated = sorted(
        (
            stats.UnratedRow(name, int(n), "few_votes" if not k else "not_connected")
            for name, n, k in zip(names, battles, keep, strict=True)
            if name not in shown and n > 0
        ),
        key=lambda u: (-u.battles, u.model),
    )
    pairs = pair_table([r.model for r in rated], names, a, b, outcome, count) if rated else None
    return CategoryBoard(key, votes, rated, unrated, pairs, min_votes)


#: Boards already worked out, keyed by database, run id, run time and filter.
_BOARDS: dict[tuple[str, int, object, str], CategoryBoard] = {}
_BOARDS_LOCK = threading.Lock()
_BOARDS_KEPT = 4 * len(FILTERS)


def category_board(session: Session, run: stats.RunInfo, key: str) -> CategoryBoard:
    """The board of filter ``key`` (not ``all``) for ``run``, worked out once per run.

    Raises :class:`ValueError` for an unknown filter.
    """
    condition(key)  # refuses an unknown key before the cache is consulted
    cache_key = (str(session.get_bind().url), run.id, run.created_at, key)
    with _BOARDS_LOCK:
        if cache_key in _BOARDS:
            return _BOARDS[cache_key]
    board = _board(session, run, key)
    with _BOARDS_LOCK:
        if len(_BOARDS) >= _BOARDS_KEPT:
            _BOARDS.pop(next(iter(_BOARDS)))
        _BOARDS[cache_key] = board
    return board
