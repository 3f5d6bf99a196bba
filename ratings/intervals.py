"""Confidence intervals for Bradley-Terry ratings, and rank (UB).

A rating is only defined up to an additive constant, so an interval has to say
*relative to what*. Here every interval is for a model's rating minus the mean
rating of a reference set of models (``reference`` weights, normally the
equally weighted core of :mod:`ratings.graph`, i.e. the whole field when
every model both won and lost). The caller then shifts the whole scale so the
anchor sits at its fixed rating; the anchor's own interval is thus its
uncertainty relative to the field, not a fake zero-width interval.

Two methods:

* :func:`sandwich_intervals`: the robust (sandwich) covariance
  ``H^-1 G H^-1`` of the estimate. ``H`` is the Hessian of the (regularised)
  negative log-likelihood; ``G`` sums, over battle rows times their counts,
  the outer products of the per-row scores ``(y - p) x`` with ``y`` in
  {0, 1/2, 1}, ``p`` the fitted probability and ``x = e_a - e_b``. Ties make
  the binomial variance assumption wrong; the sandwich does not rely on it.
* :func:`bootstrap_intervals`: percentile intervals from a seeded multinomial
  bootstrap of the aggregated counts. All count tables are drawn at once and
  fitted at once by batched Newton (:func:`ratings.bt.fit_batch`).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from ratings.bt import ELO_SCALE, expit, fit_batch, hessian, log_expit, regularised_score
from ratings.counts import PairCounts
from ratings.errors import InvalidInputError
from ratings.graph import Identifiability


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must be strictly between 0 and 1, got {level}")


def _centring(reference: NDArray[np.float64]) -> NDArray[np.float64]:
    """Matrix ``I - 1 w^T`` mapping theta to theta minus the weighted mean."""
    n = reference.shape[0]
    return np.eye(n) - np.outer(np.ones(n), reference / reference.sum())


def score_outer_products(theta: NDArray[np.float64], counts: PairCounts) -> NDArray[np.float64]:
    """The ``G`` matrix: sum over battles of the score outer products.

    For a battle between ``i`` and ``j`` with outcome ``y`` for ``i`` (1 win,
    0 loss, 1/2 either tie) the score is ``(y - p_ij)(e_i - e_j)``. Battles of
    the same pair and outcome share a score, so ``G`` is assembled from the
    counts: with ``c_ij = W_ij (1-p)^2 + W_ji p^2 + T_ij (1/2-p)^2`` it is the
    graph Laplacian of ``c``.

    Parameters
    ----------
    theta : ndarray, shape (n,)
        Fitted log-strengths.
    counts : PairCounts
        The data (no prior: the prior is not random).

    Returns
    -------
    ndarray, shape (n, n)
        ``G``, symmetric positive semi-definite.
    """
    p = expit(theta[:, None] - theta[None, :])
    tied = counts.ties + counts.bothbad
    c = counts.wins * (1.0 - p) ** 2 + counts.wins.T * p**2 + tied * (0.5 - p) ** 2
    g = -c
    g[np.diag_indices_from(g)] += c.sum(axis=1)
    return g


def sandwich_covariance(
    theta: NDArray[np.float64], counts: PairCounts, prior: float
) -> NDArray[np.float64]:
    """Sandwich covariance ``H^+ G H^+`` of the sum-to-zero log-strengths.

    Parameters
    ----------
    theta : ndarray, shape (n,)
        Fitted log-strengths (the fit used ``prior``).
    counts : PairCounts
        The data.
    prior : float
        Virtual ties per model used in the fit (enters ``H`` only).

    Returns
    -------
    ndarray, shape (n, n)
        Covariance in log-odds units squared; its rows sum to zero.
    """
    n = theta.shape[0]
    h = hessian(theta, regularised_score(counts.score, prior))
    # H is a Laplacian (null space = constants). (H + c 11^T/n)^-1 = H^+ + 11^T/(c n),
    # and G 1 = 0, so the constant part drops out of the sandwich.
    shift = max(float(np.trace(h)) / n, 1e-12) / n
    h_inv = np.linalg.inv(h + shift)
    cov = h_inv @ score_outer_products(theta, counts) @ h_inv
    return 0.5 * (cov + cov.T)


def sandwich_intervals(
    theta: NDArray[np.float64],
    counts: PairCounts,
    *,
    prior: float,
    level: float,
    reference: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Normal intervals from the sandwich covariance, relative to a reference mean.

    Parameters
    ----------
    theta : ndarray, shape (n,)
        Fitted log-strengths.
    counts : PairCounts
        The data.
    prior : float
        Virtual ties per model used in the fit.
    level : float
        Coverage, e.g. 0.95.
    reference : ndarray, shape (n,)
        Non-negative weights of the reference set (need not sum to 1).

    Returns
    -------
    lower, upper : ndarray, shape (n,)
        Interval ends for ``ELO_SCALE * (theta - mean_ref(theta))``.
    """
    _check_level(level)
    t = _centring(reference)
    centred = ELO_SCALE * (t @ theta)
    cov = t @ sandwich_covariance(theta, counts, prior) @ t.T
    half = (
        NormalDist().inv_cdf(0.5 + level / 2.0)
        * ELO_SCALE
        * np.sqrt(np.clip(np.diag(cov), 0.0, None))
    )
    return centred - half, centred + half


def bootstrap_scores(
    counts: PairCounts, rng: np.random.Generator, rounds: int
) -> NDArray[np.float64]:
    """Score matrices of multinomial resamples of the aggregated counts.

    Resampling every battle with replacement is the same, in distribution, as
    one multinomial draw over the cells (pair, outcome) with the observed
    proportions; cells are merged by unordered pair and by outcome as seen by
    the BT fit (``i`` wins, ``j`` wins, either tie), which again leaves the
    distribution of the fitted data unchanged.

    Parameters
    ----------
    counts : PairCounts
        The data; counts must be whole numbers.
    rng : numpy.random.Generator
        Source of randomness (seed it for reproducible intervals).
    rounds : int
        Number of resamples.

    Returns
    -------
    ndarray, shape (rounds, n, n)
        Score matrices (wins plus half ties), without prior.
    """
    if rounds < 1:
        raise InvalidInputError(f"rounds must be >= 1, got {rounds}")
    n = counts.n_models
    iu, ju = np.triu_indices(n, 1)
    tied = counts.ties + counts.bothbad
    cells = np.concatenate([counts.wins[iu, ju], counts.wins[ju, iu], tied[iu, ju]])
    total = float(cells.sum())
    if not np.allclose(cells, np.rint(cells)):
        raise InvalidInputError("the bootstrap needs whole-number counts")
    used = np.flatnonzero(cells > 0)
    draws = rng.multinomial(round(total), cells[used] / total, size=rounds)
    resampled = np.zeros((rounds, cells.size))
    resampled[:, used] = draws
    pairs = iu.size
    half_ties = 0.5 * resampled[:, 2 * pairs :]
    scores = np.zeros((rounds, n, n))
    scores[:, iu, ju] = resampled[:, :pairs] + half_ties
    scores[:, ju, iu] = resampled[:, pairs : 2 * pairs] + half_ties
    return scores


def bootstrap_thetas(
    counts: PairCounts,
    *,
    rng: np.random.Generator,
    rounds: int,
    prior: float,
    theta0: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Fitted log-strengths of every bootstrap round, fitted all at once.

    Parameters
    ----------
    counts : PairCounts
        The data.
    rng : numpy.random.Generator
        Source of randomness.
    rounds : int
        Number of resamples.
    prior : float
        Virtual ties per model (the same as for the point estimate).
    theta0 : ndarray, shape (n,), optional
        Warm start, normally the full-data estimate.

    Returns
    -------
    ndarray, shape (rounds, n)
        Sum-to-zero log-strengths per round.
    """
    scores = regularised_score(bootstrap_scores(counts, rng, rounds), prior)
    return fit_batch(scores, theta0)


def bootstrap_intervals(
    counts: PairCounts,
    *,
    rng: np.random.Generator,
    rounds: int,
    prior: float,
    level: float,
    reference: NDArray[np.float64],
    theta0: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Percentile intervals from a multinomial bootstrap, relative to a reference mean.

    Parameters
    ----------
    counts : PairCounts
        The data.
    rng : numpy.random.Generator
        Source of randomness.
    rounds : int
        Number of resamples (a few hundred or more for 95% intervals).
    prior : float
        Virtual ties per model.
    level : float
        Coverage, e.g. 0.95.
    reference : ndarray, shape (n,)
        Non-negative weights of the reference set.
    theta0 : ndarray, shape (n,), optional
        Warm start.

    Returns
    -------
    lower, upper : ndarray, shape (n,)
        Interval ends for ``ELO_SCALE * (theta - mean_ref(theta))``.
    """
    _check_level(level)
    thetas = bootstrap_thetas(counts, rng=rng, rounds=rounds, prior=prior, theta0=theta0)
    centred = ELO_SCALE * (thetas @ _centring(reference).T)
    tail = (1.0 - level) / 2.0
    lower, upper = np.quantile(centred, [tail, 1.0 - tail], axis=0)
    return lower, upper


def _log_all_lost(shift: float, theta: NDArray[np.float64], losses: NDArray[np.float64]) -> float:
    """log P(the group loses every game it lost) when its log-strengths rise by ``shift``."""
    return float(np.sum(losses * log_expit(theta[None, :] - theta[:, None] - shift)))


def _exact_shift(theta: NDArray[np.float64], losses: NDArray[np.float64], tail: float) -> float:
    """Largest shift at which losing all ``losses`` still has probability >= ``tail``."""
    # Only for models outside the core (no maximum-likelihood estimate): scipy is
    # imported here, not by every fit.
    from scipy.optimize import brentq

    target = math.log(tail)
    if _log_all_lost(0.0, theta, losses) <= target:
        return 0.0
    high = 1.0
    while _log_all_lost(high, theta, losses) > target:
        high *= 2.0
    return float(brentq(lambda s: _log_all_lost(s, theta, losses) - target, 0.0, high))


def bounds_outside_core(
    theta: NDArray[np.float64],
    counts: PairCounts,
    shape: Identifiability,
    *,
    level: float,
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Replace the interval ends of models outside the core by honest ones.

    Outside the core the fit is held in place by the prior, so sandwich and
    bootstrap ends mean nothing there (a model that lost every game keeps
    losing in every resample). Instead, for each strongly connected group
    outside the core:

    * the side the data cannot bound is infinite;
    * the other side, if the group played the core directly, is the exact
      one-sided bound from its perfect record: for a group that lost every
      game against the core, the highest rating (moving the group together)
      at which losing all those games still has probability ``(1 - level) / 2``
      given the core's fitted ratings; mirrored for a group that never lost;
    * otherwise that side is infinite too (not placed by the data).

    Parameters
    ----------
    theta : ndarray, shape (n,)
        Fitted log-strengths.
    counts : PairCounts
        The data.
    shape : Identifiability
        Core and unbounded sides (:func:`ratings.graph.identifiability`).
    level : float
        Interval coverage.
    lower, upper : ndarray, shape (n,)
        Interval ends on the Elo scale, relative to the core mean; entries
        of core models are kept.

    Returns
    -------
    lower, upper : ndarray, shape (n,)
        The ends with every model outside the core replaced.
    """
    _check_level(level)
    lower, upper = lower.copy(), upper.copy()
    centred = ELO_SCALE * (theta - theta[shape.core].mean())
    tail = (1.0 - level) / 2.0
    core = np.flatnonzero(shape.core)
    for label in np.unique(shape.group[~shape.core]):
        members = np.flatnonzero(shape.group == label)
        losses = counts.wins[np.ix_(core, members)]  # core beat the group
        wins = counts.wins[np.ix_(members, core)]  # the group beat the core
        lower[members], upper[members] = -np.inf, np.inf
        bounded_above = not shape.upper_unbounded[members[0]]
        bounded_below = not shape.lower_unbounded[members[0]]
        if bounded_above and losses.sum() > 0:
            pair_theta = np.concatenate([theta[members], theta[core]])
            loss_matrix = np.zeros((pair_theta.size, pair_theta.size))
            loss_matrix[: members.size, members.size :] = losses.T
            shift = _exact_shift(pair_theta, loss_matrix, tail)
            upper[members] = centred[members] + ELO_SCALE * shift
        if bounded_below and wins.sum() > 0:
            pair_theta = np.concatenate([-theta[members], -theta[core]])
            loss_matrix = np.zeros((pair_theta.size, pair_theta.size))
            loss_matrix[: members.size, members.size :] = wins
            shift = _exact_shift(pair_theta, loss_matrix, tail)
            lower[members] = centred[members] - ELO_SCALE * shift
    return lower, upper


def rank_ub(lower: NDArray[np.float64], upper: NDArray[np.float64]) -> NDArray[np.int64]:
    """Rank (UB): 1 + the number of models whose lower bound exceeds this upper bound.

    Parameters
    ----------
    lower, upper : ndarray, shape (n,)
        Interval ends (infinite ends allowed).

    Returns
    -------
    ndarray of int64, shape (n,)
        Ranks; tied models share a rank.
    """
    ordered = np.sort(lower)
    above = ordered.size - np.searchsorted(ordered, upper, side="right")
    return (1 + above).astype(np.int64)
