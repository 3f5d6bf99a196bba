"""Votes beyond the ``cap``-th of their (voter, day): the simplest rigging rule.

Kept apart from the two statistical tests because it needs no model fit, only each
vote's voter and day.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from arena.integrity.rigging.fdr import as_vector


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
    key = as_vector(keys, "keys")
    n = key.size
    day, when = as_vector(days, "days", n), as_vector(order, "order", n)
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
