"""How far the volunteers have come: a volunteer's own votes, the arena's total toward its
goal, an event's votes toward its goal.

Every page load and every vote asks for these, so the shared figures are cached: the
arena's total and each event's count are read at most every :data:`TTL` seconds per
process (one ``COUNT`` each), an event by its slug likewise. A volunteer's own count is
read each time (an indexed ``COUNT`` over one voter's votes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from arena.db.models import Battle, BattleMode, Vote, Voter
from arena.events import EventInfo, ResultRow, event_votes, get_event, results, valid_slug

#: Seconds a shared count (or an event looked up by slug) is reused.
TTL = 5.0
#: Seconds an ended event's results are reused (late voids change them a little).
RESULTS_TTL = 60.0
T = TypeVar("T")


def own_votes(session: Session, token: object) -> int:
    """Blind votes cast by the voter holding ``token`` (voided ones left out)."""
    if not isinstance(token, str) or not token:
        return 0
    return (
        session.scalar(
            select(func.count())
            .select_from(Vote)
            .join(Voter, Vote.voter_id == Voter.id)
            .join(Battle, Vote.battle_id == Battle.id)
            .where(Voter.token == token, Vote.voided.is_(False), Battle.mode == BattleMode.ANONY)
        )
        or 0
    )


def total_votes(session: Session) -> int:
    """Blind votes of the whole arena (voided ones left out)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Vote)
            .join(Battle, Vote.battle_id == Battle.id)
            .where(Vote.voided.is_(False), Battle.mode == BattleMode.ANONY)
        )
        or 0
    )


@dataclass(frozen=True)
class Figures:
    """What the progress header shows."""

    own: int
    total: int
    goal: int
    event: EventInfo | None = None
    event_votes: int = 0


class Progress:
    """The figures of one process, shared ones cached (thread-safe; call off the loop)."""

    def __init__(self, sessions: sessionmaker[Session], goal: int, *, ttl: float = TTL) -> None:
        self.sessions, self.goal, self.ttl = sessions, goal, ttl
        self._cache: dict[object, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: object, ttl: float, read: Callable[[Session], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]  # type: ignore[return-value]
        with self.sessions() as session:
            value = read(session)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value

    def total(self) -> int:
        """The arena's blind votes, at most :data:`TTL` seconds old."""
        return self._cached("total", self.ttl, total_votes)

    def event(self, slug: object) -> EventInfo | None:
        """The event of a link's slug (None: no such event), at most TTL seconds old."""
        if not valid_slug(slug):
            return None
        return self._cached(("event", slug), self.ttl, lambda s: get_event(s, slug))

    def event_votes(self, event: EventInfo) -> int:
        return self._cached(("votes", event.id), self.ttl, lambda s: event_votes(s, event.id))

    def results(self, event: EventInfo, *, anchor: str | None, method: str) -> list[ResultRow]:
        """The event's results (ratings from its votes), at most a minute old."""
        return self._cached(
            ("results", event.id),
            RESULTS_TTL,
            lambda s: results(s, event.id, anchor=anchor, method=method),
        )

    def voted(self, slug: object = None) -> None:
        """A vote was just stored here: count it in the cached figures (no new COUNT)."""
        event = self.event(slug)
        if event is not None and event.state() != "running":
            event = None
        with self._lock:
            for key in ("total", ("votes", event.id) if event is not None else None):
                hit = self._cache.get(key) if key is not None else None
                if hit is not None:
                    self._cache[key] = (hit[0], hit[1] + 1)  # type: ignore[operator]

    def figures(self, token: object, slug: object = None) -> Figures:
        """The header's figures for a voter, with the event of ``slug`` if there is one."""
        with self.sessions() as session:
            own = own_votes(session, token)
        event = self.event(slug)
        votes = self.event_votes(event) if event is not None else 0
        return Figures(own, self.total(), self.goal, event, votes)
