"""What the fits beyond the plain one share: the kept models, and from fitted
log-strengths and their covariance an anchored :class:`~ratings.rate.RatingFit`.

The style-controlled fit (:mod:`ratings.style`) and the Davidson tie model
(:mod:`ratings.ties`) estimate more than the ratings, so they cannot go through
:func:`ratings.rate.rate`; they follow its decisions all the same: models without
votes are unrated, a graph in pieces is refused or cut to one piece, intervals are
relative to the mean of the core (:mod:`ratings.graph`) with an infinite end on a side
the data cannot bound, and the anchor sits at ``anchor_rating`` unless it has no votes,
is not in the kept piece or is unbounded, when the core's mean does
(``anchor_fallback`` says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from ratings.bt import ELO_SCALE
from ratings.counts import PairCounts
from ratings.graph import Identifiability, identifiability
from ratings.intervals import rank_ub
from ratings.rate import OnDisconnected, RatingFit, _keep_piece


@dataclass(frozen=True)
class Kept:
    """The models a joint fit rates.

    Parameters
    ----------
    models : ndarray of intp
        Indices of the rated models (ascending).
    position : ndarray of intp, shape (n,)
        Each model's index among ``models``, -1 when not rated.
    has_votes : ndarray of bool, shape (n,)
        Models with at least one battle.
    dropped : ndarray of intp
        Models in another piece of the comparison graph.
    counts : PairCounts
        The counts restricted to ``models``.
    shape : Identifiability
        Which ratings the data bound (of the kept models).
    """

    models: NDArray[np.intp]
    position: NDArray[np.intp]
    has_votes: NDArray[np.bool_]
    dropped: NDArray[np.intp]
    counts: PairCounts
    shape: Identifiability


def kept_models(counts: PairCounts, anchor: int | None, on_disconnected: OnDisconnected) -> Kept:
    """The models to rate, as :func:`ratings.rate.rate` chooses them.

    Parameters
    ----------
    counts : PairCounts
        All battles.
    anchor : int or None
        The requested anchor (its piece is kept when the graph is cut).
    on_disconnected : {"error", "largest"}
        What to do when the comparison graph is in pieces.

    Returns
    -------
    Kept
    """
    games = counts.games
    has_votes = games.sum(axis=1) > 0
    models, dropped = _keep_piece(games, np.flatnonzero(has_votes), anchor, on_disconnected)
    position = np.full(counts.n_models, -1, dtype=np.intp)
    position[models] = np.arange(models.size)
    sub = counts.subset(models)
    return Kept(models, position, has_votes, dropped, sub, identifiability(sub.score))


def anchored(
    theta: NDArray[np.float64],
    cov: NDArray[np.float64],
    kept: Kept,
    *,
    anchor: int | None,
    anchor_rating: float,
    level: float,
    prior: float,
) -> RatingFit:
    """Anchored Elo-scale ratings with normal intervals from a covariance of ``theta``.

    Parameters
    ----------
    theta : ndarray, shape (k,)
        Log-strengths of the kept models.
    cov : ndarray, shape (k, k)
        Their covariance (any constant shift of ``theta`` is removed here).
    kept : Kept
        The kept models.
    anchor : int or None
        Requested anchor (caller's index space).
    anchor_rating : float
        Rating of the anchor.
    level : float
        Interval coverage.
    prior : float
        Virtual ties per model used in the fit (reported).

    Returns
    -------
    RatingFit
        With ``method="sandwich"``.
    """
    shape, models, k = kept.shape, kept.models, kept.models.size
    if k:
        reference = shape.core / shape.core.sum()
        centring = np.eye(k) - np.outer(np.ones(k), reference)
        centred = ELO_SCALE * (centring @ theta)
        spread = np.clip(np.diag(centring @ cov @ centring.T), 0.0, None)
        half = NormalDist().inv_cdf(0.5 + level / 2.0) * ELO_SCALE * np.sqrt(spread)
        lower, upper = centred - half, centred + half
        # Outside the core the data bound a rating on one side only (ratings.graph).
        lower[shape.lower_unbounded] = -np.inf
        upper[shape.upper_unbounded] = np.inf
    else:
        centred = lower = upper = np.zeros(0)
    used, fallback = None, None
    if anchor is not None:
        where = np.flatnonzero(models == anchor)
        if not kept.has_votes[anchor]:
            fallback = "no-votes"
        elif where.size == 0:
            fallback = "not-in-kept-piece"
        elif shape.upper_unbounded[where[0]] or shape.lower_unbounded[where[0]]:
            fallback = "unbounded"
        else:
            used = anchor
    offset = anchor_rating
    if used is not None:
        offset -= centred[np.flatnonzero(models == used)[0]]
    rating = centred + offset
    if used is not None:
        rating[models == used] = anchor_rating
    lower, upper = lower + offset, upper + offset
    return RatingFit(
        models=models,
        rating=rating,
        ci_lower=lower,
        ci_upper=upper,
        rank=rank_ub(lower, upper),
        in_core=shape.core,
        anchor=used,
        anchor_fallback=fallback,
        unrated=np.flatnonzero(~kept.has_votes),
        dropped=kept.dropped,
        method="sandwich",
        level=level,
        rounds=None,
        prior=prior,
    )


def shifted_inverse(h: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``(H + c u u^T)^-1`` for a Hessian ``H`` whose first ``n`` parameters are
    log-strengths, singular along their constant shift ``u``: on every direction that
    sums them to zero it is ``H``'s inverse, and ``G u = 0`` for any sum of score outer
    products, so ``shifted_inverse(H) G shifted_inverse(H)`` is the sandwich."""
    shift = max(float(np.trace(h[:n, :n])) / max(n, 1), 1e-12) / max(n, 1)
    out = h.copy()
    out[:n, :n] += shift
    return np.linalg.inv(out)
