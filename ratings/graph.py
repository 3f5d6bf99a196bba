"""Which ratings the data can pin down: connectivity of the comparison graph.

Two questions decide whether a Bradley-Terry rating means anything:

* Is the *comparison graph* (an edge wherever two models met) connected?
  Ratings in different pieces were never compared, so no single scale holds
  them; :func:`components` finds the pieces.
* Is the *win graph* (an edge ``i -> j`` wherever ``i`` scored against ``j``,
  a tie scoring for both sides) strongly connected? If not, some group of
  models never lost (or never won) against the rest and the maximum-likelihood
  ratings do not exist: that group can move without bound. :func:`identifiability`
  says, for every model, on which side its rating is bounded by the data alone.

Both come from the reachability matrix of the graph (Warshall's algorithm on a boolean
numpy array): O(n^3) bit operations, a millisecond for a hundred models, and no scipy
import for a command line that fits a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


def reachable(edges: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Which model reaches which along directed edges (each reaches itself).

    Parameters
    ----------
    edges : ndarray of bool, shape (n, n)
        ``edges[i, j]``: an edge from ``i`` to ``j``.

    Returns
    -------
    ndarray of bool, shape (n, n)
        ``reach[i, j]``: a path leads from ``i`` to ``j``.
    """
    reach = np.array(edges, dtype=bool)
    np.fill_diagonal(reach, True)
    for k in range(reach.shape[0]):
        # Warshall: once paths through 0..k-1 are known, whoever reaches k reaches
        # whatever k reaches.
        rows = reach[:, k].copy()
        reach[rows] |= reach[k]
    return reach


def _pieces(reach: NDArray[np.bool_]) -> tuple[int, NDArray[np.intp]]:
    """Strongly connected pieces: their number, and each model's piece, the pieces
    numbered in the order of their smallest model."""
    mutual = reach & reach.T
    _, labels = np.unique(mutual.argmax(axis=1), return_inverse=True)
    return int(labels.max()) + 1, labels.astype(np.intp)


def components(games: NDArray[np.float64]) -> list[NDArray[np.intp]]:
    """Connected pieces of the comparison graph, largest first.

    Parameters
    ----------
    games : ndarray, shape (n, n)
        Battles played between each pair (symmetric).

    Returns
    -------
    list of ndarray of int
        Model indices of each piece, sorted; pieces ordered by size (largest
        first), then by smallest index.
    """
    n = games.shape[0]
    if n == 0:
        return []
    count, labels = _pieces(reachable((games > 0) | (games > 0).T))
    pieces = [np.flatnonzero(labels == k) for k in range(count)]
    return sorted(pieces, key=lambda piece: (-len(piece), int(piece[0])))


@dataclass(frozen=True)
class Identifiability:
    """Where the data alone bound each model's rating.

    Parameters
    ----------
    core : ndarray of bool, shape (n,)
        Models in the *core*: the largest strongly connected piece of the win
        graph (ties broken by most battles, then by the smallest model index).
        Intervals are stated relative to the core's mean rating.
    upper_unbounded : ndarray of bool, shape (n,)
        The data cannot bound the rating from above, relative to the core
        (no chain of results leads from the core to a loss of this model).
    lower_unbounded : ndarray of bool, shape (n,)
        The data cannot bound the rating from below, relative to the core.
    group : ndarray of intp, shape (n,)
        Label of each model's strongly connected piece of the win graph (pieces
        numbered in the order of their smallest model index).
    """

    core: NDArray[np.bool_]
    upper_unbounded: NDArray[np.bool_]
    lower_unbounded: NDArray[np.bool_]
    group: NDArray[np.intp]

    @property
    def mle_exists(self) -> bool:
        """True when every model is in the core (win graph strongly connected)."""
        return bool(self.core.all())


def identifiability(score: NDArray[np.float64]) -> Identifiability:
    """Classify each model's rating as bounded or not, from the win graph.

    Raising the rating of a model without lowering the likelihood means
    raising every model that ever scored against it, and so on. Relative to
    the core, a model is therefore unbounded above exactly when the core does
    not reach it in the win graph, and unbounded below when it does not reach
    the core.

    Parameters
    ----------
    score : ndarray, shape (n, n)
        Score matrix without any prior (wins plus half ties).

    Returns
    -------
    Identifiability
        Core membership and unbounded sides.
    """
    n = score.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return Identifiability(empty, empty, empty, np.zeros(0, dtype=np.intp))
    reach = reachable(score > 0)
    count, labels = _pieces(reach)
    sizes = np.bincount(labels, minlength=count)
    battles = np.bincount(labels, weights=(score + score.T).sum(axis=1), minlength=count)
    best = max(range(count), key=lambda k: (sizes[k], battles[k], -k))
    core = labels == best
    seed = int(np.flatnonzero(core)[0])
    return Identifiability(
        core=core,
        upper_unbounded=~reach[seed],
        lower_unbounded=~reach[:, seed],
        group=labels,
    )


def enough_votes(
    a_idx: NDArray[np.intp],
    b_idx: NDArray[np.intp],
    count: NDArray[np.int64],
    n: int,
    min_votes: int,
) -> NDArray[np.bool_]:
    """The models with at least ``min_votes`` battles against each other.

    A model below the threshold is set aside, which removes its battles from its
    opponents' counts too; this repeats until every model kept has ``min_votes``
    battles among the kept models, so every rated model's battle count in the fit
    meets the threshold.

    Parameters
    ----------
    a_idx, b_idx : ndarray of int, shape (m,)
        Side A and side B model indices of each row.
    count : ndarray of int, shape (m,)
        Battles per row.
    n : int
        Number of models.
    min_votes : int
        Battles a model needs (below 1 counts as 1: a model with no battle is never kept).

    Returns
    -------
    ndarray of bool, shape (n,)
        True for the models kept.
    """
    a_idx, b_idx = np.asarray(a_idx, dtype=np.intp), np.asarray(b_idx, dtype=np.intp)
    count = np.asarray(count, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    while True:
        live = keep[a_idx] & keep[b_idx]
        battles = np.bincount(a_idx[live], count[live], minlength=n) + np.bincount(
            b_idx[live], count[live], minlength=n
        )
        short = keep & (battles < max(min_votes, 1))
        if not short.any():
            return keep
        keep &= ~short
