"""The Davidson fit's objective (:mod:`ratings.ties`): the pair counts it reads, the
negative log-likelihood, its gradient and Hessian, the scores' outer products for the
sandwich intervals, and Newton's method on them.

Per unordered pair ``i < j`` with ``d = theta_i - theta_j``, ``s = log nu`` and
``D = e^{d/2} + e^{-d/2} + nu``, the log-likelihood of ``won``, ``lost`` and ``tied``
battles is ``won d/2 - lost d/2 + tied s - (won + lost + tied) log D``; each outcome's
probability is ``e^{d/2} / D``, ``e^{-d/2} / D`` or ``nu / D``, computed without overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ratings.counts import PairCounts
from ratings.joint import shifted_inverse

_ARMIJO = 1e-4
_MAX_HALVINGS = 40


@dataclass(frozen=True)
class PairData:
    """A pair count table folded to the unordered pairs ``i < j`` a Davidson fit uses.

    Parameters
    ----------
    i, j : ndarray of intp
        The pairs (``i < j``).
    won, lost, tied : ndarray of float
        Battles ``i`` won, lost and tied (both kinds) against ``j``.
    n : int
        Number of models.
    """

    i: NDArray[np.intp]
    j: NDArray[np.intp]
    won: NDArray[np.float64]
    lost: NDArray[np.float64]
    tied: NDArray[np.float64]
    n: int

    @classmethod
    def of(cls, counts: PairCounts, prior_wins: float = 0.0) -> PairData:
        """Fold ``counts``, adding ``prior_wins`` virtual wins each way to every pair."""
        n = counts.n_models
        i, j = np.triu_indices(n, 1)
        tied = counts.ties + counts.bothbad
        return cls(
            i,
            j,
            counts.wins[i, j] + prior_wins,
            counts.wins[j, i] + prior_wins,
            tied[i, j].astype(np.float64),
            n,
        )

    def signed(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """``sum_pairs values (e_i - e_j)``."""
        return np.bincount(self.i, values, self.n) - np.bincount(self.j, values, self.n)

    def laplacian(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """``sum_pairs values (e_i - e_j)(e_i - e_j)^T``."""
        out = np.zeros((self.n, self.n))
        out[self.i, self.j] = -values
        out[self.j, self.i] = -values
        out[np.arange(self.n), np.arange(self.n)] = np.bincount(
            self.i, values, self.n
        ) + np.bincount(self.j, values, self.n)
        return out


def _probabilities(
    params: NDArray[np.float64], data: PairData
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``log D`` and the three outcome probabilities per pair, without overflow."""
    theta, s = params[:-1], params[-1]
    h = 0.5 * (theta[data.i] - theta[data.j])
    big = np.maximum(np.abs(h), s)
    up, down, tie = np.exp(h - big), np.exp(-h - big), np.exp(s - big)
    total = up + down + tie
    return big + np.log(total), up / total, down / total, tie / total


def loss(params: NDArray[np.float64], data: PairData) -> float:
    """Minus the Davidson log-likelihood of the counts.

    Parameters
    ----------
    params : ndarray, shape (n + 1,)
        ``theta`` then ``log nu``.
    data : PairData
        The counts (any virtual wins included).

    Returns
    -------
    float
        ``-sum [won d/2 - lost d/2 + tied log nu - games log D]``.
    """
    theta, s = params[:-1], params[-1]
    h = 0.5 * (theta[data.i] - theta[data.j])
    log_d = _probabilities(params, data)[0]
    games = data.won + data.lost + data.tied
    return -float(np.sum((data.won - data.lost) * h + data.tied * s - games * log_d))


def loss_gradient(params: NDArray[np.float64], data: PairData) -> NDArray[np.float64]:
    """Gradient of :func:`loss`."""
    _, up, down, tie = _probabilities(params, data)
    games = data.won + data.lost + data.tied
    along = 0.5 * (data.won - data.lost) - 0.5 * games * (up - down)  # d loglik / d d
    return -np.concatenate([data.signed(along), [np.sum(data.tied - games * tie)]])


def loss_hessian(params: NDArray[np.float64], data: PairData) -> NDArray[np.float64]:
    """Hessian of :func:`loss`; singular along the constant shift of ``theta``."""
    _, up, down, tie = _probabilities(params, data)
    games = data.won + data.lost + data.tied
    n = data.n
    out = np.empty((n + 1, n + 1))
    out[:n, :n] = data.laplacian(0.25 * games * ((up + down) - (up - down) ** 2))
    out[:n, n] = data.signed(-0.5 * games * tie * (up - down))
    out[n, :n] = out[:n, n]
    out[n, n] = np.sum(games * tie * (1.0 - tie))
    return out


def score_outer(params: NDArray[np.float64], data: PairData) -> NDArray[np.float64]:
    """``G``: the sum over votes of the outer products of their score vectors."""
    _, up, down, tie = _probabilities(params, data)
    half = 0.5 * (up - down)
    # Per outcome: (d-part, log-nu part) of d loglik for one vote.
    parts = (
        (data.won, 0.5 - half, -tie),
        (data.lost, -0.5 - half, -tie),
        (data.tied, -half, 1.0 - tie),
    )
    n = data.n
    out = np.zeros((n + 1, n + 1))
    for count, along, nu in parts:
        out[:n, :n] += data.laplacian(count * along**2)
        out[:n, n] += data.signed(count * along * nu)
        out[n, n] += np.sum(count * nu**2)
    out[n, :n] = out[:n, n]
    return out


def newton_ties(
    data: PairData, params: NDArray[np.float64], tol: float, max_iter: int
) -> NDArray[np.float64]:
    n = data.n
    current = loss(params, data)
    for _ in range(max_iter):
        g = loss_gradient(params, data)
        step = -shifted_inverse(loss_hessian(params, data), n) @ g
        step[:n] -= step[:n].mean()
        slope = float(g @ step)
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            trial = params + t * step
            value = loss(trial, data)
            if value <= current + _ARMIJO * t * slope + 1e-12 * (abs(current) + 1.0):
                break
            t *= 0.5
        params, current = trial, value
        size = float(np.abs(step).max())
        if (t == 1.0 and size < tol) or t * size < 1e-14:
            return params
    raise RuntimeError(f"Newton did not converge in {max_iter} iterations")
