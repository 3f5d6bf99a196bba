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

See ``ratings/README.md`` for the conventions (anchor, prior, intervals).
"""

from ratings.bt import DEFAULT_PRIOR, ELO_SCALE
from ratings.counts import PairCounts, aggregate
from ratings.errors import (
    DisconnectedGraphError,
    InvalidInputError,
    NoMLEError,
    RatingsError,
)
from ratings.graph import enough_votes
from ratings.intervals import rank_ub
from ratings.leaderboard import (
    DEFAULT_ANCHOR,
    JSON_KEYS,
    Leaderboard,
    LeaderboardRow,
    build_leaderboard,
    leaderboard,
    leaderboard_from_counts,
)
from ratings.outcomes import WINNER_CODES, Outcome, encode_winners, parse_winner
from ratings.rate import ANCHOR_RATING, DEFAULT_LEVEL, DEFAULT_ROUNDS, RatingFit, fit_counts, rate

__all__ = [
    "ANCHOR_RATING",
    "DEFAULT_ANCHOR",
    "DEFAULT_LEVEL",
    "DEFAULT_PRIOR",
    "DEFAULT_ROUNDS",
    "ELO_SCALE",
    "JSON_KEYS",
    "WINNER_CODES",
    "DisconnectedGraphError",
    "InvalidInputError",
    "Leaderboard",
    "LeaderboardRow",
    "NoMLEError",
    "Outcome",
    "PairCounts",
    "RatingFit",
    "RatingsError",
    "aggregate",
    "build_leaderboard",
    "encode_winners",
    "enough_votes",
    "fit_counts",
    "leaderboard",
    "leaderboard_from_counts",
    "parse_winner",
    "rank_ub",
    "rate",
]
