"""What every fit shares, the plain one (:mod:`ratings.rate`), the style-controlled one
(:mod:`ratings.style`) and the Davidson tie model (:mod:`ratings.ties`): the options, the
kept models, the refusal of ``prior=0`` without a finite estimate, and from Elo-scale
ratings and interval ends the anchored :class:`RatingFit`.

The decisions (listed in :mod:`ratings.rate`) live here once: models without votes are
unrated, a graph in pieces is refused or cut to one piece, intervals are relative to the
mean of the core (:mod:`ratings.graph`) with an infinite end on a side the data cannot
bound, and the anchor sits at ``anchor_rating`` unless it has no votes, is not in the kept
piece or is unbounded, when the core's mean does (``anchor_fallback`` says why). The
style and tie fits estimate more than the ratings, so they cannot go through
:func:`ratings.rate.rate`; :func:`anchored` gives them their intervals from a covariance.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ratings.bt import ELO_SCALE, check_prior
from ratings.counts import PairCounts
from ratings.errors import DisconnectedGraphError, InvalidInputError, NoMLEError
from ratings.graph import Identifiability, components, identifiability
from ratings.intervals import rank_ub

OnDisconnected = Literal["error", "largest"]


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


@dataclass(frozen=True)
class Kept:
    """The models a fit rates.

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


def check_options(level: float, anchor: int | None, n_models: int, prior: float) -> None:
    """Refuse a coverage outside (0, 1), an anchor index outside the models, or a bad prior.

    Raises
    ------
    InvalidInputError
        On any of these.
    """
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must be strictly between 0 and 1, got {level}")
    if anchor is not None and not 0 <= anchor < n_models:
        raise InvalidInputError(f"anchor index {anchor} is outside 0..{n_models - 1}")
    check_prior(prior)


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


def kept_models(counts: PairCounts, anchor: int | None, on_disconnected: OnDisconnected) -> Kept:
    """The models to rate: those with votes, in one piece of the comparison graph.

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

    Raises
    ------
    DisconnectedGraphError
        If the graph is in pieces and ``on_disconnected="error"``.
    """
    games = counts.games
    has_votes = games.sum(axis=1) > 0
    models, dropped = _keep_piece(games, np.flatnonzero(has_votes), anchor, on_disconnected)
    position = np.full(counts.n_models, -1, dtype=np.intp)
    position[models] = np.arange(models.size)
    sub = counts.subset(models)
    return Kept(models, position, has_votes, dropped, sub, identifiability(sub.score))


def require_mle(kept: Kept, prior: float) -> None:
    """Refuse ``prior=0`` when some kept rating has no finite maximum-likelihood estimate.

    Raises
    ------
    NoMLEError
        If ``prior == 0`` and a kept model never lost or never won against the rest.
    """
    if prior == 0 and not kept.shape.mle_exists:
        raise NoMLEError(
            "with prior=0 the maximum-likelihood ratings do not exist: "
            f"{int((~kept.shape.core).sum())} model(s) never lost or never won against the "
            "rest; use prior > 0"
        )


def anchored_fit(
    centred: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    kept: Kept,
    *,
    anchor: int | None,
    anchor_rating: float,
    method: str,
    level: float,
    rounds: int | None,
    prior: float,
) -> RatingFit:
    """Anchor Elo-scale ratings and interval ends relative to the core's mean, and rank.

    Parameters
    ----------
    centred, lower, upper : ndarray, shape (k,)
        Ratings of the kept models and their interval ends, relative to the mean of the
        core; a side the data cannot bound is made infinite here.
    kept : Kept
        The kept models.
    anchor : int or None
        Requested anchor (caller's index space).
    anchor_rating : float
        Rating of the anchor (or of the core's mean on fallback).
    method, level, rounds, prior
        Reported as they are (see :class:`RatingFit`).

    Returns
    -------
    RatingFit
    """
    shape, models = kept.shape, kept.models
    used, fallback, at = None, None, 0
    if anchor is not None:
        where = np.flatnonzero(models == anchor)
        if not kept.has_votes[anchor]:
            fallback = "no-votes"
        elif where.size == 0:
            fallback = "not-in-kept-piece"
        elif shape.upper_unbounded[where[0]] or shape.lower_unbounded[where[0]]:
            fallback = "unbounded"
        else:
            used, at = anchor, where[0]
    offset = anchor_rating
    if used is not None:
        offset -= centred[at]
    rating = centred + offset
    if used is not None:
        rating[at] = anchor_rating
    lower, upper = lower + offset, upper + offset
    lower[shape.lower_unbounded] = -np.inf
    upper[shape.upper_unbounded] = np.inf
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
        method=method,
        level=level,
        rounds=rounds,
        prior=prior,
    )


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
    shape, k = kept.shape, kept.models.size
    if k:
        reference = shape.core / shape.core.sum()
        centring = np.eye(k) - np.outer(np.ones(k), reference)
        centred = ELO_SCALE * (centring @ theta)
        spread = np.clip(np.diag(centring @ cov @ centring.T), 0.0, None)
        half = NormalDist().inv_cdf(0.5 + level / 2.0) * ELO_SCALE * np.sqrt(spread)
        lower, upper = centred - half, centred + half
    else:
        centred = lower = upper = np.zeros(0)
    return anchored_fit(
        centred,
        lower,
        upper,
        kept,
        anchor=anchor,
        anchor_rating=anchor_rating,
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
