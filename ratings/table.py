"""The leaderboard table: one row per model with its rating, interval and vote counts.

:func:`build_leaderboard` puts model names, the battle counts (wins, both kinds of tie,
losses, win rate) and any external per-model columns on a :class:`~ratings.rate.RatingFit`,
and explains in plain words every fallback the fit took (``Leaderboard.notes``). The
terms of the table are described in :mod:`ratings.leaderboard`, whose functions fit
battles and return this table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ratings.counts import PairCounts
from ratings.rate import ANCHOR_RATING, RatingFit

#: Keys of one row in the public JSON output, in order.
JSON_KEYS = (
    "model",
    "rating",
    "ci_lower",
    "ci_upper",
    "rank",
    "battles",
    "wins",
    "ties",
    "losses",
    "win_rate",
)

External = Mapping[str, Mapping[str, object]]


@dataclass(frozen=True)
class LeaderboardRow:
    """One model's line in the leaderboard.

    Parameters
    ----------
    model : str
        Model name.
    rank : int
        Rank (UB).
    rating : float
        Elo-scale rating.
    ci_lower, ci_upper : float
        Interval ends; ``-inf``/``inf`` where the data cannot bound that side.
    battles, wins, losses : int
        Battles played, won and lost.
    ties_plain, ties_bothbad : int
        ``tie`` and ``tie (bothbad)`` outcomes.
    win_rate : float
        ``wins / battles``.
    in_core : bool
        Part of the reference set the intervals are relative to.
    note : str
        Why an interval end is infinite, else empty.
    external : mapping
        Extra per-model columns carried through unchanged.
    """

    model: str
    rank: int
    rating: float
    ci_lower: float
    ci_upper: float
    battles: int
    wins: int
    ties_plain: int
    ties_bothbad: int
    losses: int
    win_rate: float
    in_core: bool = True
    note: str = ""
    external: Mapping[str, object] = field(default_factory=dict)

    @property
    def ties(self) -> int:
        """Both kinds of tie together."""
        return self.ties_plain + self.ties_bothbad

    def to_dict(self, full: bool = False) -> dict[str, object]:
        """The row as a JSON-ready dict (infinite ends become None).

        Parameters
        ----------
        full : bool
            False gives exactly :data:`JSON_KEYS`; True adds ``ties_plain``,
            ``ties_bothbad``, ``in_core``, ``note`` and ``external``.

        Returns
        -------
        dict
            The row.
        """
        row: dict[str, object] = {
            "model": self.model,
            "rating": self.rating,
            "ci_lower": _finite_or_none(self.ci_lower),
            "ci_upper": _finite_or_none(self.ci_upper),
            "rank": self.rank,
            "battles": self.battles,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "win_rate": self.win_rate,
        }
        if full:
            row.update(
                ties_plain=self.ties_plain,
                ties_bothbad=self.ties_bothbad,
                in_core=self.in_core,
                note=self.note,
                external=dict(self.external),
            )
        return row


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Leaderboard:
    """The table, best first, with what the numbers mean.

    Parameters
    ----------
    rows : tuple of LeaderboardRow
        Sorted by rating, highest first (then by name).
    anchor : str or None
        The model pinned at ``anchor_rating``, or None when the field mean is.
    anchor_rating : float
        Rating of the anchor (or of the field mean).
    method : str
        Interval method, ``"sandwich"`` or ``"bootstrap"``.
    level : float
        Interval coverage.
    rounds : int or None
        Bootstrap rounds.
    prior : float
        Virtual ties per model used in the fit.
    notes : tuple of str
        Fallbacks and exclusions, in plain words.
    external_columns : tuple of str
        Names of the external columns, in order of first appearance.
    """

    rows: tuple[LeaderboardRow, ...]
    anchor: str | None
    anchor_rating: float
    method: str
    level: float
    rounds: int | None
    prior: float
    notes: tuple[str, ...] = ()
    external_columns: tuple[str, ...] = ()

    def to_dicts(self, full: bool = False) -> list[dict[str, object]]:
        """All rows as dicts (see :meth:`LeaderboardRow.to_dict`).

        Parameters
        ----------
        full : bool
            Add the extra keys beyond :data:`JSON_KEYS`.

        Returns
        -------
        list of dict
            One dict per row, best first.
        """
        return [row.to_dict(full) for row in self.rows]


def _row_note(upper_unbounded: bool, lower_unbounded: bool) -> str:
    if upper_unbounded and lower_unbounded:
        return "not placed by the data: rating comes from the prior"
    if upper_unbounded:
        return (
            "never lost to the rest: no upper bound; lower bound from its perfect record, "
            "rating from the prior"
        )
    if lower_unbounded:
        return (
            "never beat the rest: no lower bound; upper bound from its losing record, "
            "rating from the prior"
        )
    return ""


def _notes(
    names: Sequence[str], result: RatingFit, anchor: str | None, anchor_rating: float
) -> list[str]:
    notes: list[str] = []
    field_words = "the mean of the field"
    if not result.in_core.all():
        field_words = f"the mean of the {int(result.in_core.sum())} models that won and lost"
    reasons = {
        "no-votes": "has no votes",
        "not-in-kept-piece": "is not connected to the rated models",
        "unbounded": "never lost (or never won) against the rest, so the data do not fix it",
    }
    if result.rating.size and result.anchor_fallback is not None:
        notes.append(
            f"anchor {anchor!r} {reasons[result.anchor_fallback]}: "
            f"ratings instead put {field_words} at {anchor_rating:g}"
        )
    elif result.rating.size and anchor is None:
        notes.append(f"no anchor: ratings put {field_words} at {anchor_rating:g}")
    if result.rating.size:
        method = result.method
        if result.rounds is not None:
            method += f", {result.rounds} rounds"
        notes.append(
            f"{result.level:.0%} intervals ({method}) "
            f"are relative to {field_words}; the anchor's interval is its uncertainty "
            "against that mean"
        )
    if result.unrated.size:
        listed = ", ".join(names[i] for i in result.unrated)
        notes.append(f"not rated (no battles): {listed}")
    if result.dropped.size:
        listed = ", ".join(names[i] for i in result.dropped)
        notes.append(f"left out (never compared with the rated models): {listed}")
    if not names or (not result.rating.size and not result.unrated.size):
        notes.append("no battles: nothing to rate")
    return notes


def build_leaderboard(
    names: Sequence[str],
    counts: PairCounts,
    result: RatingFit,
    *,
    anchor: str | None,
    anchor_rating: float = ANCHOR_RATING,
    external: External | None = None,
) -> Leaderboard:
    """Put names, vote counts and external columns on a :class:`RatingFit`.

    Parameters
    ----------
    names : sequence of str
        Model names, indexed like ``counts``.
    counts : PairCounts
        The aggregated battles the fit used.
    result : RatingFit
        Output of :func:`ratings.rate.rate`.
    anchor : str or None
        The anchor that was requested (for the notes).
    anchor_rating : float
        Rating of the anchor.
    external : mapping of str to mapping, optional
        ``{model: {column: value}}`` carried into each row.

    Returns
    -------
    Leaderboard
        The table.
    """
    external = external or {}
    wins = counts.wins.sum(axis=1)
    losses = counts.wins.sum(axis=0)
    ties_plain = counts.ties.sum(axis=1)
    ties_bothbad = counts.bothbad.sum(axis=1)
    battles = wins + losses + ties_plain + ties_bothbad
    upper_open = np.isposinf(result.ci_upper)
    lower_open = np.isneginf(result.ci_lower)
    rows = []
    for k, i in enumerate(result.models):
        name = names[i]
        rows.append(
            LeaderboardRow(
                model=name,
                rank=int(result.rank[k]),
                rating=float(result.rating[k]),
                ci_lower=float(result.ci_lower[k]),
                ci_upper=float(result.ci_upper[k]),
                battles=round(battles[i]),
                wins=round(wins[i]),
                ties_plain=round(ties_plain[i]),
                ties_bothbad=round(ties_bothbad[i]),
                losses=round(losses[i]),
                win_rate=float(wins[i] / battles[i]),
                in_core=bool(result.in_core[k]),
                note=_row_note(bool(upper_open[k]), bool(lower_open[k])),
                external=dict(external.get(name, {})),
            )
        )
    rows.sort(key=lambda row: (-row.rating, row.model))
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row.external))
    return Leaderboard(
        rows=tuple(rows),
        anchor=None if result.anchor is None else names[result.anchor],
        anchor_rating=anchor_rating,
        method=result.method,
        level=result.level,
        rounds=result.rounds,
        prior=result.prior,
        notes=tuple(_notes(names, result, anchor, anchor_rating)),
        external_columns=tuple(columns),
    )
