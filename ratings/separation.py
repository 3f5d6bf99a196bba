"""How far the board is from a settled order, and which pair of models helps most.

Two questions about a fitted board, answered from the Fisher information of the
Bradley-Terry fit:

* :func:`votes_until_separated`: for each pair of neighbours on the board, how many
  more votes (arena-wide, at a given sampling) until their intervals no longer
  overlap.
* :func:`pair_values`: how much one more vote between each pair of models would
  shrink the overlap of the neighbours whose order is about to be settled. The
  arena's active sampler (:mod:`arena.sampling`) plays the pair of greatest value.

Model
-----
With log-strengths ``theta`` and ``N[i, j]`` battles between ``i`` and ``j``, the
Fisher information is the weighted graph Laplacian

    I = sum_{i<j} N[i, j] p_ij (1 - p_ij) (e_i - e_j)(e_i - e_j)^T,

``p_ij = expit(theta_i - theta_j)``: the Hessian of :func:`ratings.bt.loss` at the
fit. The covariance of the ratings relative to the field mean is its
pseudo-inverse ``I^+`` (the Laplacian's null space is the constants). The board's
intervals are sandwich or bootstrap intervals, not this Fisher approximation (ties
make an outcome less variable than a binary one), so each model's projected
half-width is *calibrated*: ``half_i(m) = kappa_i * h_i(m)``, where ``h_i`` is the
Fisher half-width and ``kappa_i = half_i(0) / h_i(0)`` the ratio, today, of the
board's half-width to the Fisher one. The information and the variances it implies
are computed in :mod:`ratings.fisher`.

Assumptions: the ratings stay where they are (the gap between neighbours is taken
as known), future votes fall on pairs in the given shares, the outcome probabilities
are those of the fitted ratings, and each model's ratio ``kappa_i`` stays as it is
today. These make the numbers estimates of an order of magnitude, not promises: a
gap that shrinks as votes come in postpones separation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.bt import ELO_SCALE, expit
from ratings.errors import InvalidInputError
from ratings.fisher import field_variances, fisher_information, projected_variances

#: Votes beyond which a projection gives up (reported as never).
DEFAULT_HORIZON = 10_000_000
#: Points of the geometric grid of vote counts a projection is evaluated on.
GRID_POINTS = 241
#: Rating gaps below this (Elo points) never separate.
MIN_GAP = 1e-6
#: Neighbours whose gap is under this share of their summed half-widths wait
#: (:func:`neighbour_weight`).
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Separation:
    """Neighbours on the board and the votes each pair needs to separate.

    Parameters
    ----------
    upper, lower : ndarray of intp, shape (k - 1,)
        Model indices of each pair of neighbours, best pair first (``upper`` is
        rated higher).
    gap : ndarray of float64, shape (k - 1,)
        Rating of ``upper`` minus rating of ``lower`` (Elo points, >= 0).
    votes : ndarray of float64, shape (k - 1,)
        Further votes until the two intervals separate: 0 when they already do,
        ``inf`` when not within the horizon (or never: no gap, or a model that the
        sampling never plays).
    """

    upper: NDArray[np.intp]
    lower: NDArray[np.intp]
    gap: NDArray[np.float64]
    votes: NDArray[np.float64]


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must be strictly between 0 and 1, got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _calibration(half: NDArray[np.float64], fisher: NDArray[np.float64]) -> NDArray[np.float64]:
    """``kappa``: the board's half-width over the Fisher one (1 where either is unusable)."""
    usable = np.isfinite(half) & (half > 0) & np.isfinite(fisher) & (fisher > 0)
    return np.where(usable, half / np.where(usable, fisher, 1.0), 1.0)


def _neighbours(rating: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    order = np.argsort(-rating, kind="stable")
    return order[:-1], order[1:]


def votes_until_separated(
    rating: ArrayLike,
    half: ArrayLike,
    games: ArrayLike,
    *,
    level: float = 0.95,
    share: ArrayLike | None = None,
    horizon: float = DEFAULT_HORIZON,
) -> Separation:
    """Further votes until each pair of neighbours on the board has separate intervals.

    Neighbours are taken in rating order. A pair separates at the smallest number of
    further votes ``m`` with ``gap > half_upper(m) + half_lower(m)`` (the upper model's
    lower bound above the lower model's upper bound), the half-widths projected as
    the module docstring describes. The projection is evaluated on a geometric grid
    of vote counts up to ``horizon`` and interpolated between grid points.

    Parameters
    ----------
    rating : array_like, shape (k,)
        Elo-scale ratings.
    half : array_like, shape (k,)
        Today's interval half-widths (``(upper - lower) / 2``; ``inf`` where a side is
        unbounded: that model is then projected with the Fisher half-width alone).
    games : array_like, shape (k, k)
        Symmetric battle counts the ratings were fitted on.
    level : float
        Interval coverage the half-widths are for (0.95: z = 1.96).
    share : array_like, shape (k, k), optional
        Share of future votes each pair gets (symmetric; scaled to sum to 1 over
        pairs). Default: the observed shares, ``games`` over its total.
    horizon : float
        Largest number of further votes considered.

    Returns
    -------
    Separation
        The pairs of neighbours, their gaps and the votes each needs.

    Raises
    ------
    InvalidInputError
        On shapes that do not match, a level outside (0, 1) or an empty share.
    """
    rating = np.asarray(rating, dtype=np.float64)
    half = np.asarray(half, dtype=np.float64)
    games = np.asarray(games, dtype=np.float64)
    k = rating.shape[0]
    if half.shape != (k,) or games.shape != (k, k):
        raise InvalidInputError(f"rating, half and games must be (k,), (k,), (k, k); k = {k}")
    z = _z(level)
    share = games if share is None else np.asarray(share, dtype=np.float64)
    if share.shape != (k, k):
        raise InvalidInputError(f"share must be ({k}, {k}), got {share.shape}")
    total = np.triu(share, 1).sum()
    upper, lower = _neighbours(rating)
    gap = rating[upper] - rating[lower]
    if k < 2:
        return Separation(upper, lower, gap, np.zeros(0))
    if not total > 0:
        raise InvalidInputError("share must give some pair a positive share of votes")
    theta = rating / ELO_SCALE
    info_now = fisher_information(theta, games)
    info_vote = fisher_information(theta, share / total)
    steps = np.concatenate([[0.0], np.geomspace(1.0, horizon, GRID_POINTS)])
    fisher = z * ELO_SCALE * np.sqrt(projected_variances(info_now, info_vote, steps))
    projected = _calibration(half, fisher[0]) * fisher  # (grid, k)
    margin = gap[None, :] - projected[:, upper] - projected[:, lower]
    votes = np.full(k - 1, np.inf)
    for pair in range(k - 1):
        if gap[pair] < MIN_GAP:
            continue
        above = np.flatnonzero(margin[:, pair] > 0)
        if above.size == 0:
            continue
        first = above[0]
        if first == 0:
            votes[pair] = 0.0
            continue
        # Linear in log(votes) between the grid points around the crossing.
        m0, m1 = margin[first - 1, pair], margin[first, pair]
        lo = math.log(max(steps[first - 1], 0.5))
        hi = math.log(steps[first])
        if not np.isfinite(m0):
            votes[pair] = steps[first]
            continue
        at = lo + (hi - lo) * (-m0) / (m1 - m0)
        votes[pair] = float(max(1.0, math.ceil(math.exp(at))))
    return Separation(upper, lower, gap, votes)


def neighbour_weight(r: ArrayLike, threshold: float = DEFAULT_THRESHOLD) -> NDArray[np.float64]:
    """How much a pair of neighbours at ``r = gap / (half_u + half_l)`` counts.

    ``r > 1``: separated. Below 1 the weight is ``s(r) / r^2`` with ``s`` a steep
    sigmoid (``r^8 / (threshold^8 + r^8)``): ``1 / r^2`` is how many times the votes
    so far the pair would need at today's sampling, so among the pairs within reach
    the furthest from separating counts most, while pairs below ``threshold`` (their
    gap too small for the votes so far; ``threshold = 0.5`` means more than 3
    times the votes so far still to go) are left until the others are settled,
    instead of drawing votes to neighbours too close to tell apart. Above 1 the
    weight falls as ``r^-8``: a pair just separated keeps a few votes, so that noise
    does not join its intervals again.

    Parameters
    ----------
    r : array_like
        Gap over summed half-widths of each pair of neighbours (>= 0).
    threshold : float
        Where the sigmoid is one half.

    Returns
    -------
    ndarray
        Non-negative weights, the shape of ``r``.
    """
    r = np.maximum(np.asarray(r, dtype=np.float64), 1e-9)
    rise = r**8 / (threshold**8 + r**8)
    return np.where(r <= 1.0, rise / r**2, r**-8 / (threshold**8 + 1.0))


def pair_values(
    rating: ArrayLike,
    half: ArrayLike,
    games: ArrayLike,
    *,
    level: float = 0.95,
    fitted: ArrayLike | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> NDArray[np.float64]:
    """How much one more vote between each pair shrinks the overlaps that decide ranks.

    For neighbours ``(u, l)`` on the board with gap ``d`` and today's summed
    half-width ``s = half_u + half_l``, ``r = d / s`` says how far their order is from
    settled (separated at ``r > 1``); each pair of neighbours weighs
    :func:`neighbour_weight` ``(r)``, so votes go to the pairs that can separate soon,
    not to neighbours too close to tell apart. One vote between ``a`` and ``b`` adds
    ``w x x^T`` to the information (``x = e_a - e_b``, ``w = p(1-p)``); by
    Sherman-Morrison each model's variance falls by
    ``w (I^+ x)_i^2 / (1 + w x^T I^+ x)``. The value of the pair is
    ``sum g (shrink_u + shrink_l) / s`` over the pairs of neighbours, each model's
    half-width shrink calibrated as in the module docstring.

    Parameters
    ----------
    rating : array_like, shape (k,)
        Elo-scale ratings.
    half : array_like, shape (k,)
        Today's interval half-widths (``inf`` allowed: see
        :func:`votes_until_separated`).
    games : array_like, shape (k, k)
        Symmetric battle counts so far (may include battles newer than the ratings).
    level : float
        Interval coverage the half-widths are for.
    fitted : array_like, shape (k, k), optional
        The battle counts ``half`` was computed from (default ``games``): the
        calibration ``kappa`` is taken there, and today's half-widths are projected
        from them to ``games``, so values move on as battles come in between fits.
    threshold : float
        Of :func:`neighbour_weight`.

    Returns
    -------
    ndarray, shape (k, k)
        Symmetric, zero diagonal, non-negative. All zeros when the information graph
        is disconnected (no projection is possible).
    """
    rating = np.asarray(rating, dtype=np.float64)
    half = np.asarray(half, dtype=np.float64)
    games = np.asarray(games, dtype=np.float64)
    k = rating.shape[0]
    values = np.zeros((k, k))
    if k < 2:
        return values
    z = _z(level)
    theta = rating / ELO_SCALE
    info = fisher_information(theta, games)
    var = field_variances(info)
    if not np.all(np.isfinite(var)):
        return values
    cov = np.linalg.pinv(info, hermitian=True)
    fisher_half = z * ELO_SCALE * np.sqrt(var)
    if fitted is None:
        kappa = _calibration(half, fisher_half)
    else:
        then = field_variances(fisher_information(theta, np.asarray(fitted, dtype=np.float64)))
        kappa = _calibration(half, z * ELO_SCALE * np.sqrt(then))
    now = kappa * fisher_half
    upper, lower = _neighbours(rating)
    summed = now[upper] + now[lower]
    r = (rating[upper] - rating[lower]) / summed
    weight = neighbour_weight(r, threshold) / summed
    per_model = np.zeros(k)  # d(value) / d(half-width) of each model
    np.add.at(per_model, upper, weight)
    np.add.at(per_model, lower, weight)
    a, b = np.triu_indices(k, 1)
    p = expit(theta[a] - theta[b])
    w = p * (1.0 - p)
    u = cov[:, a] - cov[:, b]  # (k, pairs): I^+ x for each pair
    q = u[a, np.arange(a.size)] - u[b, np.arange(a.size)]
    drop = w * u**2 / (1.0 + w * q)  # (k, pairs): fall of each variance
    shrink = (
        kappa[:, None]
        * z
        * ELO_SCALE
        * (np.sqrt(var)[:, None] - np.sqrt(np.maximum(var[:, None] - drop, 0.0)))
    )
    value = per_model @ shrink
    values[a, b] = value
    values[b, a] = value
    return values
