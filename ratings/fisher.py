"""The Fisher information of a Bradley-Terry fit and the rating variances it implies.

With log-strengths ``theta`` and ``N[i, j]`` battles between ``i`` and ``j``, the
information is the weighted graph Laplacian

    I = sum_{i<j} N[i, j] p_ij (1 - p_ij) (e_i - e_j)(e_i - e_j)^T,

``p_ij = expit(theta_i - theta_j)``; the variances relative to the field mean are the
diagonal of its pseudo-inverse, today (:func:`field_variances`) or after further votes
(:func:`projected_variances`). :mod:`ratings.separation` builds its projections on these.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.bt import expit

#: Eigenvalues of the information below this (relative to the largest) are zero.
_NULL = 1e-10


def fisher_information(theta: ArrayLike, games: ArrayLike) -> NDArray[np.float64]:
    """The Fisher information (a weighted Laplacian) of battles ``games`` at ``theta``.

    Parameters
    ----------
    theta : array_like, shape (n,)
        Log-strengths (natural log-odds scale).
    games : array_like, shape (..., n, n)
        Symmetric battle counts (or shares of votes) between each pair.

    Returns
    -------
    ndarray, shape (..., n, n)
        ``I[i, j] = -N[i, j] p_ij (1 - p_ij)`` off the diagonal, rows summing to 0.
    """
    theta = np.asarray(theta, dtype=np.float64)
    games = np.asarray(games, dtype=np.float64)
    p = expit(theta[:, None] - theta[None, :])
    weight = games * (p * (1.0 - p))
    n = theta.shape[0]
    weight = weight * (1.0 - np.eye(n))
    info = -weight
    info[..., np.arange(n), np.arange(n)] += weight.sum(axis=-1)
    return info


def field_variances(info: ArrayLike) -> NDArray[np.float64]:
    """Variance of each log-strength relative to the field mean: ``diag(I^+)``.

    Parameters
    ----------
    info : array_like, shape (..., n, n)
        Fisher information (Laplacians).

    Returns
    -------
    ndarray, shape (..., n)
        Variances; ``inf`` for every model of a disconnected information graph
        (ratings in different pieces share no scale).
    """
    info = np.asarray(info, dtype=np.float64)
    values, vectors = np.linalg.eigh(info)
    top = np.maximum(values[..., -1:], np.finfo(float).tiny)
    keep = values > _NULL * top
    inverse = np.where(keep, 1.0 / np.where(keep, values, 1.0), 0.0)
    var = np.einsum("...ik,...k,...ik->...i", vectors, inverse, vectors)
    connected = keep.sum(axis=-1) >= info.shape[-1] - 1
    return np.where(connected[..., None], var, np.inf)


def projected_variances(
    info_now: ArrayLike, info_vote: ArrayLike, steps: ArrayLike
) -> NDArray[np.float64]:
    """``diag((I_now + m I_vote)^+)`` for each ``m`` in ``steps``, at the cost of one.

    On the contrasts (the space orthogonal to the constants) both informations are
    diagonalised at once: with ``B = L L^T`` (``I_vote``, positive definite when the
    future votes connect every model) and ``L^-1 A L^-T = U diag(lam) U^T``
    (``A = I_now``), ``(A + m B)^-1 = W diag(1 / (lam + m)) W^T`` with
    ``W = L^-T U``, so each ``m`` costs one matrix product. When the future votes leave
    a model out, every ``m`` is decomposed on its own (:func:`field_variances`).

    Parameters
    ----------
    info_now, info_vote : array_like, shape (n, n)
        The information today and the information one vote adds on average.
    steps : array_like, shape (g,)
        Numbers of further votes.

    Returns
    -------
    ndarray, shape (g, n)
        Variances relative to the field mean (``inf`` where nothing pins them).
    """
    info_now = np.asarray(info_now, dtype=np.float64)
    info_vote = np.asarray(info_vote, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.float64)
    n = info_now.shape[0]
    basis = np.linalg.qr(np.eye(n)[:, : n - 1] - 1.0 / n)[0]  # orthonormal, sums to 0
    a = basis.T @ info_now @ basis
    b = basis.T @ info_vote @ basis
    try:
        chol = np.linalg.cholesky(b)
    except np.linalg.LinAlgError:
        return field_variances(info_now + steps[:, None, None] * info_vote)
    if np.linalg.cond(chol) > 1.0 / np.sqrt(_NULL):
        return field_variances(info_now + steps[:, None, None] * info_vote)
    inv_l = np.linalg.inv(chol)
    lam, u = np.linalg.eigh(inv_l @ a @ inv_l.T)
    lam = np.maximum(lam, 0.0)
    w = basis @ inv_l.T @ u  # (n, n - 1)
    total = lam[None, :] + steps[:, None]  # (g, n - 1)
    with np.errstate(divide="ignore"):
        inverse = np.where(total > 0, 1.0 / np.where(total > 0, total, 1.0), np.inf)
    return np.where(np.isinf(inverse).any(axis=1)[:, None], np.inf, inverse @ (w**2).T)
