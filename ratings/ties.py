"""The Davidson tie model, and how well it explains the votes against the half-win coding.

The plain fit (:mod:`ratings.bt`) counts a tie as half a win for each side; it says
nothing about how likely a tie is. Davidson (1970) models the three outcomes:

    P(i beats j) = pi_i / (pi_i + pi_j + nu sqrt(pi_i pi_j))
    P(tie)       = nu sqrt(pi_i pi_j) / (pi_i + pi_j + nu sqrt(pi_i pi_j))

with ``pi = exp(theta)``. Divided through by ``sqrt(pi_i pi_j)`` these are
``e^{d/2} / D``, ``e^{-d/2} / D`` and ``nu / D`` with ``d = theta_i - theta_j`` and
``D = e^{d/2} + e^{-d/2} + nu``, so among decided votes ``P(i beats j | not a tie) =
expit(d)``: the ratings are on the plain fit's scale (``ELO_SCALE * theta``). A tie is
most likely between equals (``nu / (2 + nu)``) and rarer as the gap grows. Both kinds of
tie (``tie`` and ``tie (bothbad)``) are ties.

The fit is maximum likelihood by Newton's method on the pair counts (``theta`` summing to
zero, and ``log nu``); the prior adds ``prior / (2 (n - 1))`` virtual *wins* each way to
every pair (the plain fit's virtual ties as Davidson sees them: equal wins, no tie, so
``nu`` is the data's alone). Intervals are sandwich (robust) ones, as for the plain fit.

Likelihood comparison (:class:`TieComparison`): the half-win coding predicts no tie
probability, so it is completed with the simplest one, a constant tie rate ``tau``
(its maximum-likelihood value is the share of ties): ``P(tie) = tau`` and ``P(i beats j)
= (1 - tau) expit(theta_i - theta_j)`` with the plain fit's ``theta``. Both models then
give each vote's observed outcome a probability, with the same number of free
parameters (``n - 1`` ratings and one tie parameter), so their log-likelihoods compare
directly: ``AIC = 2 k - 2 log L``, lower is better, and with equal ``k`` the AIC
difference is twice the log-likelihood difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.bt import DEFAULT_PRIOR, DEFAULT_TOL, MAX_ITER, fit, regularised_score
from ratings.bt import log_expit as bt_log_expit
from ratings.counts import PairCounts, aggregate
from ratings.errors import InvalidInputError
from ratings.joint import (
    Kept,
    anchored,
    check_options,
    kept_models,
    require_mle,
    shifted_inverse,
)
from ratings.rate import ANCHOR_RATING, DEFAULT_LEVEL, OnDisconnected, RatingFit
from ratings.ties_loss import PairData, loss, loss_hessian, newton_ties, score_outer


@dataclass(frozen=True)
class TieComparison:
    """Log-likelihoods of the observed outcomes (win, loss, tie) under two tie models.

    Parameters
    ----------
    votes : float
        Votes compared (the kept models' battles).
    tie_share : float
        Share of them that were ties (both kinds).
    davidson, half_win : float
        Log-likelihood under the Davidson model and under the half-win coding
        completed with a constant tie rate (the tie share).
    parameters : int
        Free parameters of each model: ``n - 1`` ratings and one tie parameter.
    """

    votes: float
    tie_share: float
    davidson: float
    half_win: float
    parameters: int

    @property
    def aic_davidson(self) -> float:
        """``2 k - 2 log L`` of the Davidson model."""
        return 2.0 * self.parameters - 2.0 * self.davidson

    @property
    def aic_half_win(self) -> float:
        """``2 k - 2 log L`` of the half-win coding with a constant tie rate."""
        return 2.0 * self.parameters - 2.0 * self.half_win

    @property
    def better(self) -> str:
        """``"davidson"`` or ``"half-win"``: the lower AIC (``"equal"`` if the same)."""
        if self.aic_davidson < self.aic_half_win:
            return "davidson"
        return "half-win" if self.aic_half_win < self.aic_davidson else "equal"

    def lines(self) -> list[str]:
        """The comparison in plain words, one line each."""
        per = max(self.votes, 1.0)
        return [
            f"likelihood of the {self.votes:g} votes' outcomes (win, loss or tie; "
            f"{self.tie_share:.1%} ties):",
            f"  Davidson:  log L = {self.davidson:.2f} ({self.davidson / per:.4f} per vote), "
            f"AIC = {self.aic_davidson:.2f}",
            f"  half-win coding, constant tie rate:  log L = {self.half_win:.2f} "
            f"({self.half_win / per:.4f} per vote), AIC = {self.aic_half_win:.2f}",
            f"  both with {self.parameters} parameters; AIC difference (half-win minus "
            f"Davidson) = {self.aic_half_win - self.aic_davidson:.2f}: "
            + (
                "Davidson explains the votes better"
                if self.better == "davidson"
                else "the half-win coding explains the votes better"
                if self.better == "half-win"
                else "no difference"
            ),
        ]


@dataclass(frozen=True)
class DavidsonFit:
    """Ratings under the Davidson tie model.

    Parameters
    ----------
    ratings : RatingFit
        Anchored ratings with sandwich intervals (the plain fit's scale).
    nu, nu_lower, nu_upper : float
        The tie parameter and its interval (a tie between equals has probability
        ``nu / (2 + nu)``).
    comparison : TieComparison
        Against the half-win coding on the same votes.
    """

    ratings: RatingFit
    nu: float
    nu_lower: float
    nu_upper: float
    comparison: TieComparison

    @property
    def tie_between_equals(self) -> float:
        """``nu / (2 + nu)``."""
        return self.nu / (2.0 + self.nu)


def _half_win_log_likelihood(theta: NDArray[np.float64], counts: PairCounts) -> tuple[float, float]:
    """Log-likelihood of the outcomes under the half-win ``theta`` and a constant tie rate
    (its maximum-likelihood value, the share of ties), and that share."""
    tied = float((counts.ties + counts.bothbad).sum()) / 2.0
    votes = float(counts.games.sum()) / 2.0
    tau = tied / votes if votes else 0.0
    d = theta[:, None] - theta[None, :]
    decided = float(np.sum(counts.wins * bt_log_expit(d)))
    value = decided + (votes - tied) * math.log1p(-tau) if tau < 1 else decided
    if tied:
        value += tied * math.log(tau)
    return value, tau


def fit_davidson_counts(
    counts: PairCounts,
    *,
    anchor: int | None,
    level: float = DEFAULT_LEVEL,
    prior: float = DEFAULT_PRIOR,
    anchor_rating: float = ANCHOR_RATING,
    on_disconnected: OnDisconnected = "error",
    tol: float = DEFAULT_TOL,
    max_iter: int = MAX_ITER,
) -> DavidsonFit:
    """Fit the Davidson model to pair counts, with sandwich intervals and the comparison.

    Parameters
    ----------
    counts : PairCounts
        Aggregated battles (:func:`ratings.counts.aggregate`).
    anchor, level, prior, anchor_rating, on_disconnected
        As for :func:`ratings.rate.rate` (the prior as virtual wins, see the module
        docstring).
    tol, max_iter : float, int
        Newton's stopping rule.

    Returns
    -------
    DavidsonFit

    Raises
    ------
    InvalidInputError
        If there is no tie (``nu`` would be 0: the model is then the plain one) or
        only ties, or on bad options.
    NoMLEError
        If ``prior == 0`` and some rating has no finite estimate.
    """
    check_options(level, anchor, counts.n_models, prior)
    kept: Kept = kept_models(counts, anchor, on_disconnected)
    require_mle(kept, prior)
    sub, n = kept.counts, kept.models.size
    tied = float((sub.ties + sub.bothbad).sum()) / 2.0
    votes = float(sub.games.sum()) / 2.0
    if n and not 0 < tied < votes:
        which = "no tie" if tied == 0 else "only ties"
        raise InvalidInputError(
            f"the votes have {which}: the Davidson model's tie parameter has no estimate"
        )
    plain = fit(regularised_score(sub.score, prior)) if n > 1 else np.zeros(n)
    half_win, tau = _half_win_log_likelihood(plain, sub) if n else (0.0, 0.0)
    if n:
        data = PairData.of(sub, prior / (2.0 * (n - 1)) if n > 1 else 0.0)
        start = np.concatenate([plain, [math.log(2.0 * tau / (1.0 - tau))]])
        params = newton_ties(data, start, tol, max_iter)
        observed = PairData.of(sub)
        log_lik = -loss(params, observed)
        h_inv = shifted_inverse(loss_hessian(params, data), n)
        cov = h_inv @ score_outer(params, observed) @ h_inv
        cov = 0.5 * (cov + cov.T)
    else:
        params, cov, log_lik = np.zeros(1), np.zeros((1, 1)), 0.0
    ratings: RatingFit = anchored(
        params[:n],
        cov[:n, :n],
        kept,
        anchor=anchor,
        anchor_rating=anchor_rating,
        level=level,
        prior=prior,
    )
    half = NormalDist().inv_cdf(0.5 + level / 2.0) * math.sqrt(max(cov[n, n], 0.0))
    s = float(params[n])
    return DavidsonFit(
        ratings=ratings,
        nu=math.exp(s),
        nu_lower=math.exp(s - half),
        nu_upper=math.exp(s + half),
        comparison=TieComparison(
            votes=votes,
            tie_share=tau,
            davidson=log_lik,
            half_win=half_win,
            parameters=max(n - 1, 0) + 1,
        ),
    )


def fit_davidson(
    a_idx: ArrayLike,
    b_idx: ArrayLike,
    outcome: ArrayLike,
    count: ArrayLike | None = None,
    *,
    n_models: int,
    anchor: int | None,
    level: float = DEFAULT_LEVEL,
    prior: float = DEFAULT_PRIOR,
    anchor_rating: float = ANCHOR_RATING,
    on_disconnected: OnDisconnected = "error",
) -> DavidsonFit:
    """Aggregate battle rows and :func:`fit_davidson_counts` them.

    Parameters
    ----------
    a_idx, b_idx, outcome, count, n_models
        The battle rows, as for :func:`ratings.rate.fit_counts`.
    anchor, level, prior, anchor_rating, on_disconnected
        As for :func:`fit_davidson_counts`.

    Returns
    -------
    DavidsonFit
    """
    counts = aggregate(a_idx, b_idx, outcome, n_models, count)
    return fit_davidson_counts(
        counts,
        anchor=anchor,
        level=level,
        prior=prior,
        anchor_rating=anchor_rating,
        on_disconnected=on_disconnected,
    )
