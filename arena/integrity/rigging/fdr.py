"""Benjamini-Hochberg, and the checks of array arguments the rigging tests share.

Both voter tests (:mod:`.steering`, :mod:`.outliers`) end with the same step-up procedure
across voters and validate their inputs the same way; this is that common ground.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Default false discovery rate of both tests.
DEFAULT_FDR = 0.01


def as_vector(values: ArrayLike, name: str, n: int | None = None) -> NDArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} entries, expected {n}")
    return array


def as_models(values: ArrayLike, name: str, n: int) -> NDArray[np.int64]:
    array = as_vector(values, name, n)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer model indices, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} holds a negative model index")
    return array.astype(np.int64)


def check_fdr(fdr: float) -> None:
    if not 0.0 < fdr < 1.0:
        raise ValueError(f"fdr must be strictly between 0 and 1, got {fdr}")


def benjamini_hochberg(p: ArrayLike, q: float) -> NDArray[np.bool_]:
    """Benjamini-Hochberg step-up procedure.

    Sort the ``m`` p-values, find the largest ``k`` with ``p_(k) <= k q / m`` and
    reject the ``k`` smallest. Controls the false discovery rate at ``q`` for
    independent (or positively dependent) tests.

    Parameters
    ----------
    p : array_like of float, shape (m,)
        P-values in [0, 1].
    q : float
        False discovery rate, strictly between 0 and 1.

    Returns
    -------
    ndarray of bool, shape (m,)
        True for the rejected hypotheses.
    """
    check_fdr(q)
    values = as_vector(p, "p").astype(np.float64)
    if np.any(~(values >= 0.0) | (values > 1.0)):
        raise ValueError("p-values must lie in [0, 1]")
    m = values.size
    rejected = np.zeros(m, dtype=bool)
    order = np.argsort(values, kind="stable")
    below = np.flatnonzero(values[order] <= q * np.arange(1, m + 1) / m)
    if below.size:
        rejected[order[: below[-1] + 1]] = True
    return rejected
