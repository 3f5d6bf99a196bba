"""The statistics that keep rigged votes out of the ratings.

The nightly recomputation loads per-vote and per-battle arrays and asks these pure
functions (numpy and scipy only, no database) which votes to leave out:

:func:`daily_cap`
    Votes beyond the ``cap``-th of their (voter, day).
:func:`steering_test`
    Voters whose decision to vote or to abandon depends on which models are in the
    battle: a one-sided Fisher exact test per model, Bonferroni within the voter,
    Benjamini-Hochberg across voters.
:func:`outlier_test` (and :func:`iterated_outlier_test`)
    Voters whose votes are improbable under the fitted Bradley-Terry model: the
    score test for a voter-specific bias for or against one model, with Monte Carlo
    p-values, Benjamini-Hochberg across voters.
:func:`benjamini_hochberg`
    The step-up procedure both tests end with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from ratings.bt import ELO_SCALE
from ratings.outcomes import N_OUTCOMES, SCORE_A

#: Default false discovery rate of both tests.
DEFAULT_FDR = 0.01
#: Most Monte Carlo draws per voter in the outlier test.
DEFAULT_MAX_DRAWS = 99_999
#: The outlier test's simulation stops once this many draws reached the observed statistic.
DEFAULT_EXCEEDANCES = 20
#: Draws of a voter's first simulation block (later blocks double).
_FIRST_BLOCK = 1024
#: Simulated statistics within this relative distance of the observed one count as
#: reaching it (the statistic is discrete; float sums in another order differ slightly).
_TIE_TOL = 1e-9
#: Random numbers drawn at once in the simulation, to bound temporary memory.
_SIM_CHUNK = 1 << 18
#: Cells convolved at once for the exact tails (small enough to stay in cache).
_TAIL_CHUNK = 8192

#: ``fit(keep)`` -> ``(ratings, tie_rate)`` from the votes where ``keep`` is True.
FitFn = Callable[[NDArray[np.bool_]], tuple[NDArray[np.float64], float]]


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


def _vector(values: ArrayLike, name: str, n: int | None = None) -> NDArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} entries, expected {n}")
    return array


def _models(values: ArrayLike, name: str, n: int) -> NDArray[np.int64]:
    array = _vector(values, name, n)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer model indices, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} holds a negative model index")
    return array.astype(np.int64)


def _check_fdr(fdr: float) -> None:
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
    _check_fdr(q)
    values = _vector(p, "p").astype(np.float64)
    if np.any(~(values >= 0.0) | (values > 1.0)):
        raise ValueError("p-values must lie in [0, 1]")
    m = values.size
    rejected = np.zeros(m, dtype=bool)
    order = np.argsort(values, kind="stable")
    below = np.flatnonzero(values[order] <= q * np.arange(1, m + 1) / m)
    if below.size:
        rejected[order[: below[-1] + 1]] = True
    return rejected


def daily_cap(keys: ArrayLike, days: ArrayLike, order: ArrayLike, cap: int) -> NDArray[np.bool_]:
    """Votes beyond the ``cap``-th of their (key, day).

    Parameters
    ----------
    keys : array_like of int, shape (n,)
        Who voted (voter id, or an address key); negative means unknown and is never
        capped.
    days : array_like, shape (n,)
        The day of each vote (any sortable values, e.g. day numbers).
    order : array_like, shape (n,)
        Sort key within a day, e.g. ``created_at`` as float; equal values keep the
        input order.
    cap : int
        Votes counted per key and day; ``cap <= 0`` disables the cap.

    Returns
    -------
    ndarray of bool, shape (n,)
        True for the votes to leave out.
    """
    key = _vector(keys, "keys")
    n = key.size
    day, when = _vector(days, "days", n), _vector(order, "order", n)
    capped = np.zeros(n, dtype=bool)
    known = np.flatnonzero(key >= 0)
    if cap <= 0 or known.size <= cap:
        return capped
    # Only the (key, day) groups above the cap need ordering: count them first.
    _, key_index = np.unique(key[known], return_inverse=True)
    day_values, day_index = np.unique(day[known], return_inverse=True)
    _, group, size = np.unique(
        key_index * day_values.size + day_index, return_inverse=True, return_counts=True
    )
    over = size[group] > cap
    known, group = known[over], group[over]
    sort = np.lexsort((when[known], group))
    g = group[sort]
    first = np.ones(sort.size, dtype=bool)
    first[1:] = g[1:] != g[:-1]
    position = np.arange(sort.size)
    run_start = np.maximum.accumulate(np.where(first, position, 0))
    capped[known[sort[position - run_start >= cap]]] = True
    return capped


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
    _check_fdr(fdr)
    who = _vector(voter, "voter")
    n = who.size
    a, b = _models(model_a, "model_a", n), _models(model_b, "model_b", n)
    did = _vector(voted, "voted", n).astype(bool)
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


def _convolve(win: NDArray[np.float64], tie: NDArray[np.float64]) -> NDArray[np.float64]:
    """Distribution of twice the sum of scores: ``(2w + 1, c)`` from ``(w, c)`` chances."""
    dist = np.zeros((2 * win.shape[0] + 1, win.shape[1]))
    dist[0] = 1.0
    for j in range(win.shape[0]):
        top = 2 * j + 1
        cur = dist[:top].copy()
        dist[:top] *= 1.0 - win[j] - tie[j]
        dist[1 : top + 1] += cur * tie[j]
        dist[2 : top + 2] += cur * win[j]
    return dist


def _sum_tails(
    row_cell: NDArray[np.int64],
    p_win: NDArray[np.float64],
    p_tie: float,
    expected: NDArray[np.float64],
    threshold: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Exact ``P((S_c - expected_c)^2 >= threshold_c)`` for each cell's sum of scores.

    ``S_c`` is the sum of the cell's independent scores in {0, 1/2, 1} (win with
    ``p_win``, tie with ``p_tie``, otherwise loss), found by convolution on the
    half-point grid. Cells go in groups of equal size (above 32 votes, of sizes
    within a factor of two, padded with certain losses, which add nothing).
    """
    n_cells = expected.size
    size = np.bincount(row_cell, minlength=n_cells)
    width = np.where(size <= 32, size, 2 ** np.ceil(np.log2(np.maximum(size, 1)))).astype(int)
    # Rows grouped by their cell's width, then by cell: each group is one slice.
    order = np.argsort(width[row_cell] * n_cells + row_cell, kind="stable")
    bounds = np.searchsorted(width[row_cell[order]], np.arange(width.max(initial=0) + 2))
    tails = np.zeros(n_cells)
    for w in np.unique(width[size > 0]):
        members = np.flatnonzero(width == w)
        rows = order[bounds[w] : bounds[w + 1]]
        if w <= 32:
            win = p_win[rows].reshape(members.size, w).T
            tie = np.full_like(win, p_tie)
        else:
            starts = np.cumsum(size[members]) - size[members]
            slot = np.arange(rows.size) - np.repeat(starts, size[members])
            column = np.repeat(np.arange(members.size), size[members])
            win, tie = np.zeros((w, members.size)), np.zeros((w, members.size))
            win[slot, column], tie[slot, column] = p_win[rows], p_tie
        for lo in range(0, members.size, _TAIL_CHUNK):
            part = slice(lo, lo + _TAIL_CHUNK)
            dist = _convolve(win[:, part], tie[:, part])
            grid = 0.5 * np.arange(2 * w + 1)[:, None] - expected[members[part]]
            reach = grid**2 >= threshold[members[part]] * (1.0 - _TIE_TOL)
            tails[members[part]] = np.minimum(1.0, (dist * reach).sum(axis=0))
    return tails


def _simulate(
    cut: NDArray[np.uint32],
    groups: list[tuple[NDArray[np.intp], NDArray[np.intp]]],
    low: NDArray[np.int64],
    high: NDArray[np.int64],
    rng: np.random.Generator,
    max_draws: int,
    exceedances: int,
) -> tuple[float, int, int]:
    """Sequential Monte Carlo p-value of one voter's statistic (Besag-Clifford).

    A vote's side-A score is 1 when a uniform 32-bit draw is below ``cut[0, i]``,
    1/2 below ``cut[1, i]``, else 0. For model ``k``, ``G_k`` is twice the sum of its
    scores over ``groups[k] = (votes on side A, votes on side B)``, B's counted
    negatively (B's score being one minus A's); a draw reaches the observed statistic
    when some ``G_k <= low[k]`` or ``G_k >= high[k]``. Draws go in doubling blocks
    until ``exceedances`` of them reached it (at draw ``L``: ``p = exceedances / L``)
    or ``max_draws`` are used (``p = (1 + reached) / (1 + max_draws)``). Returns
    ``(p, reached, draws used)``.
    """
    n = cut.shape[1]
    chunk = max(1, _SIM_CHUNK // n)
    dtype = np.int16 if 2 * n < np.iinfo(np.int16).max else np.int32
    low, high = (
        np.clip(low, -2 * n - 1, 2 * n + 1).astype(dtype),
        np.clip(high, -2 * n - 1, 2 * n + 1).astype(dtype),
    )
    reached = used = 0
    block = _FIRST_BLOCK
    while used < max_draws:
        size = min(block, max_draws - used)
        for start in range(0, size, chunk):
            rows = min(chunk, size - start)
            raw = rng.bit_generator.random_raw((n * rows + 1) // 2).view(np.uint32)
            u = raw[: n * rows].reshape(n, rows)
            twice = (u < cut[0][:, None]).view(np.int8) + (u < cut[1][:, None]).view(np.int8)
            hit = np.zeros(rows, dtype=bool)
            for k, (on_a, on_b) in enumerate(groups):
                g = np.add.reduce(twice[on_a], axis=0, dtype=dtype)
                g -= np.add.reduce(twice[on_b], axis=0, dtype=dtype)
                hit |= g <= low[k]
                hit |= g >= high[k]
            where = np.flatnonzero(hit)
            if reached + where.size >= exceedances:
                stop = used + int(where[exceedances - reached - 1]) + 1
                return exceedances / stop, exceedances, stop
            reached += where.size
            used += rows
        block *= 2
    return (1 + reached) / (1 + used), reached, used


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
    _check_fdr(fdr)
    if min_votes < 1 or max_draws < 1 or exceedances < 1:
        raise ValueError("min_votes, max_draws and exceedances must be at least 1")
    if not 0.0 <= tie_rate < 1.0:
        raise ValueError(f"tie_rate must be in [0, 1), got {tie_rate}")
    who = _vector(voter, "voter")
    n = who.size
    side_a, side_b = _models(a, "a", n), _models(b, "b", n)
    code = _vector(outcome, "outcome", n).astype(np.int64)
    if code.size and (code.min() < 0 or code.max() >= N_OUTCOMES):
        raise ValueError(f"outcome codes must be in 0..{N_OUTCOMES - 1}")
    rating = _vector(ratings, "ratings").astype(np.float64)
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
    tails = _sum_tails(
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
        reach = 2.0 * np.sqrt(stat[v] * var_cell[mine]) * (1.0 - _TIE_TOL)
        p_value[j], reached[j], used[j] = _simulate(
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
    who = _vector(voter, "voter")
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
