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

The fit is Newton's method on the per-battle rows (the features are continuous, so
battles seldom share a row; identical rows may be passed once with a ``count``): per
iteration a handful of ``np.bincount`` calls build the gradient and the Hessian, whose
ratings block is a weighted graph Laplacian. Intervals for the ratings and for the
coefficients come from the sandwich (robust) covariance ``H^-1 G H^-1``, ``G`` summing
the outer products of the per-battle scores ``(y - p) x``.

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
    check_prior,
    fit,
    gradient,
    hessian,
    regularised_score,
)
from ratings.bt import loss as pair_loss
from ratings.counts import aggregate
from ratings.errors import InvalidInputError, NoMLEError
from ratings.joint import anchored, kept_models, shifted_inverse
from ratings.outcomes import SCORE_A
from ratings.rate import ANCHOR_RATING, DEFAULT_LEVEL, OnDisconnected, RatingFit

#: The style features of LMArena's style control, in the order of the feature columns.
STYLE_FEATURES = ("length", "headers", "lists", "bold")

_ARMIJO = 1e-4
_MAX_HALVINGS = 40


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


class StyleRows:
    """Battle rows of one fit, as the loss functions take them.

    Parameters
    ----------
    a, b : ndarray of int, shape (m,)
        Model indices (``0..n-1``) of sides A and B.
    y : ndarray, shape (m,)
        Side A's score: 1, 0, or 1/2 for either kind of tie.
    x : ndarray, shape (m, k)
        Features used in the fit (kept column by column: ``x.T`` is copied unless it
        is contiguous already).
    w : ndarray, shape (m,), or None
        Battles per row; None for one each.
    n : int
        Number of models.

    Notes
    -----
    Every per-model sum goes through one ``np.bincount`` over the row's ordered pair
    ``a * n + b`` (``n * n`` bins, cache-sized for a hundred models), which gives the
    gradient, the Laplacian and the ratings-by-feature block of the Hessian alike.
    """

    def __init__(
        self,
        a: ArrayLike,
        b: ArrayLike,
        y: ArrayLike,
        x: ArrayLike,
        w: ArrayLike | None,
        n: int,
    ) -> None:
        self.n = n
        self.y = np.asarray(y, dtype=np.float64)
        self.w = None if w is None else np.asarray(w, dtype=np.float64)
        self.xt = np.ascontiguousarray(np.asarray(x, dtype=np.float64).T)
        self.pair = np.asarray(a, dtype=np.int64) * n + np.asarray(b, dtype=np.int64)

    @property
    def k(self) -> int:
        """Number of feature columns."""
        return int(self.xt.shape[0])

    def weighted(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """``w * values`` (``values`` itself when every row is one battle)."""
        return values if self.w is None else self.w * values

    def battles(self) -> float:
        """Battles in all rows."""
        return float(self.pair.size if self.w is None else self.w.sum())

    def eta(self, params: NDArray[np.float64]) -> NDArray[np.float64]:
        """Side A's log-odds per row: ``theta[a] - theta[b] + x @ gamma``."""
        theta, gamma = params[: self.n], params[self.n :]
        d = (theta[:, None] - theta[None, :]).ravel()
        return d[self.pair] + gamma @ self.xt

    def _pair_sums(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        n = self.n
        return np.bincount(self.pair, values, n * n).reshape(n, n)

    def signed(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """``sum_r values[r] (e_a - e_b)``, one entry per model."""
        sums = self._pair_sums(values)
        return sums.sum(axis=1) - sums.sum(axis=0)

    def score(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """``sum_r values[r] z_r`` with ``z_r = (e_a - e_b, x_r)``."""
        return np.concatenate([self.signed(values), self.xt @ values])

    def outer(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """``sum_r values[r] z_r z_r^T`` with ``z_r = (e_a - e_b, x_r)``."""
        n, k = self.n, self.k
        out = np.empty((n + k, n + k))
        sums = self._pair_sums(values)
        sums = sums + sums.T
        out[:n, :n] = -sums
        out[np.arange(n), np.arange(n)] += sums.sum(axis=1)
        vx = self.xt * values
        for j in range(k):
            out[:n, n + j] = self.signed(vx[j])
        out[n:, :n] = out[:n, n:].T
        out[n:, n:] = vx @ self.xt.T
        return out

    def minus_log_likelihood(self, eta: NDArray[np.float64]) -> float:
        """``sum_r w_r (softplus(eta_r) - y_r eta_r)`` at the rows' log-odds ``eta``."""
        # softplus(eta) - y eta = -(y log p + (1 - y) log(1 - p)), p = expit(eta), and
        # softplus(eta) = max(eta, 0) + log1p(exp(-|eta|)) without overflow.
        soft = np.log1p(np.exp(-np.abs(eta)))
        soft += np.maximum(eta, 0.0)
        if self.w is None:
            return float(soft.sum() - self.y @ eta)
        return float(self.w @ soft - (self.w * self.y) @ eta)


def expit(eta: NDArray[np.float64]) -> NDArray[np.float64]:
    """The logistic function as ``(1 + tanh(eta / 2)) / 2``: one pass, no overflow (a few
    times faster than the exp-based forms on a million rows)."""
    p = np.tanh(0.5 * eta)
    p *= 0.5
    p += 0.5
    return p


class _Prior:
    """The prior's terms: ``prior`` virtual ties per model, spread over every pair with
    equal style (the plain fit's, :func:`ratings.bt.regularised_score`), and a ridge
    ``prior / 2 * |gamma|^2`` on the coefficients (as much information as ``prior``
    battles with a feature at one standard deviation, so a handful of battles cannot
    send a coefficient to infinity; with thousands it moves nothing measurable)."""

    def __init__(self, n: int, prior: float) -> None:
        self.n, self.prior = n, prior
        self.ties: NDArray[np.float64] | None = None
        if prior and n > 1:
            self.ties = np.full((n, n), prior / (2.0 * (n - 1)))
            np.fill_diagonal(self.ties, 0.0)

    def value(self, params: NDArray[np.float64]) -> float:
        gamma = params[self.n :]
        out = 0.5 * self.prior * float(gamma @ gamma)
        return out if self.ties is None else out + pair_loss(params[: self.n], self.ties)

    def add_gradient(self, g: NDArray[np.float64], params: NDArray[np.float64]) -> None:
        g[self.n :] += self.prior * params[self.n :]
        if self.ties is not None:
            g[: self.n] += gradient(params[: self.n], self.ties)

    def add_hessian(self, h: NDArray[np.float64], params: NDArray[np.float64]) -> None:
        n = self.n
        h[np.arange(n, h.shape[0]), np.arange(n, h.shape[0])] += self.prior
        if self.ties is not None:
            h[:n, :n] += hessian(params[:n], self.ties)


def loss(params: NDArray[np.float64], rows: StyleRows, prior: float = 0.0) -> float:
    """Negative log-likelihood (ties as half wins) plus the prior's terms.

    Parameters
    ----------
    params : ndarray, shape (n + k,)
        ``theta`` then ``gamma``.
    rows : StyleRows
        The battles.
    prior : float
        Virtual ties per model (each pair's with equal style), and the weight of the
        coefficients' ridge.

    Returns
    -------
    float
        ``sum_r w_r (softplus(eta_r) - y_r eta_r)`` plus the prior's terms.
    """
    return rows.minus_log_likelihood(rows.eta(params)) + _Prior(rows.n, prior).value(params)


def loss_gradient(
    params: NDArray[np.float64], rows: StyleRows, prior: float = 0.0
) -> NDArray[np.float64]:
    """Gradient of :func:`loss` with respect to ``(theta, gamma)``."""
    g = rows.score(rows.weighted(expit(rows.eta(params)) - rows.y))
    _Prior(rows.n, prior).add_gradient(g, params)
    return g


def loss_hessian(
    params: NDArray[np.float64], rows: StyleRows, prior: float = 0.0
) -> NDArray[np.float64]:
    """Hessian of :func:`loss`; singular along the constant shift of ``theta``."""
    p = expit(rows.eta(params))
    h = rows.outer(rows.weighted(p * (1.0 - p)))
    _Prior(rows.n, prior).add_hessian(h, params)
    return h


def _newton(
    rows: StyleRows, theta0: NDArray[np.float64], prior: float, tol: float, max_iter: int
) -> NDArray[np.float64]:
    """Damped Newton (Armijo backtracking) from ``(theta0, 0)``; sum-to-zero ``theta``."""
    n = rows.n
    params = np.concatenate([theta0 - theta0.mean(), np.zeros(rows.k)])
    terms = _Prior(n, prior)
    eta = rows.eta(params)
    current = rows.minus_log_likelihood(eta) + terms.value(params)
    for _ in range(max_iter):
        p = expit(eta)
        g = rows.score(rows.weighted(p - rows.y))
        h = rows.outer(rows.weighted(p * (1.0 - p)))
        terms.add_gradient(g, params)
        terms.add_hessian(h, params)
        step = -shifted_inverse(h, n) @ g
        step[:n] -= step[:n].mean()
        slope = float(g @ step)
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            trial = params + t * step
            trial_eta = rows.eta(trial)
            trial_value = rows.minus_log_likelihood(trial_eta) + terms.value(trial)
            if trial_value <= current + _ARMIJO * t * slope + 1e-12 * (abs(current) + 1.0):
                break
            t *= 0.5
        params, eta, current = trial, trial_eta, trial_value
        size = float(np.abs(step).max()) if step.size else 0.0
        if (t == 1.0 and size < tol) or t * size < 1e-14:
            return params
    raise RuntimeError(f"Newton did not converge in {max_iter} iterations")


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
        weight of a ridge on the coefficients (see ``_Prior``).
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
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must be strictly between 0 and 1, got {level}")
    check_prior(prior)
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
    if anchor is not None and not 0 <= anchor < n_models:
        raise InvalidInputError(f"anchor index {anchor} is outside 0..{n_models - 1}")

    kept = kept_models(counts, anchor, on_disconnected)
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
    if prior == 0 and not kept.shape.mle_exists:
        raise NoMLEError(
            "with prior=0 the maximum-likelihood ratings do not exist: "
            f"{int((~kept.shape.core).sum())} model(s) never lost or never won against the "
            "rest; use prior > 0"
        )
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    if nk:
        # The plain fit on the pair counts (milliseconds) starts Newton close by.
        theta0 = fit(regularised_score(kept.counts.score, prior)) if nk > 1 else np.zeros(nk)
        try:
            params = _newton(rows, theta0, prior, tol, max_iter)
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
