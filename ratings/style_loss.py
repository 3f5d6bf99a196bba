"""The style-controlled fit's objective (:mod:`ratings.style`): battle rows, the
negative log-likelihood with ties as half wins and the prior, its gradient and Hessian,
and Newton's method on them.

Per battle ``r`` with sides ``a``, ``b``, side A's score ``y`` (1, 0 or 1/2), features
``x`` and ``w`` battles, the log-odds are ``eta = theta[a] - theta[b] + gamma . x`` and

    loss = sum_r w_r (softplus(eta_r) - y_r eta_r) + prior terms,

whose gradient is ``sum_r w_r (p_r - y_r) z_r`` and Hessian ``sum_r w_r p_r (1 - p_r)
z_r z_r^T`` with ``z_r = (e_a - e_b, x_r)`` and ``p = expit(eta)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.bt import gradient, hessian
from ratings.bt import loss as pair_loss
from ratings.joint import shifted_inverse

_ARMIJO = 1e-4
_MAX_HALVINGS = 40


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


def newton(
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
