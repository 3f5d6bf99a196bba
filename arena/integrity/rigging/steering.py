"""Voters who steer: their choice to vote or to abandon depends on the models in the battle.

A one-sided Fisher exact test per model, Bonferroni within the voter, Benjamini-Hochberg
across voters (:func:`steering_test`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from arena.integrity.rigging.fdr import (
    DEFAULT_FDR,
    as_models,
    as_vector,
    benjamini_hochberg,
    check_fdr,
)


@dataclass(frozen=True)
class SteeringResult:
    """Voters flagged by :func:`steering_test`, most significant first.

    Parameters
    ----------
    voter : ndarray of int64, shape (k,)
        Flagged voter ids.
    p_value : ndarray of float64, shape (k,)
        The voter's p-value (smallest over models times the number of models tested).
    model : ndarray of int64, shape (k,)
        The model whose presence best predicts a vote.
    counts : ndarray of int64, shape (k, 2, 2)
        Battles ``[[voted & present, voted & absent], [abandoned & present,
        abandoned & absent]]`` for that model.
    tested_voter, tested_p : ndarray, shape (t,)
        Every tested voter (ascending id) and its p-value.
    fdr : float
        The false discovery rate used.
    """

    voter: NDArray[np.int64]
    p_value: NDArray[np.float64]
    model: NDArray[np.int64]
    counts: NDArray[np.int64]
    tested_voter: NDArray[np.int64]
    tested_p: NDArray[np.float64]
    fdr: float


def steering_test(
    voter: ArrayLike,
    model_a: ArrayLike,
    model_b: ArrayLike,
    voted: ArrayLike,
    *,
    min_battles: int = 10,
    min_present: int = 3,
    fdr: float = DEFAULT_FDR,
) -> SteeringResult:
    """Flag voters who vote only when a favourite model is in the battle.

    The battles are a voter's blind battles that ended voted or abandoned (the caller
    leaves out failed ones). A voter is tested when they have at least
    ``min_battles`` battles, at least one vote and at least one abandoned battle. For
    each model present in at least ``min_present`` of the voter's battles and absent
    from at least one, a one-sided Fisher exact test (hypergeometric upper tail,
    conditional on the voter's vote count) asks whether voting is more likely when
    the model is present. The voter's p-value is the smallest over those models times
    their number (Bonferroni, at most 1); Benjamini-Hochberg at ``fdr`` across the
    tested voters decides. Under honest abandoning (independent of the models) the
    test is exact, so it errs on the safe side.

    Parameters
    ----------
    voter : array_like of int, shape (n,)
        Voter id of each battle.
    model_a, model_b : array_like of int, shape (n,)
        Model indices of the two sides.
    voted : array_like of bool, shape (n,)
        True if the battle got a vote, False if it was abandoned.
    min_battles : int
        Battles a voter needs to be tested.
    min_present : int
        Battles a model needs to be present in to be tested for that voter.
    fdr : float
        False discovery rate across voters.

    Returns
    -------
    SteeringResult
        The flagged voters with their evidence.
    """
    check_fdr(fdr)
    who = as_vector(voter, "voter")
    n = who.size
    a, b = as_models(model_a, "model_a", n), as_models(model_b, "model_b", n)
    did = as_vector(voted, "voted", n).astype(bool)
    ids, vi = np.unique(who, return_inverse=True)
    n_models = int(max(a.max(initial=-1), b.max(initial=-1))) + 1
    battles = np.bincount(vi, minlength=ids.size)
    votes = np.bincount(vi, weights=did, minlength=ids.size).astype(np.int64)
    eligible = (battles >= min_battles) & (votes > 0) & (votes < battles)

    # One row per (battle, model present); a model on both sides is present once.
    other = a != b
    rows = np.concatenate([vi * n_models + a, vi[other] * n_models + b[other]])
    row_voted = np.concatenate([did, did[other]])
    cells, cell = np.unique(rows, return_inverse=True)
    present = np.bincount(cell)
    hit = np.bincount(cell, weights=row_voted).astype(np.int64)
    cell_voter, cell_model = cells // max(n_models, 1), cells % max(n_models, 1)
    total = battles[cell_voter]
    test = eligible[cell_voter] & (present >= min_present) & (present < total)
    cell_voter, cell_model = cell_voter[test], cell_model[test]
    present, hit, total = present[test], hit[test], total[test]
    cell_votes = votes[cell_voter]
    from scipy.stats import hypergeom  # 1 s to import: only when some voter is tested

    p_cell = hypergeom.sf(hit - 1, total, cell_votes, present)

    # Smallest p per voter (lowest model index on ties), times the models tested.
    best = np.lexsort((cell_model, p_cell, cell_voter))
    first = np.ones(best.size, dtype=bool)
    first[1:] = cell_voter[best[1:]] != cell_voter[best[:-1]]
    pick = best[first]
    tested = np.bincount(cell_voter, minlength=ids.size)[cell_voter[pick]]
    p_voter = np.minimum(1.0, p_cell[pick] * tested)
    flag = benjamini_hochberg(p_voter, fdr)
    pick, p_flag = pick[flag], p_voter[flag]
    rank = np.argsort(p_flag, kind="stable")
    pick, p_flag = pick[rank], p_flag[rank]

    h, pr = hit[pick], present[pick]
    v, t = cell_votes[pick], total[pick]
    counts = np.stack([np.stack([h, v - h], 1), np.stack([pr - h, t - v - pr + h], 1)], 1)
    return SteeringResult(
        voter=ids[cell_voter[pick]].astype(np.int64),
        p_value=p_flag,
        model=cell_model[pick].astype(np.int64),
        counts=counts.astype(np.int64).reshape(-1, 2, 2),
        tested_voter=ids[cell_voter[best[first]]].astype(np.int64),
        tested_p=p_voter,
        fdr=fdr,
    )
