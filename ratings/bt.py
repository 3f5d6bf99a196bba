"""Bradley-Terry maximum likelihood on aggregated pair counts.

Votes are first folded into ``(n, n)`` count matrices
(:func:`ratings.counts.aggregate`), so a fit costs O(models^2) per Newton
iteration whatever the number of votes.

Model and scale
---------------
Each model ``i`` has a log-strength ``theta[i]`` (natural-log scale) and

    P(i beats j) = expit(theta[i] - theta[j]) = 1 / (1 + 10 ** ((R[j] - R[i]) / 400)),

with the Elo-scale rating ``R = ELO_SCALE * theta + constant`` and
``ELO_SCALE = 400 / ln 10``. Both kinds of tie (``tie`` and ``tie (bothbad)``)
count as half a win for each side. They are kept apart in :class:`~ratings.counts.PairCounts`
because the leaderboard reports them separately, but enter the likelihood the
same way.

Everything here works on the *score matrix* ``score[i, j]`` = wins of ``i``
over ``j`` plus half the ties between them; the number of games is
``score + score.T``. The negative log-likelihood is

    L(theta) = -sum_{i != j} score[i, j] * log expit(theta[i] - theta[j]).

It is invariant to adding a constant to ``theta``; fits return the solution
with ``sum(theta) == 0``.

Regularisation (the prior)
--------------------------
If some model never lost (or never won) the maximum-likelihood ratings do not
exist: the likelihood keeps growing as that model moves away. To give every
input a defined, finite answer the fit adds ``prior`` *virtual ties* per model,
spread evenly over the other models: ``prior / (2 (n - 1))`` is added to every
off-diagonal entry of the score matrix (see :func:`regularised_score`). This is
a shift-invariant prior that pulls ratings gently together; with the default
``DEFAULT_PRIOR = 0.1`` it moves the ratings of a model with a few hundred
battles by a few hundredths of a rating point. ``prior=0`` gives the plain
maximum-likelihood estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ratings.errors import InvalidInputError

#: Elo points per unit of natural log-odds: 400 / ln 10.
ELO_SCALE = 400.0 / math.log(10.0)

#: Virtual ties per model added by default (see the module docstring).
DEFAULT_PRIOR = 0.1

#: Newton stops after a full step in which no parameter moved by more than this
#: (log-odds units); convergence is quadratic, so the error left is of order tol^2.
DEFAULT_TOL = 1e-7

#: Newton iterations before giving up.
MAX_ITER = 200

#: Target number of float64 entries in one batch of (rounds, n, n) arrays.
BATCH_ENTRIES = 2_000_000

_ARMIJO = 1e-4
_ROUNDOFF = 1e-12
_MAX_HALVINGS = 60
_STALL = 1e-14
#: A round leaves chord steps when a step is not this much smaller than the last.
_CHORD_RATE = 0.25
#: Chord steps converge linearly: stop when a step is this small.
_CHORD_TOL = 1e-7


def expit(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The logistic function ``1 / (1 + exp(-x))``, without overflow.

    The same formula as ``scipy.special.expit``, in numpy: a fit imports no scipy
    (any scipy subpackage costs a command line about 0.3 s to import).

    Parameters
    ----------
    x : ndarray
        Log-odds.

    Returns
    -------
    ndarray
        Probabilities in [0, 1], the shape of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    q = 1.0 / (1.0 + e)
    return np.where(x >= 0, q, e * q)


def log_expit(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(expit(x)) = min(x, 0) - log1p(exp(-|x|))``, accurate for large ``|x|``.

    Parameters
    ----------
    x : ndarray
        Log-odds.

    Returns
    -------
    ndarray
        Log-probabilities (<= 0), the shape of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def check_prior(prior: float) -> None:
    """Reject a prior that is negative or not finite.

    Parameters
    ----------
    prior : float
        Virtual ties per model.

    Raises
    ------
    InvalidInputError
        If ``prior`` is negative, NaN or infinite.
    """
    if not (math.isfinite(prior) and prior >= 0):
        raise InvalidInputError(f"prior must be a finite number >= 0, got {prior}")


def regularised_score(score: NDArray[np.float64], prior: float) -> NDArray[np.float64]:
    """Add ``prior`` virtual ties per model, spread over all other models.

    Parameters
    ----------
    score : ndarray, shape (..., n, n)
        Score matrices (wins plus half ties).
    prior : float
        Virtual ties per model; ``0`` returns ``score`` unchanged.

    Returns
    -------
    ndarray, shape (..., n, n)
        ``score + prior / (2 (n - 1))`` off the diagonal.
    """
    check_prior(prior)
    n = score.shape[-1]
    if prior == 0 or n < 2:
        return score
    extra = np.full((n, n), prior / (2.0 * (n - 1)))
    np.fill_diagonal(extra, 0.0)
    return score + extra


def _differences(theta: NDArray[np.float64]) -> NDArray[np.float64]:
    return theta[..., :, None] - theta[..., None, :]


def loss(theta: NDArray[np.float64], score: NDArray[np.float64]) -> float:
    """Negative log-likelihood of ``theta`` given a score matrix.

    Parameters
    ----------
    theta : ndarray, shape (n,)
        Log-strengths.
    score : ndarray, shape (n, n)
        Score matrix (see the module docstring), zero diagonal.

    Returns
    -------
    float
        ``-sum score[i, j] * log expit(theta[i] - theta[j])``.
    """
    return -float(np.sum(score * log_expit(_differences(theta))))


def gradient(theta: NDArray[np.float64], score: NDArray[np.float64]) -> NDArray[np.float64]:
    """Gradient of :func:`loss` with respect to ``theta``.

    Parameters
    ----------
    theta : ndarray, shape (n,)
        Log-strengths.
    score : ndarray, shape (n, n)
        Score matrix.

    Returns
    -------
    ndarray, shape (n,)
        Expected minus observed score of each model.
    """
    games = score + score.T
    return (games * expit(_differences(theta))).sum(axis=1) - score.sum(axis=1)


def hessian(theta: NDArray[np.float64], score: NDArray[np.float64]) -> NDArray[np.float64]:
    """Hessian of :func:`loss`: a weighted graph Laplacian.

    Parameters
    ----------
    theta : ndarray, shape (n,)
        Log-strengths.
    score : ndarray, shape (n, n)
        Score matrix.

    Returns
    -------
    ndarray, shape (n, n)
        ``H[i, j] = -N[i, j] p (1 - p)`` off the diagonal, rows summing to 0.
    """
    p = expit(_differences(theta))
    weight = (score + score.T) * p * (1.0 - p)
    h = -weight
    h[np.diag_indices_from(h)] += weight.sum(axis=1)
    return h


@dataclass
class _PairState:
    """Per-pair quantities at one ``theta``, for the pairs ``i < j`` (packed)."""

    d: NDArray[np.float64]  # theta_i - theta_j
    e: NDArray[np.float64]  # exp(-|d|), in (0, 1]
    log_p: NDArray[np.float64]  # log P(i beats j)

    @classmethod
    def at(
        cls, theta: NDArray[np.float64], iu: NDArray[np.intp], ju: NDArray[np.intp]
    ) -> _PairState:
        d = theta[..., iu] - theta[..., ju]
        e = np.exp(-np.abs(d))
        # log expit(d) = min(d, 0) - log1p(exp(-|d|)): stable and cheaper than log_expit.
        return cls(d, e, np.minimum(d, 0.0) - np.log1p(e))

    def loss(self, upper: NDArray[np.float64], lower: NDArray[np.float64]) -> NDArray[np.float64]:
        # log P(j beats i) = log expit(-d) = log expit(d) - d.
        return -np.sum(upper * self.log_p + lower * (self.log_p - self.d), axis=-1)

    def take(self, rows: NDArray[np.intp]) -> _PairState:
        return _PairState(self.d[rows], self.e[rows], self.log_p[rows])

    def put(self, rows: NDArray[np.intp], other: _PairState) -> None:
        self.d[rows], self.e[rows], self.log_p[rows] = other.d, other.e, other.log_p


class _PairSums:
    """Per-model sums of packed pair values, by contiguous segment sums.

    ``total(first, second)[:, k]`` adds ``first`` over the pairs where ``k``
    is the first model and ``second`` over those where it is the second,
    without building an (r, n, n) matrix.
    """

    def __init__(self, iu: NDArray[np.intp], ju: NDArray[np.intp], n: int) -> None:
        self.n = n
        self.by_second = np.argsort(ju, kind="stable")
        # Every model but the last starts a segment of iu; every model but the
        # first, a segment of ju (sorted): reduceat needs non-empty segments.
        self.first_starts = np.searchsorted(iu, np.arange(n - 1))
        self.second_starts = np.searchsorted(ju[self.by_second], np.arange(1, n))

    def total(self, first: NDArray[np.float64], second: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.zeros((first.shape[0], self.n))
        out[:, :-1] = np.add.reduceat(first, self.first_starts, axis=1)
        out[:, 1:] += np.add.reduceat(second[:, self.by_second], self.second_starts, axis=1)
        return out


def _newton_batch(
    theta: NDArray[np.float64],
    score: NDArray[np.float64],
    tol: float,
    max_iter: int,
    shared_inverse: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Damped Newton on a batch: ``theta`` (r, n), ``score`` (r, n, n); sum-to-zero.

    Works on the ``n (n - 1) / 2`` pairs ``i < j`` only (``P(j beats i) = 1 -
    P(i beats j)``) and keeps the per-pair terms of the accepted point: they
    give the loss for the line search and the probabilities for the next step,
    so an iteration costs one ``exp`` and one ``log1p`` per pair and round.

    With ``shared_inverse`` (the inverse of one Hessian close to every round's,
    such as the full-data Hessian in a bootstrap) rounds first take *chord*
    steps ``-g @ shared_inverse``: one matrix product for the whole batch and
    no factorisation per round, which also spares many small threaded LAPACK
    calls. A round whose chord steps stop shrinking fast (``_CHORD_RATE``)
    switches to exact Newton steps, solved per round.
    """
    rounds, n = theta.shape
    iu, ju = np.triu_indices(n, 1)
    sums = _PairSums(iu, ju, n)
    diag = np.arange(n)
    upper, lower = score[:, iu, ju], score[:, ju, iu]
    games = upper + lower
    observed = score.sum(axis=-1)
    state = _PairState.at(theta, iu, ju)
    value = state.loss(upper, lower)
    chord = np.full(rounds, shared_inverse is not None)
    last_size = np.full(rounds, np.inf)
    active = np.arange(rounds)
    for _ in range(max_iter):
        if active.size == 0:
            return theta
        full = active.size == rounds
        th = theta if full else theta[active]
        up, low, gm = (
            (upper, lower, games) if full else (upper[active], lower[active], games[active])
        )
        now = state if full else state.take(active)
        q = 1.0 / (1.0 + now.e)
        p = np.where(now.d >= 0, q, now.e * q)
        p_other = np.where(now.d >= 0, now.e * q, q)  # 1 - p, without cancellation
        won = gm * p
        grad = sums.total(won, gm * p_other) - (observed if full else observed[active])
        on_chord = chord[active]
        step = np.empty_like(grad)
        if on_chord.any():
            step[on_chord] = -grad[on_chord] @ shared_inverse
        exact = np.flatnonzero(~on_chord)
        if exact.size:
            weight = won[exact] * p_other[exact]  # N p (1 - p)
            h = np.zeros((exact.size, n, n))
            h[:, iu, ju] = -weight
            h[:, ju, iu] = -weight
            row = sums.total(weight, weight)
            # H is singular along the all-ones direction; adding c * 11^T / n makes
            # it invertible without changing the step, which stays sum-to-zero.
            h += (np.maximum(row.mean(axis=-1), 1e-12) / n)[:, None, None]
            h[:, diag, diag] += row
            step[exact] = -np.linalg.solve(h, grad[exact][..., None])[..., 0]
        size = np.abs(step).max(axis=-1)
        slope = (grad * step).sum(axis=-1)
        start = value[active]
        slack = _ROUNDOFF * (np.abs(start) + 1.0)
        t = np.ones(active.size)
        new = th + step
        trial = _PairState.at(new, iu, ju)
        new_value = trial.loss(up, low)
        bad = new_value > start + _ARMIJO * slope + slack
        for _ in range(_MAX_HALVINGS):
            if not bad.any():
                break
            rows = np.flatnonzero(bad)
            t[rows] *= 0.5
            new[rows] = th[rows] + t[rows, None] * step[rows]
            retry = _PairState.at(new[rows], iu, ju)
            trial.put(rows, retry)
            new_value[rows] = retry.loss(up[rows], low[rows])
            bad[rows] = (
                new_value[rows] > start[rows] + _ARMIJO * t[rows] * slope[rows] + slack[rows]
            )
        theta[active] = new
        value[active] = new_value
        if full:
            state = trial
        else:
            state.put(active, trial)
        # A full Newton step of size s leaves an error of order s^2 (quadratic
        # convergence); a chord step of size s, one of order s (linear).
        done = np.where(on_chord, size < _CHORD_TOL, (t == 1.0) & (size < tol))
        done |= t * size < _STALL
        slow = on_chord & ((t < 1.0) | (size > _CHORD_RATE * last_size[active]))
        chord[active[slow]] = False
        last_size[active] = size
        active = active[~done]
    if active.size:
        raise RuntimeError(f"Newton did not converge in {max_iter} iterations")
    return theta


def fit(
    score: NDArray[np.float64],
    theta0: NDArray[np.float64] | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = MAX_ITER,
) -> NDArray[np.float64]:
    """Maximum-likelihood log-strengths for one score matrix.

    Damped Newton (Armijo backtracking) on the aggregated counts. The caller
    adds any prior first (:func:`regularised_score`) and makes sure the
    estimate exists (a connected comparison graph, and either a prior or a
    strongly connected win graph; see :mod:`ratings.graph`).

    Parameters
    ----------
    score : ndarray, shape (n, n)
        Score matrix (wins plus half ties, prior included).
    theta0 : ndarray, shape (n,), optional
        Starting point; zeros by default.
    tol : float
        Stop after a full Newton step moving no parameter by more than ``tol``.
    max_iter : int
        Iteration limit.

    Returns
    -------
    ndarray, shape (n,)
        Log-strengths with ``sum == 0``.

    Raises
    ------
    RuntimeError
        If Newton does not converge (only when the estimate does not exist).
    """
    return fit_batch(score[None], None if theta0 is None else theta0[None], tol, max_iter)[0]


def fit_batch(
    scores: NDArray[np.float64],
    theta0: NDArray[np.float64] | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = MAX_ITER,
) -> NDArray[np.float64]:
    """Fit many score matrices at once (bootstrap rounds) by batched Newton.

    With a warm start, rounds begin with chord steps through the inverse
    Hessian of the mean score matrix (shared by all rounds) and finish with
    exact Newton steps only where those converge slowly.

    Parameters
    ----------
    scores : ndarray, shape (r, n, n)
        One score matrix per round, prior included.
    theta0 : ndarray, shape (n,) or (r, n), optional
        Starting point(s); the full-data fit is a good warm start.
    tol : float
        Stop a round after a full Newton step moving no parameter by more than ``tol``.
    max_iter : int
        Iteration limit.

    Returns
    -------
    ndarray, shape (r, n)
        Log-strengths per round, each summing to 0.
    """
    rounds, n = scores.shape[0], scores.shape[-1]
    theta = np.zeros((rounds, n))
    if theta0 is not None:
        theta += theta0
    if n < 2:
        return theta
    theta -= theta.mean(axis=-1, keepdims=True)
    shared = None
    if rounds > 1 and theta0 is not None:
        mean_theta = theta.mean(axis=0)
        h = hessian(mean_theta, scores.mean(axis=0))
        shared = np.linalg.inv(h + max(float(np.trace(h)) / n, 1e-12) / n)
    per_batch = max(1, BATCH_ENTRIES // (n * n))
    for start in range(0, rounds, per_batch):
        part = slice(start, start + per_batch)
        theta[part] = _newton_batch(theta[part].copy(), scores[part], tol, max_iter, shared)
    theta -= theta.mean(axis=-1, keepdims=True)
    return theta
