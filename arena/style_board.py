"""The style-controlled leaderboard: a stored run's votes refitted with answer style held equal.

Does a model win by writing longer, Markdown-heavy answers? :func:`ratings.style.fit_style`
fits the ratings jointly with one coefficient per style feature (answer length, headers,
list items, bold spans; LMArena's style control). This module gives the leaderboard and
``/api/leaderboard?style=1`` that board for a stored run, alone or narrowed to one filter
of :mod:`arena.category_board`:

* the votes are those a category board takes (:func:`arena.db.counted.counted`, cast
  before the run's time, the run's treatment of named battles), one row per battle;
* each battle's style counts come from the ``conv_metadata`` kept in ``battles.meta``
  when its turn was stored (:func:`arena.dataset.with_conv_metadata`); a battle stored
  before that is counted from its messages by the same rules, here, and not written back;
* the models rated are those with the run's vote threshold among themselves
  (:func:`ratings.enough_votes`), and both fits, the plain one and the style-controlled
  one, use the run's anchor, interval level and prior with sandwich intervals. The plain
  fit on the same votes gives each model's plain rank, so a rank change says what style
  control changes and nothing else (the run's rigging screen is not applied again, as for
  a category; on the whole board the plain ranks are then the run's own unless that
  screen left votes out).

A board is worked out on its first view and kept per database, stored run and filter,
like a category's; a new run makes new boards.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.category_board import ALL, FILTERS, condition, prior_of
from arena.dataset import with_conv_metadata
from arena.db import stats
from arena.db.counted import counted, in_window
from arena.db.models import Battle, Message, Model, Vote
from ratings import (
    ELO_SCALE,
    STYLE_FEATURES,
    WINNER_CODES,
    RatingsError,
    aggregate,
    build_leaderboard,
    enough_votes,
    fit_style,
    leaderboard_from_counts,
    normalised_differences,
)
from ratings.style_features import metadata_counts

_OUTCOMES = {w: int(code) for w, code in WINNER_CODES.items()}
#: Battles whose messages are read in one query when their counts are not stored.
MESSAGE_CHUNK = 500


@dataclass(frozen=True)
class Coefficient:
    """One style feature's coefficient: rating points per standard deviation of the
    feature (side A's normalised difference from side B), with its interval.

    ``points`` and the ends are None for a feature that never varied in these votes.
    """

    feature: str
    points: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class Place:
    """A model's place on the plain board of the same votes."""

    rank: int
    rating: float


@dataclass(frozen=True)
class StyleBoard:
    """The style-controlled board of one filter (``all``: every counted vote)."""

    category: str
    #: Counted votes of the filter up to the run's time (all models).
    votes: int
    #: Style-controlled ratings, intervals and ranks (UB), best first.
    rows: list[stats.BoardRow]
    #: Each rated model's plain rank and rating, fitted on the same votes.
    plain: dict[str, Place] = field(default_factory=dict)
    coefficients: list[Coefficient] = field(default_factory=list)
    unrated: list[stats.UnratedRow] = field(default_factory=list)
    pairs: stats.PairTable | None = None
    min_votes: int = 0
    #: Battles whose counts were taken from their messages (stored without them).
    from_messages: int = 0
    #: Why the style fit failed on these votes (then there are no rows), else "".
    error: str = ""

    @property
    def too_few(self) -> bool:
        """No model has enough votes to be rated."""
        return not self.rows

    def change(self, model: str) -> int | None:
        """Places ``model`` moved up under style control against its plain rank (negative:
        down); None for a model not on both boards."""
        row = next((r for r in self.rows if r.model == model), None)
        place = self.plain.get(model)
        return None if row is None or place is None else place.rank - row.rank

    def coefficient(self, feature: str) -> Coefficient | None:
        """The coefficient of ``feature`` (one of :data:`ratings.STYLE_FEATURES`)."""
        return next((c for c in self.coefficients if c.feature == feature), None)


@dataclass
class _Votes:
    names: list[str]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    side_a: np.ndarray  # (m, 4) style counts of side A's answers
    side_b: np.ndarray
    from_messages: int


def _counts_from_messages(session: Session, battle_ids: list[str]) -> dict[str, dict]:
    """``conv_metadata`` of battles stored without it, from their messages."""
    out: dict[str, dict] = {}
    for start in range(0, len(battle_ids), MESSAGE_CHUNK):
        chunk = battle_ids[start : start + MESSAGE_CHUNK]
        rows = session.execute(
            select(
                Message.battle_id, Message.id, Message.side, Message.turn, Message.role,
                Message.content, Message.num_tokens, Message.completion_tokens,
            ).where(Message.battle_id.in_(chunk))
        ).all()  # fmt: skip
        per_battle: dict[str, list] = {bid: [] for bid in chunk}
        for row in rows:
            per_battle[row.battle_id].append(row)
        for bid, messages in per_battle.items():
            out[bid] = json.loads(with_conv_metadata(None, messages))["conv_metadata"]
    return out


def _votes(session: Session, run: stats.RunInfo, key: str) -> _Votes:
    """The filter's counted votes, one row per battle, with both sides' style counts."""
    include_named = "named-mode battles included" in run.note
    where = [counted(include_named), *in_window(None, run.created_at)]
    if key != ALL:
        where.append(condition(key))
    rows = session.execute(
        select(Battle.id, Battle.model_a_id, Battle.model_b_id, Vote.winner, Battle.meta)
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
        .where(*where)
        .order_by(Battle.id)
    ).all()
    metas: list[dict | None] = []
    missing: list[str] = []
    for bid, _, _, _, meta in rows:
        found = json.loads(meta).get("conv_metadata") if meta else None
        if metadata_counts(found, "a") is None or metadata_counts(found, "b") is None:
            found = None
            missing.append(bid)
        metas.append(found)
    computed = _counts_from_messages(session, missing) if missing else {}
    side_a = np.zeros((len(rows), len(STYLE_FEATURES)))
    side_b = np.zeros((len(rows), len(STYLE_FEATURES)))
    for k, (row, meta) in enumerate(zip(rows, metas, strict=True)):
        meta = meta if meta is not None else computed[row[0]]
        side_a[k], side_b[k] = metadata_counts(meta, "a"), metadata_counts(meta, "b")
    ids = sorted({r[1] for r in rows} | {r[2] for r in rows})
    names_of = dict(session.execute(select(Model.id, Model.name).where(Model.id.in_(ids))).all())
    names = sorted(names_of.values())
    index = {i: names.index(names_of[i]) for i in ids}
    return _Votes(
        names,
        np.array([index[r[1]] for r in rows], dtype=np.intp),
        np.array([index[r[2]] for r in rows], dtype=np.intp),
        np.array([_OUTCOMES[str(r[3])] for r in rows], dtype=np.int8),
        side_a,
        side_b,
        len(missing),
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _coefficients(features: Iterable[str], coef, lower, upper) -> list[Coefficient]:
    return [
        Coefficient(name, _finite(ELO_SCALE * c), _finite(ELO_SCALE * lo), _finite(ELO_SCALE * up))
        for name, c, lo, up in zip(features, coef, lower, upper, strict=True)
    ]


def _board(session: Session, run: stats.RunInfo, key: str) -> StyleBoard:
    v = _votes(session, run, key)
    n, ones = len(v.names), np.ones(v.a.size, dtype=np.int64)
    keep = enough_votes(v.a, v.b, ones, n, run.min_votes) if n else np.zeros(0, bool)
    kept = [name for name, k in zip(v.names, keep, strict=True) if k]
    rated: list[stats.BoardRow] = []
    plain: dict[str, Place] = {}
    coefficients: list[Coefficient] = []
    pairs, error = None, ""
    if kept:
        both = keep[v.a] & keep[v.b]
        renumber = np.cumsum(keep) - 1
        a, b, outcome = renumber[v.a[both]], renumber[v.b[both]], v.outcome[both]
        options = {"level": run.level, "prior": prior_of(run), "on_disconnected": "largest"}
        try:
            fitted = fit_style(
                a, b, outcome, normalised_differences(v.side_a[both], v.side_b[both]),
                n_models=len(kept), anchor=kept.index(run.anchor) if run.anchor in kept else None,
                **options,
            )  # fmt: skip
            plain_board = leaderboard_from_counts(
                kept, a, b, outcome, anchor=run.anchor, ci="sandwich", **options
            )
        except RatingsError as exc:
            fitted, error = None, str(exc)
        if fitted is not None:
            counts = aggregate(a, b, outcome, len(kept))
            styled = build_leaderboard(kept, counts, fitted.ratings, anchor=run.anchor)
            extra = {
                name: (weights, mt, nejumi)
                for name, weights, mt, nejumi in session.execute(
                    select(
                        Model.name, Model.weights, Model.japanese_mt_bench, Model.nejumi_lb3
                    ).where(Model.name.in_(kept))
                )
            }
            rated = [
                stats.BoardRow(r.rank, r.model, r.rating, r.ci_lower, r.ci_upper, r.win_rate,
                               r.battles, *extra.get(r.model, (None, None, None)))
                for r in styled.rows
            ]  # fmt: skip
            plain = {r.model: Place(r.rank, r.rating) for r in plain_board.rows}
            coefficients = _coefficients(
                fitted.features, fitted.coef, fitted.coef_lower, fitted.coef_upper
            )
            order = np.array([kept.index(r.model) for r in rated], dtype=np.intp)
            ix = np.ix_(order, order)
            pairs = stats.PairTable([r.model for r in rated], counts.games[ix], counts.score[ix])
    shown = {r.model for r in rated}
    battles = np.bincount(v.a, minlength=n) + np.bincount(v.b, minlength=n)
    unrated = sorted(
        (
            stats.UnratedRow(name, int(count), "few_votes" if not k else "not_connected")
            for name, count, k in zip(v.names, battles, keep, strict=True)
            if name not in shown and count > 0
        ),
        key=lambda u: (-u.battles, u.model),
    )
    return StyleBoard(
        key, int(v.a.size), rated, plain, coefficients, unrated, pairs, run.min_votes,
        v.from_messages, error,
    )  # fmt: skip


#: Boards already worked out, keyed by database, run id, run time and filter.
_BOARDS: dict[tuple[str, int, object, str], StyleBoard] = {}
_BOARDS_LOCK = threading.Lock()
_BOARDS_KEPT = 4 * len(FILTERS)


def style_board(session: Session, run: stats.RunInfo, key: str = ALL) -> StyleBoard:
    """The style-controlled board of filter ``key`` (``all`` or a key of
    :data:`arena.category_board.FILTERS`) for ``run``, worked out once per run.

    Raises :class:`ValueError` for an unknown filter.
    """
    if key != ALL:
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
