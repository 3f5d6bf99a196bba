"""Bradley-Terry ratings for the arena: pure numerics on arrays.

Votes in, a leaderboard out: Bradley-Terry maximum likelihood on the Elo scale
(ties of both kinds count half a win each), sandwich or bootstrap confidence
intervals, rank (UB), and the per-model table. Imports only numpy, scipy and
the standard library; the arena's database code calls it with arrays.

Entry points
------------
leaderboard
    From one row per battle with model names and ``winner`` strings.
leaderboard_from_counts
    From integer rows ``(a_idx, b_idx, outcome[, count])``, e.g. a SQL
    ``GROUP BY model_a, model_b, winner``.
fit_counts, rate
    The same numbers without names: a :class:`RatingFit` of arrays.
fit_style
    Style control: ratings with answer length and Markdown counts held equal, and the
    style coefficients (:mod:`ratings.style`).
fit_davidson
    The Davidson tie model and its likelihood against the half-win coding
    (:mod:`ratings.ties`).

See ``ratings/README.md`` for the conventions (anchor, prior, intervals).
"""

import sys
from importlib import import_module
from types import ModuleType
from typing import Any

#: Where each public name lives. Loaded on first use (PEP 562), so that a command line
#: that only reads a file (``python -m ratings fit`` starts reading before scipy is
#: imported) or imports one light module does not pay for all of them.
_HOME = {
    "DEFAULT_PRIOR": "bt", "ELO_SCALE": "bt", "PairCounts": "counts", "aggregate": "counts",
    "DisconnectedGraphError": "errors", "InvalidInputError": "errors", "NoMLEError": "errors",
    "RatingsError": "errors", "enough_votes": "graph", "rank_ub": "intervals",
    "DEFAULT_ANCHOR": "leaderboard", "JSON_KEYS": "table", "Leaderboard": "table",
    "LeaderboardRow": "table", "build_leaderboard": "table",
    "leaderboard": "leaderboard", "leaderboard_from_counts": "leaderboard",
    "WINNER_CODES": "outcomes", "Outcome": "outcomes", "encode_winners": "outcomes",
    "parse_winner": "outcomes", "ANCHOR_RATING": "rate", "DEFAULT_LEVEL": "rate",
    "DEFAULT_ROUNDS": "rate", "RatingFit": "rate", "fit_counts": "rate", "rate": "rate",
    "STYLE_FEATURES": "style", "StyleFit": "style", "fit_style": "style",
    "normalised_differences": "style", "DavidsonFit": "ties", "TieComparison": "ties",
    "fit_davidson": "ties", "fit_davidson_counts": "ties",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'ratings' has no attribute {name!r}")
    value = getattr(import_module(f"ratings.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


class _Package(ModuleType):
    """Keeps ``ratings.leaderboard`` and ``ratings.rate`` the functions: importing the
    submodules of the same names would otherwise bind the modules over them."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and _HOME.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "ANCHOR_RATING",
    "DEFAULT_ANCHOR",
    "DEFAULT_LEVEL",
    "DEFAULT_PRIOR",
    "DEFAULT_ROUNDS",
    "ELO_SCALE",
    "JSON_KEYS",
    "STYLE_FEATURES",
    "WINNER_CODES",
    "DavidsonFit",
    "DisconnectedGraphError",
    "InvalidInputError",
    "Leaderboard",
    "LeaderboardRow",
    "NoMLEError",
    "Outcome",
    "PairCounts",
    "RatingFit",
    "RatingsError",
    "StyleFit",
    "TieComparison",
    "aggregate",
    "build_leaderboard",
    "encode_winners",
    "enough_votes",
    "fit_counts",
    "fit_davidson",
    "fit_davidson_counts",
    "fit_style",
    "leaderboard",
    "leaderboard_from_counts",
    "normalised_differences",
    "parse_winner",
    "rank_ub",
    "rate",
]
