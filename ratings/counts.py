"""Fold battle rows into per-pair count matrices.

Everything downstream (the fit, the intervals, the table) works on these
``(n, n)`` matrices, so their size depends on the number of models, not of
votes. Aggregation is one ``np.bincount`` over a combined index, in chunks so
10 million votes need no more than a few tens of megabytes of temporaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ratings.errors import InvalidInputError
from ratings.outcomes import N_OUTCOMES, Outcome

#: Votes aggregated per bincount call, to bound temporary memory.
AGGREGATE_CHUNK = 1 << 20


@dataclass(frozen=True)
class PairCounts:
    """Aggregated battle counts between every pair of models.

    Parameters
    ----------
    wins : ndarray of float64, shape (n, n)
        ``wins[i, j]`` is the number of battles ``i`` won against ``j``,
        whichever side (A or B) each model was on.
    ties : ndarray of float64, shape (n, n)
        Symmetric; ``tie`` outcomes between ``i`` and ``j``.
    bothbad : ndarray of float64, shape (n, n)
        Symmetric; ``tie (bothbad)`` outcomes between ``i`` and ``j``.
    """

    wins: NDArray[np.float64]
    ties: NDArray[np.float64]
    bothbad: NDArray[np.float64]

    @property
    def n_models(self) -> int:
        """Number of models (rows of the matrices)."""
        return int(self.wins.shape[0])

    @property
    def games(self) -> NDArray[np.float64]:
        """Symmetric matrix of battles played between each pair."""
        return self.wins + self.wins.T + self.ties + self.bothbad

    @property
    def score(self) -> NDArray[np.float64]:
        """Wins plus half of both kinds of tie: the Bradley-Terry data."""
        return self.wins + 0.5 * (self.ties + self.bothbad)

    def subset(self, index: ArrayLike) -> PairCounts:
        """Counts restricted to the models in ``index`` (in that order).

        Parameters
        ----------
        index : array_like of int
            Model indices to keep.

        Returns
        -------
        PairCounts
            The sub-matrices.
        """
        ix = np.ix_(np.asarray(index), np.asarray(index))
        return PairCounts(self.wins[ix], self.ties[ix], self.bothbad[ix])


def _as_index_array(values: ArrayLike, name: str) -> NDArray[np.integer]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(f"{name} must hold integers, got dtype {array.dtype}")
    return array


def _check_range(values: NDArray[np.integer], name: str, upper: int) -> None:
    if values.size == 0 or (values.min() >= 0 and values.max() < upper):
        return
    first = int(np.flatnonzero((values < 0) | (values >= upper))[0])
    raise InvalidInputError(f"{name}[{first}] = {int(values[first])} is outside 0..{upper - 1}")


def aggregate(
    a_idx: ArrayLike,
    b_idx: ArrayLike,
    outcome: ArrayLike,
    n_models: int,
    count: ArrayLike | None = None,
) -> PairCounts:
    """Fold battles (or pre-aggregated battle rows) into pair count matrices.

    Uses one ``np.bincount`` over the combined index
    ``(a * n_models + b) * 4 + outcome``, in chunks of
    :data:`AGGREGATE_CHUNK` rows so temporary memory stays bounded.

    Parameters
    ----------
    a_idx, b_idx : array_like of int, shape (m,)
        Indices (``0 <= idx < n_models``) of the models on sides A and B.
    outcome : array_like of int, shape (m,)
        :class:`~ratings.outcomes.Outcome` codes.
    n_models : int
        Number of models.
    count : array_like of float, shape (m,), optional
        Number of battles each row stands for (rows aggregated by a database
        ``GROUP BY``). Defaults to one battle per row.

    Returns
    -------
    PairCounts
        The aggregated counts.

    Raises
    ------
    InvalidInputError
        On mismatched lengths, indices out of range, a model facing itself,
        unknown outcome codes or negative/non-finite counts. The message names
        the first offending row.
    """
    if n_models < 0:
        raise InvalidInputError(f"n_models must be >= 0, got {n_models}")
    a = _as_index_array(a_idx, "a_idx")
    b = _as_index_array(b_idx, "b_idx")
    o = _as_index_array(outcome, "outcome")
    if not len(a) == len(b) == len(o):
        raise InvalidInputError(
            f"a_idx, b_idx and outcome differ in length ({len(a)}, {len(b)}, {len(o)})"
        )
    weights: NDArray[np.float64] | None = None
    if count is not None:
        weights = np.asarray(count, dtype=np.float64)
        if weights.shape != a.shape:
            raise InvalidInputError(f"count has shape {weights.shape}, expected {a.shape}")
        bad = ~np.isfinite(weights) | (weights < 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(f"count[{first}] = {weights[first]} is not a count")
    _check_range(a, "a_idx", n_models)
    _check_range(b, "b_idx", n_models)
    _check_range(o, "outcome", N_OUTCOMES)

    size = n_models * n_models * N_OUTCOMES
    cells = np.zeros(size, dtype=np.float64)
    for start in range(0, len(a), AGGREGATE_CHUNK):
        stop = start + AGGREGATE_CHUNK
        a_chunk, b_chunk = a[start:stop], b[start:stop]
        same = a_chunk == b_chunk
        if same.any():
            first = start + int(np.flatnonzero(same)[0])
            raise InvalidInputError(f"row {first}: model_a and model_b are the same model")
        key = a_chunk.astype(np.int64)
        key *= n_models
        key += b_chunk
        key *= N_OUTCOMES
        key += o[start:stop]
        w = None if weights is None else weights[start:stop]
        cells += np.bincount(key, weights=w, minlength=size)
    table = cells.reshape(n_models, n_models, N_OUTCOMES)
    wins = table[:, :, Outcome.A_WINS] + table[:, :, Outcome.B_WINS].T
    ties = table[:, :, Outcome.TIE] + table[:, :, Outcome.TIE].T
    bothbad = table[:, :, Outcome.BOTHBAD] + table[:, :, Outcome.BOTHBAD].T
    return PairCounts(wins, ties, bothbad)
