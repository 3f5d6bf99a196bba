"""Read a battle file for a fit: ``python -m ratings fit`` and anything else that only
needs who met whom and the verdict.

The rows are the shared reader's (:mod:`ratings.battlefile`: every published layout, one
vocabulary of outcomes), read as arrays by :mod:`ratings.io_rows`: pyarrow in bulk, or
the line-numbered Python path to stop at a bad row with its number. pyarrow is imported
only there, inside the functions, so ``import ratings`` stays numpy + scipy. This module
chooses the rows a fit keeps and turns them into index arrays.

Like FastChat, a fit leaves out rows with ``anony`` false, and rows flagged by moderation
or toxic-chat tags; both are counted, and kept on request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ratings.battlefile import BattleFileError
from ratings.io_rows import RowColumns, read_rows

__all__ = ["BattleArrays", "BattleFileError", "Reading", "read_battles", "read_outcomes"]


@dataclass(frozen=True)
class BattleArrays:
    """Battles as index arrays, ready for :func:`ratings.leaderboard_from_counts`.

    Parameters
    ----------
    names : list of str
        Model names of the kept rows.
    a_idx, b_idx : ndarray of int32
        Indices into ``names`` of sides A and B.
    outcome : ndarray of int8
        :class:`~ratings.outcomes.Outcome` codes.
    non_anonymous : int
        Rows whose ``anony`` is false (left out unless ``include_named``).
    flagged : int
        Rows with a moderation or toxic-chat flag (left out unless ``include_flagged``).
    named_kept, flagged_kept : bool
        Whether those rows were kept.
    schema : str
        The layout read.
    """

    names: list[str]
    a_idx: NDArray[np.int32]
    b_idx: NDArray[np.int32]
    outcome: NDArray[np.int8]
    non_anonymous: int = 0
    flagged: int = 0
    named_kept: bool = False
    flagged_kept: bool = False
    schema: str = "fastchat"

    def __len__(self) -> int:
        return int(self.outcome.size)


def _arrays(rows: RowColumns, *, include_named: bool, include_flagged: bool) -> BattleArrays:
    keep = np.ones(rows.outcome.size, dtype=bool)
    if not include_named:
        keep &= rows.anony
    if not include_flagged:
        keep &= ~rows.flagged
    a, b, outcome = rows.a[keep], rows.b[keep], rows.outcome[keep]
    used = np.zeros(len(rows.names), dtype=bool)
    used[a] = True
    used[b] = True
    new = np.cumsum(used) - 1
    return BattleArrays(
        names=[n for n, u in zip(rows.names, used, strict=True) if u],
        a_idx=new[a].astype(np.int32),
        b_idx=new[b].astype(np.int32),
        outcome=outcome.astype(np.int8),
        non_anonymous=int((~rows.anony).sum()),
        flagged=int(rows.flagged.sum()),
        named_kept=include_named,
        flagged_kept=include_flagged,
        schema=rows.schema,
    )


def read_outcomes(
    path: str | Path,
    *,
    schema: str | None = None,
    include_named: bool = False,
    include_flagged: bool = False,
) -> BattleArrays:
    """Read a battle file of any layout into index arrays for a fit.

    Rows with ``anony`` false and flagged rows are counted and left out unless
    ``include_named`` / ``include_flagged``.

    Parameters
    ----------
    path : str or Path
        A ``.jsonl``/``.ndjson``, ``.json`` (array or JSON lines), ``.csv`` or
        ``.parquet`` file.
    schema : str, optional
        One of :data:`SCHEMAS`; detected from the columns when omitted.
    include_named, include_flagged : bool
        Keep non-anonymous or flagged rows.

    Returns
    -------
    BattleArrays

    Raises
    ------
    BattleFileError
        At the first malformed row, with its line (or row) number.
    InvalidInputError
        For an unknown layout or file type.
    OSError
        If the file cannot be opened.
    """
    rows = read_rows(path, schema)
    return _arrays(rows, include_named=include_named, include_flagged=include_flagged)


class Reading:
    """:func:`read_outcomes` started on a thread, so that the caller can import what it
    needs meanwhile (pyarrow reads without holding the GIL).

    Parameters
    ----------
    path : str or Path
        The file.
    schema : str, optional
        As for :func:`read_outcomes`.
    """

    def __init__(self, path: str | Path, schema: str | None = None) -> None:
        self.source = (path, schema)
        self._rows: RowColumns | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, schema), daemon=True)
        self._thread.start()

    def _run(self, path: str | Path, schema: str | None) -> None:
        try:
            self._rows = read_rows(path, schema)
        except BaseException as exc:  # raised again in the caller's thread
            self._error = exc

    def result(self, *, include_named: bool = False, include_flagged: bool = False) -> BattleArrays:
        """Wait for the read; the arrays, or the error :func:`read_outcomes` raises."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._rows is not None
        return _arrays(self._rows, include_named=include_named, include_flagged=include_flagged)


def read_battles(path: str | Path, **options: Any) -> BattleArrays:
    """:func:`read_outcomes` (the name this module had before the shared reader)."""
    return read_outcomes(path, **options)
