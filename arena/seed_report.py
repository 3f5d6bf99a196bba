"""The seed report's published arena table, and today's ratings beside it.

The Tanuki project's report (human evaluation, 19-24 August 2024, 2,049 votes among
13 models) published one Bradley-Terry table anchored at Tanuki-8B-dpo-v1.0 = 1000:
rating, win rate and battles per model, with no intervals and no rank column. The
leaderboard shows it next to the latest rating run ("the report then, the arena now").
The rows below are that table as published (``shared/data/seed_arena_table.csv``; a test
checks them against the copy in ``tests/golden``). A rank here is a place by rating, on
both sides, so the two can be compared; the report's intervals are unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: The report's scale: this model is 1000.
REPORT_ANCHOR = "Tanuki-8B-dpo-v1.0"
#: When its votes were cast, and how many.
REPORT_PERIOD = ("2024-08-19", "2024-08-24")
REPORT_VOTES = 2049


@dataclass(frozen=True)
class PublishedRow:
    """One row of the report's table."""

    model: str
    weights: str  # "open" or "closed"
    rating: float
    win_rate: float
    battles: int


REPORT: tuple[PublishedRow, ...] = (
    PublishedRow("GPT-4o-2024-05-13", "closed", 1178, 0.57, 297),
    PublishedRow("Claude-3.5-sonnet-20240620", "closed", 1173, 0.56, 272),
    PublishedRow("Gemini-1.5-pro", "closed", 1128, 0.50, 208),
    PublishedRow("Tanuki-8x8B-dpo-v1.0", "open", 1099, 0.41, 382),
    PublishedRow("GPT-4o-mini-2024-07-18", "closed", 1086, 0.41, 303),
    PublishedRow("Gemini-1.5-flash", "closed", 1070, 0.41, 318),
    PublishedRow("Calm3-22b-chat", "open", 1067, 0.36, 392),
    PublishedRow("PLAMO-100B", "closed", 1002, 0.29, 297),
    PublishedRow("Tanuki-8B-dpo-v1.0", "open", 1000, 0.28, 379),
    PublishedRow("Karakuri-lm-8x7b-chat-v0.1", "open", 948, 0.21, 329),
    PublishedRow("Llama-3-ELYZA-JP-8B", "open", 945, 0.17, 282),
    PublishedRow("Llama-3-Swallow-70B-Instruct-v0.1", "open", 906, 0.16, 348),
    PublishedRow("GPT-3.5-turbo", "closed", 893, 0.17, 291),
)


@dataclass(frozen=True)
class Today:
    """A model's figures in the latest rating run."""

    model: str
    rating: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class ThenNow:
    """One model in the report, today, or both; ``None`` where it is absent."""

    model: str
    then_rank: int | None
    then_rating: float | None
    now_rank: int | None
    now: Today | None

    @property
    def change(self) -> int | None:
        """Places gained since the report (negative: lost); None unless in both."""
        if self.then_rank is None or self.now_rank is None:
            return None
        return self.then_rank - self.now_rank


def places(ratings: Sequence[float]) -> list[int]:
    """Competition ranks by rating, best first: 1 + the number of higher ratings."""
    return [1 + sum(other > r for other in ratings) for r in ratings]


def _key(name: str) -> str:
    return name.strip().casefold()


def then_and_now(today: Sequence[Today], report: Sequence[PublishedRow] = REPORT) -> list[ThenNow]:
    """The report's models and today's side by side, matched by name (case ignored).

    Today's models come first, best first; the report's models not rated today follow,
    in the report's order. A model only in today's run has no ``then_rank`` (new).
    """
    keys = [_key(r.model) for r in report]
    then_places = dict(zip(keys, places([r.rating for r in report]), strict=True))
    then_rows = {_key(r.model): r for r in report}
    ordered = sorted(today, key=lambda r: -r.rating)
    now_places = places([r.rating for r in ordered])
    out = []
    for row, place in zip(ordered, now_places, strict=True):
        old = then_rows.get(_key(row.model))
        out.append(
            ThenNow(
                row.model,
                then_places.get(_key(row.model)),
                old.rating if old else None,
                place,
                row,
            )
        )
    seen = {_key(r.model) for r in today}
    out.extend(
        ThenNow(r.model, then_places[_key(r.model)], r.rating, None, None)
        for r in report
        if _key(r.model) not in seen
    )
    return out
