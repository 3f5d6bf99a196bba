"""The batched damped Newton solver behind :func:`ratings.bt.fit_batch`.

Many Bradley-Terry fits at once (bootstrap rounds), on the ``n (n - 1) / 2`` pairs
``i < j`` packed in arrays: per-pair state kept between iterations, per-model sums
by segment sums, Armijo backtracking, and chord steps through a shared inverse
Hessian. The model, the loss and the public fits are in :mod:`ratings.bt`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_ARMIJO = 1e-4
_ROUNDOFF = 1e-12
_MAX_HALVINGS = 60
_STALL = 1e-14
#: A round leaves chord steps when a step is not this much smaller than the last.
_CHORD_RATE = 0.25
#: Chord steps converge linearly: stop when a step is this small.
_CHORD_TOL = 1e-7


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


def newton_batch(
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
