"""Style control: Bradley-Terry with style covariates, fitted jointly with the ratings.

A vote may favour the longer or the more Markdown-heavy answer whatever its substance.
Following LMArena's style control (2024), each battle carries a few *style features*,
and the win probability of side A is

    P(A beats B) = expit(theta[a] - theta[b] + gamma . x),

where ``x`` holds, per feature, the normalised difference of the two answers
(:func:`normalised_differences`: ``(a - b) / (a + b + 1)``, the ``+ 1`` as in LMArena's
public code so that two answers without any header give 0, not 0/0), standardised over
the battles (mean 0, standard deviation 1). ``gamma[k]`` is then the change in log-odds
of winning per standard deviation of feature ``k``, and ``theta`` is the strength left
when the style is held equal. Ties of both kinds count half a win for each side, as in
the plain fit (:mod:`ratings.bt`), and the same prior (virtual ties between every pair,
with equal style) keeps the ratings finite; it also puts a ridge of the same weight on
the coefficients, which only matters with a handful of battles.

The fit is Newton's method (:mod:`ratings.style_loss`) on the per-battle rows (the
features are continuous, so battles seldom share a row; identical rows may be passed
once with a ``count``): per iteration a handful of ``np.bincount`` calls build the
gradient and the Hessian, whose ratings block is a weighted graph Laplacian. Intervals
for the ratings and for the coefficients come from the sandwich (robust) covariance
``H^-1 G H^-1``, ``G`` summing the outer products of the per-battle scores ``(y - p) z``.

Anchoring follows :mod:`ratings.rate`: the anchor sits at ``anchor_rating``, or the
field's mean does (with ``anchor_fallback`` saying why) when the anchor has no votes,
is not in the kept piece of the comparison graph, or never lost (or never won).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.bt import (
    DEFAULT_PRIOR,
    DEFAULT_TOL,
    ELO_SCALE,
    MAX_ITER,
    fit,
    regularised_score,
)
from ratings.counts import aggregate
from ratings.errors import InvalidInputError, NoMLEError
from ratings.joint import anchored, check_options, kept_models, require_mle, shifted_inverse
from ratings.outcomes import SCORE_A
from ratings.rate import ANCHOR_RATING, DEFAULT_LEVEL, OnDisconnected, RatingFit
from ratings.style_loss import StyleRows, expit, loss_hessian, newton

#: The style features of LMArena's style control, in the order of the feature columns.
STYLE_FEATURES = ("length", "headers", "lists", "bold")


def normalised_differences(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Per-battle normalised differences ``(a - b) / (a + b + 1)`` of style counts.

    Parameters
    ----------
    a, b : array_like, shape (m, k)
        Non-negative counts of side A's and side B's answers (tokens, headers, list
        items, bold spans), one row per battle.

    Returns
    -------
    ndarray, shape (m, k)
        Values in (-1, 1); 0 when both sides are equal.

    Raises
    ------
    InvalidInputError
        If the shapes differ or a count is negative or not finite.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise InvalidInputError(f"style counts must be two (m, k) arrays, got {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or (a < 0).any() or (b < 0).any():
        raise InvalidInputError("style counts must be finite and >= 0")
    return (a - b) / (a + b + 1.0)


def _moments(
    xt: NDArray[np.float64], w: NDArray[np.float64] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and standard deviation of each row of ``xt`` (k, m), from one Gram matrix."""
    if w is None:
        total = float(xt.shape[1])
        mean, gram = xt.sum(axis=1) / total, xt @ xt.T / total
    else:
        total = max(float(w.sum()), 1e-300)
        mean, gram = xt @ w / total, (xt * w) @ xt.T / total
    var = np.maximum(np.diag(gram) - mean**2, 0.0)
    std = np.sqrt(var)
    # Below round-off of the mean, a column is constant.
    return mean, np.where(std > 1e-7 * (1.0 + np.abs(mean)), std, 0.0)


def standardise(
    features: ArrayLike, count: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Centre and scale each feature column to mean 0 and standard deviation 1.

    Parameters
    ----------
    features : array_like, shape (m, k)
        Feature rows.
    count : array_like, shape (m,), optional
        Battles per row (weights of the mean and standard deviation).

    Returns
    -------
    standardised : ndarray, shape (m, k)
        The columns standardised; a constant column becomes zeros.
    mean, std : ndarray, shape (k,)
        What was subtracted and divided by (``std`` is 0 for a constant column).
    """
    xt = np.array(np.asarray(features, dtype=np.float64).T, order="C")
    w = None if count is None else np.asarray(count, dtype=np.float64)
    mean, std = _moments(xt, w)
    xt -= mean[:, None]
    xt /= np.where(std > 0, std, np.inf)[:, None]
    return xt.T, mean, std


@dataclass(frozen=True)
class StyleFit:
    """A style-controlled fit: anchored ratings and the style coefficients.

    Parameters
    ----------
    ratings : RatingFit
        The style-controlled ratings, intervals and ranks in the caller's index space,
        as :func:`ratings.rate.rate` gives them (``method`` is ``"sandwich"``); pass it
        to :func:`ratings.leaderboard.build_leaderboard` for a table.
    features : tuple of str
        Names of the feature columns.
    coef : ndarray, shape (k,)
        Change in log-odds of winning per standard deviation of each feature
        (NaN for a feature that did not vary and was left out of the fit).
    coef_lower, coef_upper : ndarray, shape (k,)
        Sandwich interval ends of ``coef``.
    coef_se : ndarray, shape (k,)
        Sandwich standard errors of ``coef``.
    feature_mean, feature_std : ndarray, shape (k,)
        What the features were standardised with (identity: 0 and 1 when the caller
        asked for no standardisation).
    log_likelihood : float
        Log-likelihood of the battles at the fit (ties as half wins; no prior).
    battles : float
        Battles used.
    """

    ratings: RatingFit
    features: tuple[str, ...]
    coef: NDArray[np.float64]
    coef_lower: NDArray[np.float64]
    coef_upper: NDArray[np.float64]
    coef_se: NDArray[np.float64]
    feature_mean: NDArray[np.float64]
    feature_std: NDArray[np.float64]
    log_likelihood: float
    battles: float

    @property
    def coef_elo(self) -> NDArray[np.float64]:
        """``coef`` in rating points (``ELO_SCALE * coef``)."""
        return ELO_SCALE * self.coef


def _check_features(features: ArrayLike, m: int, names: tuple[str, ...] | None) -> NDArray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != m:
        raise InvalidInputError(f"features must have shape ({m}, k), got {x.shape}")
    if not np.isfinite(x).all():
        first = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise InvalidInputError(f"features[{first}] is not finite")
    if names is not None and len(names) != x.shape[1]:
        raise InvalidInputError(f"{len(names)} feature names for {x.shape[1]} feature columns")
    return x


def fit_style(
    a_idx: ArrayLike,
    b_idx: ArrayLike,
    outcome: ArrayLike,
    features: ArrayLike,
    count: ArrayLike | None = None,
    *,
    n_models: int,
    anchor: int | None,
    feature_names: tuple[str, ...] | None = None,
    standardise_features: bool = True,
    level: float = DEFAULT_LEVEL,
    prior: float = DEFAULT_PRIOR,
    anchor_rating: float = ANCHOR_RATING,
    on_disconnected: OnDisconnected = "error",
    tol: float = DEFAULT_TOL,
    max_iter: int = MAX_ITER,
) -> StyleFit:
    """Fit style-controlled ratings and style coefficients, with sandwich intervals.

    Parameters
    ----------
    a_idx, b_idx : array_like of int, shape (m,)
        Model indices of sides A and B.
    outcome : array_like of int, shape (m,)
        :class:`~ratings.outcomes.Outcome` codes (ties of both kinds: half a win).
    features : array_like, shape (m, k)
        Style features of side A relative to side B, one row per battle, such as
        :func:`normalised_differences` of the counts (columns :data:`STYLE_FEATURES`).
    count : array_like, shape (m,), optional
        Battles per row (identical rows passed once); one per row by default.
    n_models : int
        Number of models (indices run over ``0..n_models-1``).
    anchor : int or None
        Index of the model pinned at ``anchor_rating``; None pins the field's mean.
    feature_names : tuple of str, optional
        Names of the columns; :data:`STYLE_FEATURES` when there are four, else
        ``x0, x1, ...``.
    standardise_features : bool
        Standardise each column over the battles first (LMArena's convention; the
        coefficients are then per standard deviation).
    level : float
        Interval coverage.
    prior : float
        Virtual ties per model (with equal style), as in :mod:`ratings.bt`, and the
        weight of a ridge on the coefficients (see :mod:`ratings.style_loss`).
    anchor_rating : float
        Rating of the anchor.
    on_disconnected : {"error", "largest"}
        As for :func:`ratings.rate.rate`.
    tol, max_iter : float, int
        Newton's stopping rule.

    Returns
    -------
    StyleFit
        Ratings (a :class:`~ratings.rate.RatingFit`) and coefficients.

    Raises
    ------
    InvalidInputError
        On malformed input or options.
    DisconnectedGraphError
        If the comparison graph is in pieces and ``on_disconnected="error"``.
    NoMLEError
        If ``prior == 0`` and some rating has no finite estimate.
    """
    check_options(level, anchor, n_models, prior)
    counts = aggregate(a_idx, b_idx, outcome, n_models, count)
    a = np.asarray(a_idx, dtype=np.intp)
    b = np.asarray(b_idx, dtype=np.intp)
    y = SCORE_A[np.asarray(outcome, dtype=np.intp)]
    w = None if count is None else np.asarray(count, dtype=np.float64)
    x = _check_features(features, a.size, feature_names)
    k = x.shape[1]
    if feature_names is None:
        feature_names = (
            STYLE_FEATURES if k == len(STYLE_FEATURES) else tuple(f"x{j}" for j in range(k))
        )

    kept = kept_models(counts, anchor, on_disconnected)
    require_mle(kept, prior)
    nk = kept.models.size
    live = (kept.position[a] >= 0) & (kept.position[b] >= 0)
    if w is not None:
        live &= w > 0
    if not live.all():  # else no copies of a million rows
        a, b, y, x, w = a[live], b[live], y[live], x[live], None if w is None else w[live]
    xt = np.array(x.T, order="C")  # one feature per row of xt: the fit's layout
    if standardise_features:
        mean, std = _moments(xt, w)
        varies = std > 0
        xt -= mean[:, None]
        xt /= np.where(varies, std, 1.0)[:, None]
    else:
        mean, std = np.zeros(k), np.ones(k)
        varies = np.ptp(xt, axis=1) > 0 if xt.shape[1] else np.zeros(k, dtype=bool)
    # A column that never varies has no coefficient (and would make H singular).
    rows = StyleRows(
        kept.position[a], kept.position[b], y, (xt if varies.all() else xt[varies]).T, w, nk
    )
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    if nk:
        # The plain fit on the pair counts (milliseconds) starts Newton close by.
        theta0 = fit(regularised_score(kept.counts.score, prior)) if nk > 1 else np.zeros(nk)
        try:
            params = newton(rows, theta0, prior, tol, max_iter)
        except (np.linalg.LinAlgError, RuntimeError) as error:
            raise NoMLEError(
                "the style coefficients have no finite estimate on these battles (too few, "
                "or the features follow the models); use prior > 0"
            ) from error
        eta = rows.eta(params)
        log_lik = -rows.minus_log_likelihood(eta)
        h_inv = shifted_inverse(loss_hessian(params, rows, prior), nk)
        cov = h_inv @ rows.outer(rows.weighted((rows.y - expit(eta)) ** 2)) @ h_inv
        cov = 0.5 * (cov + cov.T)
    else:
        params, cov, log_lik = np.zeros(int(varies.sum())), np.zeros((0, 0)), 0.0
    ratings = anchored(
        params[:nk],
        cov[:nk, :nk],
        kept,
        anchor=anchor,
        anchor_rating=anchor_rating,
        level=level,
        prior=prior,
    )
    gamma, se_gamma = params[nk:], np.sqrt(np.clip(np.diag(cov)[nk:], 0.0, None))
    coef = np.full(k, np.nan)
    coef_se = np.full(k, np.nan)
    coef[varies], coef_se[varies] = gamma, se_gamma
    return StyleFit(
        ratings=ratings,
        features=tuple(feature_names),
        coef=coef,
        coef_lower=coef - z * coef_se,
        coef_upper=coef + z * coef_se,
        coef_se=coef_se,
        feature_mean=mean,
        feature_std=std,
        log_likelihood=log_lik,
        battles=rows.battles(),
    )
