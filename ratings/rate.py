"""From aggregated counts to anchored ratings with intervals and ranks.

This is the one function the rest of the project needs for numbers
(:func:`rate`, or :func:`fit_counts` from raw index arrays): it decides which
models can be rated, fits, computes intervals, anchors the scale and ranks. It
knows no model names; :mod:`ratings.leaderboard` adds them.

Decisions, in order:

1. Models with no battles are not rated (listed in ``RatingFit.unrated``).
2. If the comparison graph is in pieces, ``on_disconnected="error"`` (the
   default) refuses with :class:`~ratings.errors.DisconnectedGraphError`;
   ``"largest"`` keeps the piece holding the anchor (else the largest piece)
   and lists the others in ``RatingFit.dropped``.
3. Fit with ``prior`` virtual ties per model (:mod:`ratings.bt`). With
   ``prior=0`` a model that never lost or never won has no finite estimate:
   :class:`~ratings.errors.NoMLEError`.
4. Intervals (sandwich or bootstrap) are for each rating relative to the mean
   of the *core* (the whole field when everyone both won and lost; see
   :mod:`ratings.graph`). Outside the core the point estimate comes from the
   prior alone: the side the data cannot bound is infinite (a model that never
   lost has no upper bound), and the other side is the exact bound from its
   perfect record (:func:`~ratings.intervals.bounds_outside_core`).
5. The scale is shifted so the anchor sits at ``anchor_rating`` exactly. If
   the anchor has no votes, is not in the kept piece, or its own rating is
   unbounded, the scale falls back to putting the core's mean at
   ``anchor_rating``, and ``RatingFit.anchor_fallback`` says why.
6. Rank (UB) from the intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.bt import DEFAULT_PRIOR, ELO_SCALE, check_prior, fit, regularised_score
from ratings.counts import PairCounts, aggregate
from ratings.errors import DisconnectedGraphError, InvalidInputError, NoMLEError
from ratings.graph import components, identifiability
from ratings.intervals import (
    bootstrap_intervals,
    bounds_outside_core,
    rank_ub,
    sandwich_intervals,
)

CIMethod = Literal["sandwich", "bootstrap"]
OnDisconnected = Literal["error", "largest"]

#: Rating given to the anchor (or to the core mean on fallback).
ANCHOR_RATING = 1000.0
#: Default interval coverage.
DEFAULT_LEVEL = 0.95
#: Default number of bootstrap rounds.
DEFAULT_ROUNDS = 1000


@dataclass(frozen=True)
class RatingFit:
    """Anchored ratings for the rated models, in the caller's index space.

    Parameters
    ----------
    models : ndarray of intp, shape (k,)
        Indices of the rated models (ascending); every other array is aligned
        with it.
    rating, ci_lower, ci_upper : ndarray of float64, shape (k,)
        Elo-scale rating and interval ends (``-inf``/``inf`` where the data
        cannot bound that side).
    rank : ndarray of int64, shape (k,)
        Rank (UB).
    in_core : ndarray of bool, shape (k,)
        Member of the reference set the intervals are relative to.
    anchor : int or None
        Index of the anchor used, or None when the scale fell back to the
        core mean.
    anchor_fallback : str or None
        Why the requested anchor was not used: ``"no-votes"``,
        ``"not-in-kept-piece"`` or ``"unbounded"``; None otherwise (also when
        no anchor was requested).
    unrated : ndarray of intp
        Models with no battles.
    dropped : ndarray of intp
        Models left out because they are in another piece of the graph.
    method : str
        ``"sandwich"`` or ``"bootstrap"``.
    level : float
        Interval coverage.
    rounds : int or None
        Bootstrap rounds (None for the sandwich).
    prior : float
        Virtual ties per model used in the fit.
    """

    models: NDArray[np.intp]
    rating: NDArray[np.float64]
    ci_lower: NDArray[np.float64]
    ci_upper: NDArray[np.float64]
    rank: NDArray[np.int64]
    in_core: NDArray[np.bool_]
    anchor: int | None
    anchor_fallback: str | None
    unrated: NDArray[np.intp]
    dropped: NDArray[np.intp]
    method: str
    level: float
    rounds: int | None
    prior: float


def _keep_piece(
    games: NDArray[np.float64],
    rated: NDArray[np.intp],
    anchor: int | None,
    on_disconnected: OnDisconnected,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    pieces = [rated[p] for p in components(games[np.ix_(rated, rated)])]
    if len(pieces) <= 1:
        return rated, np.zeros(0, dtype=np.intp)
    if on_disconnected == "error":
        sizes = ", ".join(str(len(p)) for p in pieces)
        raise DisconnectedGraphError(
            f"the comparison graph has {len(pieces)} separate pieces (sizes {sizes}): "
            "ratings in different pieces were never compared and share no scale",
            pieces,
        )
    if on_disconnected != "largest":
        raise InvalidInputError(
            f"on_disconnected must be 'error' or 'largest', got {on_disconnected!r}"
        )
    keep = next((p for p in pieces if anchor is not None and anchor in p), pieces[0])
    dropped = np.sort(np.concatenate([p for p in pieces if p is not keep]))
    return keep, dropped


def _empty_fit(
    anchor: int | None,
    unrated: NDArray[np.intp],
    ci: str,
    level: float,
    rounds: int,
    prior: float,
) -> RatingFit:
    empty = np.zeros(0)
    return RatingFit(
        models=np.zeros(0, dtype=np.intp),
        rating=empty,
        ci_lower=empty,
        ci_upper=empty,
        rank=np.zeros(0, dtype=np.int64),
        in_core=np.zeros(0, dtype=bool),
        anchor=None,
        anchor_fallback=None if anchor is None else "no-votes",
        unrated=unrated,
        dropped=np.zeros(0, dtype=np.intp),
        method=ci,
        level=level,
        rounds=rounds if ci == "bootstrap" else None,
        prior=prior,
    )


def rate(
    counts: PairCounts,
    *,
    anchor: int | None,
    ci: CIMethod = "sandwich",
    level: float = DEFAULT_LEVEL,
    rounds: int = DEFAULT_ROUNDS,
    rng: np.random.Generator | None = None,
    prior: float = DEFAULT_PRIOR,
    anchor_rating: float = ANCHOR_RATING,
    on_disconnected: OnDisconnected = "error",
) -> RatingFit:
    """Fit, compute intervals, anchor and rank (see the module docstring).

    Parameters
    ----------
    counts : PairCounts
        Aggregated battles (:func:`ratings.bt.aggregate`).
    anchor : int or None
        Index of the model pinned at ``anchor_rating``; None pins the core mean.
    ci : {"sandwich", "bootstrap"}
        Interval method.
    level : float
        Interval coverage, strictly between 0 and 1.
    rounds : int
        Bootstrap rounds (ignored for the sandwich).
    rng : numpy.random.Generator, optional
        Required for the bootstrap.
    prior : float
        Virtual ties per model (``0`` for the plain MLE).
    anchor_rating : float
        Rating of the anchor.
    on_disconnected : {"error", "largest"}
        What to do when the comparison graph is in pieces.

    Returns
    -------
    RatingFit
        Ratings, intervals and ranks of the rated models.

    Raises
    ------
    DisconnectedGraphError
        If the graph is in pieces and ``on_disconnected="error"``.
    NoMLEError
        If ``prior == 0`` and some ratings have no finite estimate.
    InvalidInputError
        On bad options (unknown method, level outside (0, 1), missing rng).
    """
    if ci not in ("sandwich", "bootstrap"):
        raise InvalidInputError(f"ci must be 'sandwich' or 'bootstrap', got {ci!r}")
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must be strictly between 0 and 1, got {level}")
    if ci == "bootstrap" and rng is None:
        raise InvalidInputError("the bootstrap needs a seeded numpy.random.Generator (rng)")
    n = counts.n_models
    if anchor is not None and not 0 <= anchor < n:
        raise InvalidInputError(f"anchor index {anchor} is outside 0..{n - 1}")
    check_prior(prior)

    games = counts.games
    has_votes = games.sum(axis=1) > 0
    rated = np.flatnonzero(has_votes)
    unrated = np.flatnonzero(~has_votes)
    kept, dropped = _keep_piece(games, rated, anchor, on_disconnected)
    if kept.size == 0:
        return _empty_fit(anchor, unrated, ci, level, rounds, prior)
    sub = counts.subset(kept)

    shape = identifiability(sub.score)
    if prior == 0 and not shape.mle_exists:
        raise NoMLEError(
            "with prior=0 the maximum-likelihood ratings do not exist: "
            f"{int((~shape.core).sum())} model(s) never lost or never won against the rest; "
            "use prior > 0"
        )
    theta = fit(regularised_score(sub.score, prior))

    reference = shape.core.astype(np.float64)
    if ci == "sandwich":
        lower, upper = sandwich_intervals(theta, sub, prior=prior, level=level, reference=reference)
    else:
        assert rng is not None
        lower, upper = bootstrap_intervals(
            sub, rng=rng, rounds=rounds, prior=prior, level=level, reference=reference, theta0=theta
        )
    centred = ELO_SCALE * (theta - theta[shape.core].mean())

    used_anchor, fallback = None, None
    if anchor is not None:
        position = np.flatnonzero(kept == anchor)
        if not has_votes[anchor]:
            fallback = "no-votes"
        elif position.size == 0:
            fallback = "not-in-kept-piece"
        elif shape.upper_unbounded[position[0]] or shape.lower_unbounded[position[0]]:
            fallback = "unbounded"
        else:
            used_anchor = anchor
    offset = anchor_rating
    if used_anchor is not None:
        offset -= centred[np.flatnonzero(kept == used_anchor)[0]]
    rating = centred + offset
    if used_anchor is not None:
        rating[kept == used_anchor] = anchor_rating
    if not shape.mle_exists:
        lower, upper = bounds_outside_core(theta, sub, shape, level=level, lower=lower, upper=upper)
    lower = lower + offset
    upper = upper + offset
    return RatingFit(
        models=kept,
        rating=rating,
        ci_lower=lower,
        ci_upper=upper,
        rank=rank_ub(lower, upper),
        in_core=shape.core,
        anchor=used_anchor,
        anchor_fallback=fallback,
        unrated=unrated,
        dropped=dropped,
        method=ci,
        level=level,
        rounds=rounds if ci == "bootstrap" else None,
        prior=prior,
    )


def fit_counts(
    a_idx: ArrayLike,
    b_idx: ArrayLike,
    outcome: ArrayLike,
    count: ArrayLike | None = None,
    *,
    n_models: int,
    anchor: int | None,
    ci: CIMethod = "sandwich",
    level: float = DEFAULT_LEVEL,
    rounds: int = DEFAULT_ROUNDS,
    rng: np.random.Generator | None = None,
    prior: float = DEFAULT_PRIOR,
    anchor_rating: float = ANCHOR_RATING,
    on_disconnected: OnDisconnected = "error",
) -> RatingFit:
    """Aggregate battle rows (optionally with counts) and :func:`rate` them.

    Parameters
    ----------
    a_idx, b_idx : array_like of int, shape (m,)
        Model indices of sides A and B.
    outcome : array_like of int, shape (m,)
        :class:`~ratings.outcomes.Outcome` codes.
    count : array_like, shape (m,), optional
        Battles per row (e.g. from ``GROUP BY model_a, model_b, winner``).
    n_models : int
        Number of models (indices run over ``0..n_models-1``).
    anchor, ci, level, rounds, rng, prior, anchor_rating, on_disconnected
        As for :func:`rate`.

    Returns
    -------
    RatingFit
        Ratings, intervals and ranks.
    """
    counts = aggregate(a_idx, b_idx, outcome, n_models, count)
    return rate(
        counts,
        anchor=anchor,
        ci=ci,
        level=level,
        rounds=rounds,
        rng=rng,
        prior=prior,
        anchor_rating=anchor_rating,
        on_disconnected=on_disconnected,
    )
