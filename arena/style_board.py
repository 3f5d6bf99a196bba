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
from sqlalchemy import ColumnElement, literal_column, select, true
from sqlalchemy.orm import Session

from arena.category_board import ALL, FILTERS, condition, prior_of
from arena.dataset import with_conv_metadata
from arena.db import stats
from arena.db.counted import counted, in_window
from arena.db.models import Battle, Message, Model, Vote
from ratings import (
    ELO_SCALE,
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
#: The paths in ``conv_metadata`` (as the arena writes it) whose numbers add up to each
#: feature of :data:`ratings.STYLE_FEATURES`, ``{s}`` the side.
_PATHS = (
    [("sum_assistant_{s}_tokens",)],
    [("header_count_{s}", f"h{i}") for i in range(1, 7)],
    [("list_count_{s}", "ordered"), ("list_count_{s}", "unordered")],
    [("bold_count_{s}", "**"), ("bold_count_{s}", "__")],
)


def _sql_term(dialect: str, path: tuple[str, ...]) -> str:
    """One number of ``battles.meta``'s ``conv_metadata`` in SQL; NULL when it is absent
    (and, on PostgreSQL, when it is not a number)."""
    if dialect == "postgresql":  # j.cm: the battle's conv_metadata as jsonb (a lateral)
        at = "'{" + ",".join(f'"{p}"' for p in path) + "}'"
        return f"CASE WHEN jsonb_typeof(j.cm #> {at}) = 'number' THEN (j.cm #>> {at})::numeric END"
    keys = ".".join(p if p.replace("_", "").isalnum() else f'"{p}"' for p in path)
    return f"json_extract(battles.meta, '$.conv_metadata.{keys}')"


def _sql_counts(dialect: str) -> list[ColumnElement]:
    """Side A's four counts, then side B's, summed by the database (NULL if one is absent)."""
    out = []
    for side in "ab":
        for paths in _PATHS:
            terms = [_sql_term(dialect, tuple(p.format(s=side) for p in path)) for path in paths]
            # "+ 0": SQLite reads a count stored as text as a number (non-numeric text as 0)
            out.append(literal_column(" + ".join(terms) + " + 0"))
    return out


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
    """``conv_metadata`` of battles stored without it, from their answers (the style
    counts need no prompt)."""
    out: dict[str, dict] = {}
    for start in range(0, len(battle_ids), MESSAGE_CHUNK):
        chunk = battle_ids[start : start + MESSAGE_CHUNK]
        rows = session.execute(
            select(
                Message.battle_id, Message.id, Message.side, Message.turn, Message.role,
                Message.content, Message.num_tokens, Message.completion_tokens,
            ).where(Message.battle_id.in_(chunk), Message.role == "assistant")
        ).all()  # fmt: skip
        per_battle: dict[str, list] = {bid: [] for bid in chunk}
        for row in rows:
            per_battle[row.battle_id].append(row)
        for bid, messages in per_battle.items():
            out[bid] = json.loads(with_conv_metadata(None, messages))["conv_metadata"]
    return out


def _counts_from_meta(session: Session, battle_ids: list[str]) -> dict[str, dict]:
    """``conv_metadata`` of battles the database could not sum: every layout
    :func:`ratings.style_features.metadata_counts` reads (an imported file's own)."""
    out: dict[str, dict] = {}
    for start in range(0, len(battle_ids), MESSAGE_CHUNK):
        chunk = battle_ids[start : start + MESSAGE_CHUNK]
        for bid, meta in session.execute(
            select(Battle.id, Battle.meta).where(Battle.id.in_(chunk), Battle.meta.is_not(None))
        ):
            found = json.loads(meta).get("conv_metadata")
            if metadata_counts(found, "a") is not None and metadata_counts(found, "b") is not None:
                out[bid] = found
    return out


def _votes(session: Session, run: stats.RunInfo, key: str) -> _Votes:
    """The filter's counted votes, one row per battle, with both sides' style counts."""
    include_named = "named-mode battles included" in run.note
    where = [counted(include_named), *in_window(None, run.created_at)]
    if key != ALL:
        where.append(condition(key))
    dialect = session.get_bind().dialect.name
    query = (
        select(Battle.id, Battle.model_a_id, Battle.model_b_id, Vote.winner, *_sql_counts(dialect))
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
    )
    if dialect == "postgresql":  # the JSON is parsed once per row, not once per number
        cm = literal_column("battles.meta::jsonb -> 'conv_metadata'").label("cm")
        query = query.join(select(cm).offset(0).lateral("j"), true())
    rows = session.execute(query.where(*where).order_by(Battle.id)).all()
    counts = np.array([r[4:] for r in rows], dtype=np.float64).reshape(len(rows), 8)
    # NULL (absent, or not a count) becomes NaN: such battles are counted again below.
    unknown = np.flatnonzero(np.isnan(counts).any(axis=1) | (counts < 0).any(axis=1))
    missing = {rows[k][0]: int(k) for k in unknown}  # battle id -> row
    computed = _counts_from_meta(session, list(missing))
    from_messages = [bid for bid in missing if bid not in computed]
    computed.update(_counts_from_messages(session, from_messages))
    for bid, meta in computed.items():
        counts[missing[bid]] = [*metadata_counts(meta, "a"), *metadata_counts(meta, "b")]
    side_a, side_b = counts[:, :4], counts[:, 4:]
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
        len(from_messages),
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
