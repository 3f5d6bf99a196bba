"""From aggregated counts to anchored ratings with intervals and ranks.

This is the one function the rest of the project needs for numbers
(:func:`rate`, or :func:`fit_counts` from raw index arrays): it decides which
models can be rated, fits, computes intervals, anchors the scale and ranks. It
knows no model names; :mod:`ratings.leaderboard` adds them. What it shares with the
style-controlled and Davidson fits (the options, the kept models, the refusal without a
finite estimate, anchoring and :class:`~ratings.joint.RatingFit`) is
:mod:`ratings.joint`'s.

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

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.bt import DEFAULT_PRIOR, ELO_SCALE, fit, regularised_score
from ratings.counts import PairCounts, aggregate
from ratings.errors import InvalidInputError
from ratings.intervals import bootstrap_intervals, bounds_outside_core, sandwich_intervals
from ratings.joint import (
    Kept,
    OnDisconnected,
    RatingFit,
    anchored_fit,
    check_options,
    kept_models,
    require_mle,
)

CIMethod = Literal["sandwich", "bootstrap"]

#: Rating given to the anchor (or to the core mean on fallback).
ANCHOR_RATING = 1000.0
#: Default interval coverage.
DEFAULT_LEVEL = 0.95
#: Default number of bootstrap rounds.
DEFAULT_ROUNDS = 1000


def _estimate(
    kept: Kept,
    *,
    ci: CIMethod,
    level: float,
    rounds: int,
    rng: np.random.Generator | None,
    prior: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Elo-scale ratings of the kept models and their interval ends, relative to the
    core's mean (steps 3 and 4 of the module docstring)."""
    if kept.models.size == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    sub, shape = kept.counts, kept.shape
    require_mle(kept, prior)
    theta = fit(regularised_score(sub.score, prior))
    reference = shape.core.astype(np.float64)
    if ci == "sandwich":
        lower, upper = sandwich_intervals(theta, sub, prior=prior, level=level, reference=reference)
    else:
        assert rng is not None
        lower, upper = bootstrap_intervals(
            sub, rng=rng, rounds=rounds, prior=prior, level=level, reference=reference, theta0=theta
        )
    if not shape.mle_exists:
        lower, upper = bounds_outside_core(theta, sub, shape, level=level, lower=lower, upper=upper)
    return ELO_SCALE * (theta - theta[shape.core].mean()), lower, upper


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
    if ci == "bootstrap" and rng is None:
        raise InvalidInputError("the bootstrap needs a seeded numpy.random.Generator (rng)")
    check_options(level, anchor, counts.n_models, prior)

    kept = kept_models(counts, anchor, on_disconnected)
    centred, lower, upper = _estimate(kept, ci=ci, level=level, rounds=rounds, rng=rng, prior=prior)
    return anchored_fit(
        centred,
        lower,
        upper,
        kept,
        anchor=anchor,
        anchor_rating=anchor_rating,
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
