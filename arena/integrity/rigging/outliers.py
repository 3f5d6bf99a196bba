"""Voters whose votes are improbable under the fitted Bradley-Terry model.

The score test for a voter-specific bias for or against one model, with p-values from
:mod:`.tails`, Benjamini-Hochberg across voters (:func:`outlier_test`); and the same test
repeated with the flagged voters left out of the fit (:func:`iterated_outlier_test`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from arena.integrity.rigging.fdr import (
    DEFAULT_FDR,
    as_models,
    as_vector,
    benjamini_hochberg,
    check_fdr,
)
from arena.integrity.rigging.tails import TIE_TOL, simulate, sum_tails
from ratings.bt import ELO_SCALE
from ratings.outcomes import N_OUTCOMES, SCORE_A

#: Most Monte Carlo draws per voter in the outlier test.
DEFAULT_MAX_DRAWS = 99_999
#: The outlier test's simulation stops once this many draws reached the observed statistic.
DEFAULT_EXCEEDANCES = 20

#: ``fit(keep)`` -> ``(ratings, tie_rate)`` from the votes where ``keep`` is True.
FitFn = Callable[[NDArray[np.bool_]], tuple[NDArray[np.float64], float]]


@dataclass(frozen=True)
class OutlierResult:
    """Voters flagged by :func:`outlier_test`, most significant first.

    Parameters
    ----------
    voter : ndarray of int64, shape (k,)
        Flagged voter ids.
    p_value : ndarray of float64, shape (k,)
        The voter's p-value for ``T`` (see :func:`outlier_test`).
    model : ndarray of int64, shape (k,)
        The model with the largest ``|z|`` in the voter's votes.
    z : ndarray of float64, shape (k,)
        Its standardised score: positive when the voter favours the model.
    n_votes : ndarray of int64, shape (k,)
        The voter's votes involving that model.
    observed, expected : ndarray of float64, shape (k,)
        Wins of that model in those votes (ties half), observed and expected under
        the fitted model.
    tested_voter, tested_p : ndarray, shape (t,)
        Every tested voter (ascending id) and its p-value.
    tested_draws : ndarray of int64, shape (t,)
        Monte Carlo draws behind each p-value; 0 where the p-value is the exact
        per-model bound (see :func:`outlier_test`).
    fdr : float
        The false discovery rate used.
    rounds : int
        Fits and tests run (:func:`iterated_outlier_test`; 1 for a single test).
    """

    voter: NDArray[np.int64]
    p_value: NDArray[np.float64]
    model: NDArray[np.int64]
    z: NDArray[np.float64]
    n_votes: NDArray[np.int64]
    observed: NDArray[np.float64]
    expected: NDArray[np.float64]
    tested_voter: NDArray[np.int64]
    tested_p: NDArray[np.float64]
    tested_draws: NDArray[np.int64]
    fdr: float
    rounds: int = 1


def outlier_test(
    voter: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    outcome: ArrayLike,
    ratings: ArrayLike,
    tie_rate: float,
    *,
    rng: np.random.Generator,
    min_votes: int = 5,
    fdr: float = DEFAULT_FDR,
    screen: float = 0.05,
    max_draws: int = DEFAULT_MAX_DRAWS,
    exceedances: int = DEFAULT_EXCEEDANCES,
) -> OutlierResult:
    """Flag voters whose votes are improbable under the fitted Bradley-Terry model.

    Null model of one vote between ``a`` and ``b``: with ``p = P(a beats b)`` from the
    Elo-scale ratings, a tie (either kind) with probability ``t = tie_rate``, else
    ``a`` wins with probability ``w = clip((p - t/2) / (1 - t), 0, 1)``. Side A's
    score ``y`` (1, 1/2 or 0) then has mean ``mu = (1 - t) w + t/2`` (equal to ``p``
    unless clipped) and variance ``(1 - t) w + t/4 - mu^2``; everything below uses
    this ``mu``, so the simulation and the statistic agree.

    For voter ``v`` and model ``m``, ``s_vm`` is the sum of ``y - mu`` over the
    voter's votes involving ``m``, from ``m``'s side, and ``z_vm = s_vm / sd_vm``.
    The statistic ``T_v`` is the largest ``z_vm^2`` over the models with at least
    ``min_votes`` such votes (the score test for a voter-specific bias on one model).
    Voters without such a model are not tested.

    P-value of ``T_v`` under the null, with the voter's own battles:

    1. Bound: the sum over the voter's models of the exact tail
       ``P(z_vm^2 >= T_v)`` (each ``s_vm`` is a sum of independent three-point
       scores; convolution). It is never below the true p-value, so it is used as
       is for voters with one model (where it is exact) and for voters with
       bound ``>= screen`` (only the rest are simulated; ``screen >= 1`` simulates
       everyone).
    2. Monte Carlo with sequential stopping (Besag and Clifford, 1991): simulated
       vote sets in doubling blocks until ``exceedances`` of them reach ``T_v``, at
       draw ``L``: ``p = exceedances / L``; or, after ``max_draws`` draws of which
       ``g`` reached it, ``p = (1 + g) / (1 + max_draws)``. Both are valid p-values;
       the work is about ``exceedances / p`` draws, so small p-values are resolved
       (to about ``1 / sqrt(exceedances)`` relative error) without spending
       ``max_draws`` on every voter. When no draw reaches ``T_v`` the smaller of
       that and the bound is used (still valid, and it lets a blatant rigger reach
       the tiny p-values that Benjamini-Hochberg needs among tens of thousands of
       voters).

    Benjamini-Hochberg at ``fdr`` across the tested voters decides.

    Parameters
    ----------
    voter : array_like of int, shape (n,)
        Voter id of each vote.
    a, b : array_like of int, shape (n,)
        Model indices of sides A and B.
    outcome : array_like of int, shape (n,)
        Outcome codes (:class:`ratings.outcomes.Outcome`); both kinds of tie score
        half a win.
    ratings : array_like of float, shape (n_models,)
        Fitted Elo-scale ratings by model index; votes involving a model with a
        non-finite rating, or a model against itself, are ignored.
    tie_rate : float
        Observed share of votes that are ties or both-bad, in [0, 1).
    rng : numpy.random.Generator
        Source of the simulations.
    min_votes : int
        Votes with a model a voter needs for that model to count in ``T_v``.
    fdr : float
        False discovery rate across voters.
    screen : float
        Voters whose bound is at least this are not simulated.
    max_draws : int
        Most Monte Carlo draws per voter.
    exceedances : int
        The simulation of a voter stops once this many draws reached ``T_v``.

    Returns
    -------
    OutlierResult
        The flagged voters with their evidence.
    """
    check_fdr(fdr)
    if min_votes < 1 or max_draws < 1 or exceedances < 1:
        raise ValueError("min_votes, max_draws and exceedances must be at least 1")
    if not 0.0 <= tie_rate < 1.0:
        raise ValueError(f"tie_rate must be in [0, 1), got {tie_rate}")
    who = as_vector(voter, "voter")
    n = who.size
    side_a, side_b = as_models(a, "a", n), as_models(b, "b", n)
    code = as_vector(outcome, "outcome", n).astype(np.int64)
    if code.size and (code.min() < 0 or code.max() >= N_OUTCOMES):
        raise ValueError(f"outcome codes must be in 0..{N_OUTCOMES - 1}")
    rating = as_vector(ratings, "ratings").astype(np.float64)
    if n and max(side_a.max(), side_b.max()) >= rating.size:
        raise ValueError("a model index is beyond the ratings array")

    keep = (side_a != side_b) & np.isfinite(rating[side_a]) & np.isfinite(rating[side_b])
    who, side_a, side_b, code = who[keep], side_a[keep], side_b[keep], code[keep]
    ids, vi = np.unique(who, return_inverse=True)
    p = expit((rating[side_a] - rating[side_b]) / ELO_SCALE)
    t = tie_rate
    win = (1.0 - t) * np.clip((p - t / 2) / (1.0 - t), 0.0, 1.0)
    mu = win + t / 2
    var = win + t / 4 - mu**2
    y = SCORE_A[code]

    # Cells (voter, model): one row per vote and side, scores from the model's side.
    n_models = rating.size
    row_key = np.concatenate([vi * n_models + side_a, vi * n_models + side_b])
    sign = np.concatenate([np.ones(vi.size), -np.ones(vi.size)])
    row_vote = np.tile(np.arange(vi.size), 2)
    keys, row_cell = np.unique(row_key, return_inverse=True)
    n_cell = np.bincount(row_cell, minlength=keys.size)
    row_mu = np.where(sign > 0, mu[row_vote], 1.0 - mu[row_vote])
    obs = np.bincount(row_cell, weights=np.where(sign > 0, y[row_vote], 1.0 - y[row_vote]))
    exp = np.bincount(row_cell, weights=row_mu, minlength=keys.size)
    var_cell = np.bincount(row_cell, weights=var[row_vote], minlength=keys.size)
    good = (n_cell >= min_votes) & (var_cell > 1e-12)
    z = np.where(good, (obs - exp) / np.sqrt(np.where(good, var_cell, 1.0)), 0.0)
    cell_voter = keys // n_models

    # Per voter: T and the model with the largest |z| (lowest index on ties).
    cells = np.flatnonzero(good)
    order = np.lexsort((keys[cells], -np.abs(z[cells]), cell_voter[cells]))
    top = cells[order]
    first = np.ones(top.size, dtype=bool)
    first[1:] = cell_voter[top[1:]] != cell_voter[top[:-1]]
    top = top[first]
    tested = cell_voter[top]
    stat = np.zeros(ids.size)
    stat[tested] = z[top] ** 2
    n_tested_models = np.bincount(cell_voter[cells], minlength=ids.size)

    # Exact per-model tails, summed per voter (the bound).
    local = np.full(keys.size, -1)
    local[cells] = np.arange(cells.size)
    rows = np.flatnonzero(good[row_cell])
    row_win = np.where(sign > 0, win[row_vote], (1.0 - t) - win[row_vote])
    tails = sum_tails(
        local[row_cell[rows]],
        row_win[rows],
        t,
        exp[cells],
        stat[cell_voter[cells]] * var_cell[cells],
    )
    bound = np.minimum(1.0, np.bincount(cell_voter[cells], weights=tails, minlength=ids.size))
    p_value = bound[tested]
    used = np.zeros(tested.size, dtype=np.int64)
    reached = np.zeros(tested.size, dtype=np.int64)

    # Monte Carlo for the voters with several models and a small bound.
    vote_order = np.argsort(vi, kind="stable")
    vote_start = np.searchsorted(vi[vote_order], np.arange(ids.size + 1))
    cell_start = np.searchsorted(cell_voter[cells], np.arange(ids.size + 1))
    cut = np.minimum(np.floor(np.stack([win, win + t]) * 2.0**32), 2.0**32 - 1).astype(np.uint32)
    to_simulate = (n_tested_models[tested] > 1) & ((bound[tested] < screen) | (screen >= 1.0))
    for j in np.flatnonzero(to_simulate):
        v = tested[j]
        votes = vote_order[vote_start[v] : vote_start[v + 1]]
        mine = cells[cell_start[v] : cell_start[v + 1]]
        models = keys[mine] % n_models
        groups = [
            (np.flatnonzero(side_a[votes] == m), np.flatnonzero(side_b[votes] == m)) for m in models
        ]
        # G_k = 2 * (score of model k - votes with k on side B); its mean and reach.
        centre = 2.0 * (exp[mine] - np.array([on_b.size for _, on_b in groups]))
        reach = 2.0 * np.sqrt(stat[v] * var_cell[mine]) * (1.0 - TIE_TOL)
        p_value[j], reached[j], used[j] = simulate(
            cut[:, votes],
            groups,
            np.floor(centre - reach).astype(np.int64),
            np.ceil(centre + reach).astype(np.int64),
            rng,
            max_draws,
            exceedances,
        )
    never = (used > 0) & (reached == 0)
    p_value[never] = np.minimum(p_value[never], bound[tested[never]])

    flag = np.flatnonzero(benjamini_hochberg(p_value, fdr))
    flag = flag[np.argsort(p_value[flag], kind="stable")]
    pick = top[flag]
    return OutlierResult(
        voter=ids[tested[flag]].astype(np.int64),
        p_value=p_value[flag],
        model=(keys[pick] % n_models).astype(np.int64),
        z=z[pick],
        n_votes=n_cell[pick].astype(np.int64),
        observed=obs[pick].astype(np.float64),
        expected=exp[pick].astype(np.float64),
        tested_voter=ids[tested].astype(np.int64),
        tested_p=p_value,
        tested_draws=used,
        fdr=fdr,
    )


def iterated_outlier_test(
    voter: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    outcome: ArrayLike,
    fit: FitFn,
    *,
    rng: np.random.Generator,
    max_rounds: int = 3,
    min_votes: int = 5,
    fdr: float = DEFAULT_FDR,
    screen: float = 0.05,
    max_draws: int = DEFAULT_MAX_DRAWS,
    exceedances: int = DEFAULT_EXCEEDANCES,
) -> OutlierResult:
    """Alternate fitting without the flagged voters and testing everyone again.

    Riggers pull the fit towards their votes, which hides them a little; each round
    fits on the votes of the voters not flagged by the previous round and runs
    :func:`outlier_test` on all votes. Stops when the flagged set repeats, or after
    ``max_rounds`` rounds.

    Parameters
    ----------
    voter, a, b, outcome : array_like, shape (n,)
        As in :func:`outlier_test`.
    fit : callable
        ``fit(keep)`` returns ``(ratings, tie_rate)`` fitted on the votes where the
        boolean mask ``keep`` is True.
    rng : numpy.random.Generator
        Source of the simulations.
    max_rounds : int
        Most fits and tests to run (at least 1).
    min_votes, fdr, screen, max_draws, exceedances
        As in :func:`outlier_test`.

    Returns
    -------
    OutlierResult
        The last round's result, with ``rounds`` set.
    """
    who = as_vector(voter, "voter")
    flagged = np.zeros(0, dtype=np.int64)
    rounds = 0
    while True:
        rounds += 1
        ratings, tie_rate = fit(~np.isin(who, flagged))
        result = outlier_test(
            who,
            a,
            b,
            outcome,
            ratings,
            tie_rate,
            rng=rng,
            min_votes=min_votes,
            fdr=fdr,
            screen=screen,
            max_draws=max_draws,
            exceedances=exceedances,
        )
        now = np.sort(result.voter)
        if rounds >= max_rounds or np.array_equal(now, flagged):
            return replace(result, rounds=rounds)
        flagged = now
