"""The per-model leaderboard from battles: names, ratings, intervals and vote counts.

:mod:`ratings.rate` works on indices; the functions here take model names, fit with
it, and return the table of :mod:`ratings.table`, which puts the names on the
result, adds the battle counts (wins, both kinds of tie, losses, win rate) and
any external per-model columns (e.g. Japanese MT-Bench scores), and explains
in plain words every fallback the fit took (``Leaderboard.notes``).

Terms used in the table:

* ``ties`` is the total of both kinds of tie; ``ties_plain`` counts
  ``tie`` votes and ``ties_bothbad`` counts ``tie (bothbad)`` votes.
* ``win_rate = wins / battles``: ties are not wins (the seed table's
  definition), even though the fit counts each tie as half a win.
* ``rank`` is rank (UB): 1 + the number of models whose interval lies wholly
  above this model's interval.
* Intervals are for a rating relative to the mean rating of the field (the
  core, see :mod:`ratings.graph`), shown on the anchored scale; an infinite end
  means the data cannot bound that side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.bt import DEFAULT_PRIOR
from ratings.counts import aggregate
from ratings.errors import DisconnectedGraphError, InvalidInputError
from ratings.outcomes import encode_winners
from ratings.rate import (
    ANCHOR_RATING,
    DEFAULT_LEVEL,
    DEFAULT_ROUNDS,
    CIMethod,
    OnDisconnected,
    RatingFit,
    rate,
)
from ratings.table import JSON_KEYS, External, Leaderboard, LeaderboardRow, build_leaderboard

#: The arena's anchor model. Used by the CLI and the arena's recompute as the
#: default; the functions here take the anchor explicitly.
DEFAULT_ANCHOR = "Tanuki-8B-dpo-v1.0"

# The table's types are defined in ratings.table; they stay importable from here.
__all__ = [
    "DEFAULT_ANCHOR",
    "JSON_KEYS",
    "Leaderboard",
    "LeaderboardRow",
    "build_leaderboard",
    "leaderboard",
    "leaderboard_from_counts",
]


def leaderboard_from_counts(
    names: Sequence[str],
    a_idx: ArrayLike,
    b_idx: ArrayLike,
    outcome: ArrayLike,
    count: ArrayLike | None = None,
    *,
    anchor: str | None,
    external: External | None = None,
    ci: CIMethod = "sandwich",
    level: float = DEFAULT_LEVEL,
    rounds: int = DEFAULT_ROUNDS,
    rng: np.random.Generator | None = None,
    prior: float = DEFAULT_PRIOR,
    anchor_rating: float = ANCHOR_RATING,
    on_disconnected: OnDisconnected = "error",
) -> Leaderboard:
    """Leaderboard from integer battle rows, optionally pre-aggregated with counts.

    This is the fast path for the database layer: rows of
    ``(model_a, model_b, winner, count)`` from a ``GROUP BY``, as indices into
    ``names`` and :class:`~ratings.outcomes.Outcome` codes.

    Parameters
    ----------
    names : sequence of str
        Model names; every index refers to this list. Names without battles
        are listed as unrated in the notes.
    a_idx, b_idx : array_like of int, shape (m,)
        Side A and side B model indices.
    outcome : array_like of int, shape (m,)
        Outcome codes.
    count : array_like, shape (m,), optional
        Battles per row; one per row by default.
    anchor : str or None
        Name of the model pinned at ``anchor_rating`` (None: the field mean).
        Falls back to the field mean, with a note, if it has no votes.
    external : mapping of str to mapping, optional
        ``{model: {column: value}}`` carried into the rows.
    ci, level, rounds, rng, prior, anchor_rating, on_disconnected
        As for :func:`ratings.rate.rate`.

    Returns
    -------
    Leaderboard
        The table.

    Raises
    ------
    RatingsError
        See :func:`ratings.rate.rate`; a disconnected graph names the models of
        each piece.
    """
    names = list(names)
    if len(set(names)) != len(names):
        raise InvalidInputError("model names must be unique")
    counts = aggregate(a_idx, b_idx, outcome, len(names), count)
    anchor_index = names.index(anchor) if anchor in names else None
    try:
        result = rate(
            counts,
            anchor=anchor_index,
            ci=ci,
            level=level,
            rounds=rounds,
            rng=rng,
            prior=prior,
            anchor_rating=anchor_rating,
            on_disconnected=on_disconnected,
        )
    except DisconnectedGraphError as err:
        pieces = "; ".join(
            "[" + ", ".join(names[i] for i in piece) + "]" for piece in err.components
        )
        raise DisconnectedGraphError(f"{err} — pieces: {pieces}", err.components) from err
    if anchor is not None and anchor_index is None and result.rating.size:
        result = _with_fallback(result, "no-votes")
    return build_leaderboard(
        names, counts, result, anchor=anchor, anchor_rating=anchor_rating, external=external
    )


def _with_fallback(result: RatingFit, reason: str) -> RatingFit:
    return replace(result, anchor_fallback=reason)


def leaderboard(
    model_a: Sequence[str] | NDArray[np.str_],
    model_b: Sequence[str] | NDArray[np.str_],
    winner: Sequence[str] | NDArray[np.str_],
    *,
    anchor: str | None,
    external: External | None = None,
    ci: CIMethod = "sandwich",
    level: float = DEFAULT_LEVEL,
    rounds: int = DEFAULT_ROUNDS,
    rng: np.random.Generator | None = None,
    prior: float = DEFAULT_PRIOR,
    anchor_rating: float = ANCHOR_RATING,
    on_disconnected: OnDisconnected = "error",
) -> Leaderboard:
    """Leaderboard from one row per battle with names and ``winner`` strings.

    Parameters
    ----------
    model_a, model_b : sequence of str, shape (m,)
        Model names on each side.
    winner : sequence of str, shape (m,)
        ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)`` (or ``both_bad``).
    anchor, external, ci, level, rounds, rng, prior, anchor_rating, on_disconnected
        As for :func:`leaderboard_from_counts`.

    Returns
    -------
    Leaderboard
        The table.

    Raises
    ------
    InvalidInputError
        On an unknown winner value (naming the battle) or mismatched lengths.
    """
    side_a = np.asarray(model_a, dtype=str)
    side_b = np.asarray(model_b, dtype=str)
    if side_a.shape != side_b.shape or side_a.ndim != 1:
        raise InvalidInputError("model_a and model_b must be 1-D and of equal length")
    codes = encode_winners(winner)
    if codes.shape != side_a.shape:
        raise InvalidInputError("winner must have one value per battle")
    names, inverse = np.unique(np.concatenate([side_a, side_b]), return_inverse=True)
    a_idx, b_idx = inverse[: side_a.size], inverse[side_a.size :]
    return leaderboard_from_counts(
        [str(name) for name in names],
        a_idx,
        b_idx,
        codes,
        anchor=anchor,
        external=external,
        ci=ci,
        level=level,
        rounds=rounds,
        rng=rng,
        prior=prior,
        anchor_rating=anchor_rating,
        on_disconnected=on_disconnected,
    )
