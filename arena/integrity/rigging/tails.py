"""The outlier test's p-values: exact tails where they are cheap, Monte Carlo otherwise.

:func:`sum_tails` convolves each vote's score distribution for the exact upper tail of a
voter's statistic; :func:`simulate` draws a voter's votes under the fitted model in
growing blocks and stops once enough draws reached the observed statistic. Apart from
:mod:`.outliers` because this is the numerically delicate part (chunking, tie tolerance).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Draws of a voter's first simulation block (later blocks double).
_FIRST_BLOCK = 1024
#: Simulated statistics within this relative distance of the observed one count as
#: reaching it (the statistic is discrete; float sums in another order differ slightly).
TIE_TOL = 1e-9
#: Random numbers drawn at once in the simulation, to bound temporary memory.
_SIM_CHUNK = 1 << 18
#: Cells convolved at once for the exact tails (small enough to stay in cache).
_TAIL_CHUNK = 8192


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


def sum_tails(
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
            reach = grid**2 >= threshold[members[part]] * (1.0 - TIE_TOL)
            tails[members[part]] = np.minimum(1.0, (dist * reach).sum(axis=0))
    return tails


def simulate(
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
