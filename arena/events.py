"""Events: time-boxed voting drives (like the seed's six days), each with its own link.

An admin sets one up (a slug, a name, a goal, a start and a deadline, thank-you texts in
Japanese and English); volunteers who come by ``/?event=<slug>`` see its name, a gauge
of its votes toward the goal and the time left, and the blind battles they start while
it runs are tagged with it (``battles.event_id``). After the deadline the page thanks
them and shows the event's results: ratings fitted on the event's votes only, by the
same fitter as the leaderboard (:func:`ratings.leaderboard_from_counts`).

Repository functions take a ``Session``; :func:`tagging` is the SQL expression a new
battle's row stores, so the deadline is checked by the insert itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import ScalarSelect, delete, func, select, update
from sqlalchemy.orm import Session, aliased

from arena.db.counted import counted
from arena.db.models import Battle, Event, Model, Vote
from arena.errors import ArenaError
from ratings import WINNER_CODES, RatingsError
from ratings import leaderboard_from_counts as fit_leaderboard

#: A slug as it appears in the link: lower-case letters, digits and hyphens.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
#: The cookie the page's event link sets, read by ``POST /api/battles`` to tag new battles.
EVENT_COOKIE = "tanuki-arena-event"
MAX_NAME = 200
MAX_THANKS = 4000


class EventError(ArenaError):
    """An event could not be saved or found (``code``: ``invalid`` or ``not_found``)."""


@dataclass(frozen=True)
class EventInfo:
    """One event as the page and the admin console see it (times in UTC)."""

    id: int
    slug: str
    name: str
    goal: int
    starts_at: datetime
    ends_at: datetime
    thanks_ja: str = ""
    thanks_en: str = ""

    def state(self, now: datetime | None = None) -> str:
        """``upcoming``, ``running`` or ``ended`` at ``now``."""
        now = now or datetime.now(UTC)
        if now < self.starts_at:
            return "upcoming"
        return "running" if now < self.ends_at else "ended"

    def thanks(self, lang: str) -> str:
        """The thank-you text in ``lang`` (the other language's when that one is empty)."""
        first, other = (self.thanks_en, self.thanks_ja) if lang == "en" else (
            self.thanks_ja, self.thanks_en)  # fmt: skip
        return first or other

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, times as ISO strings."""
        return {
            "slug": self.slug, "name": self.name, "goal": self.goal,
            "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
            "thanks_ja": self.thanks_ja, "thanks_en": self.thanks_en,
            "link": f"/?event={self.slug}",
        }  # fmt: skip


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken as UTC (SQLite gives naive times back)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _info(row: Event) -> EventInfo:
    return EventInfo(
        row.id, row.slug, row.name, row.goal, utc(row.starts_at), utc(row.ends_at),
        row.thanks_ja or "", row.thanks_en or "",
    )  # fmt: skip


def valid_slug(slug: object) -> bool:
    """True for a slug an event could have (anything else is never looked up)."""
    return isinstance(slug, str) and SLUG.fullmatch(slug) is not None


# -- repository -----------------------------------------------------------------------


def save_event(
    session: Session,
    *,
    slug: str,
    name: str,
    goal: int,
    starts_at: datetime,
    ends_at: datetime,
    thanks_ja: str = "",
    thanks_en: str = "",
) -> EventInfo:
    """Create the event ``slug``, or change it if it exists; checked first."""
    slug, name = (slug or "").strip().lower(), (name or "").strip()
    if not valid_slug(slug):
        raise EventError(
            f"invalid slug {slug!r}: 1-40 lower-case letters, digits or hyphens", code="invalid"
        )
    if not name or len(name) > MAX_NAME:
        raise EventError(f"an event needs a name of 1-{MAX_NAME} characters", code="invalid")
    if not isinstance(goal, int) or goal < 1:
        raise EventError("the goal must be a whole number of votes >= 1", code="invalid")
    starts_at, ends_at = utc(starts_at), utc(ends_at)
    if ends_at <= starts_at:
        raise EventError("the deadline must come after the start", code="invalid")
    if len(thanks_ja) > MAX_THANKS or len(thanks_en) > MAX_THANKS:
        raise EventError(f"thank-you texts are limited to {MAX_THANKS} characters", code="invalid")
    row = session.scalar(select(Event).where(Event.slug == slug))
    if row is None:
        row = Event(slug=slug)
        session.add(row)
    row.name, row.goal, row.starts_at, row.ends_at = name, goal, starts_at, ends_at
    row.thanks_ja, row.thanks_en = thanks_ja.strip(), thanks_en.strip()
    session.flush()
    return _info(row)


def list_events(session: Session) -> list[EventInfo]:
    """Every event, the latest deadline first."""
    return [_info(r) for r in session.scalars(select(Event).order_by(Event.ends_at.desc()))]


def get_event(session: Session, slug: object) -> EventInfo | None:
    """The event ``slug``, or None (also for a slug no event could have)."""
    if not valid_slug(slug):
        return None
    row = session.scalar(select(Event).where(Event.slug == slug))
    return _info(row) if row is not None else None


def delete_event(session: Session, slug: str) -> None:
    """Remove an event; its battles stay, untagged (the foreign key sets NULL)."""
    event = get_event(session, slug)
    if event is None:
        raise EventError(f"no event {slug!r}", code="not_found")
    # Untag explicitly: SQLite enforces ON DELETE only with foreign keys on.
    session.execute(update(Battle).where(Battle.event_id == event.id).values(event_id=None))
    session.execute(delete(Event).where(Event.id == event.id))


def tagging(slug: str, now: datetime | None = None) -> ScalarSelect:
    """The ``battles.event_id`` of a battle started now by the event's link: the event's id
    while it runs, NULL before its start, after its deadline or for an unknown slug."""
    now = utc(now or datetime.now(UTC))
    return (
        select(Event.id)
        .where(Event.slug == slug, Event.starts_at <= now, Event.ends_at > now)
        .scalar_subquery()
    )


def _counted(event_id: int):
    return (
        select(func.count())
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
        .where(Battle.event_id == event_id, Vote.voided.is_(False))
    )


def event_votes(session: Session, event_id: int) -> int:
    """Votes cast in the event's battles (voided ones left out)."""
    return session.scalar(_counted(event_id)) or 0


# -- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    """One model in an event's results."""

    rank: int
    model: str
    rating: float
    battles: int
    wins: int
    ties: int
    losses: int


def results(
    session: Session, event_id: int, *, anchor: str | None, method: str = "sandwich"
) -> list[ResultRow]:
    """Ratings from the event's votes only, fitted as the leaderboard's are.

    The votes are those the leaderboard would count (:func:`arena.db.counted.counted`),
    grouped by pair and verdict in SQL; a model the event's comparisons do
    not connect to the others is left out (``on_disconnected="largest"``).
    """
    ma, mb = aliased(Model), aliased(Model)
    rows = session.execute(
        select(ma.name, mb.name, Vote.winner, func.count())
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
        .join(ma, Battle.model_a_id == ma.id)
        .join(mb, Battle.model_b_id == mb.id)
        .where(Battle.event_id == event_id, counted())
        .group_by(ma.name, mb.name, Vote.winner)
    ).all()
    if not rows:
        return []
    names = sorted({a for a, *_ in rows} | {b for _, b, *_ in rows})
    index = {name: k for k, name in enumerate(names)}
    try:
        board = fit_leaderboard(
            names,
            np.array([index[a] for a, *_ in rows], dtype=np.intp),
            np.array([index[b] for _, b, *_ in rows], dtype=np.intp),
            np.array([WINNER_CODES[str(w)] for _, _, w, _ in rows], dtype=np.int8),
            np.array([n for *_, n in rows], dtype=np.int64),
            anchor=anchor,
            ci=method,  # type: ignore[arg-type]  # checked by ratings
            rng=np.random.default_rng(0),
            on_disconnected="largest",
        )
    except RatingsError:
        return []
    return [
        ResultRow(r.rank, r.model, r.rating, r.battles, r.wins, r.ties, r.losses)
        for r in board.rows
    ]
