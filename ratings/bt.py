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

The fits (:func:`fit`, :func:`fit_batch`) run the batched Newton solver of
:mod:`ratings.bt_newton`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ratings.bt_newton import newton_batch
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
        theta[part] = newton_batch(theta[part].copy(), scores[part], tol, max_iter, shared)
    theta -= theta.mean(axis=-1, keepdims=True)
    return theta
