"""The in-app recomputation schedule: a nightly run, and provisional boards while young.

An arena started with its defaults recomputes by itself: every night at ``recompute_at``
(03:00 in ``recompute_timezone``, Asia/Tokyo, by default), and, while it has fewer than
``provisional_until_votes`` votes, every ``provisional_every_minutes`` when votes arrived
since the last run. Those in-between runs are labelled provisional on the leaderboard.

Several app processes may share one database and each runs this scheduler; exactly one
of them stores each scheduled run. Slots are the same in every process (a nightly time,
or a multiple of the provisional interval since the Unix epoch), a run holds the
``recompute`` job lock of :mod:`arena.recompute`, and under that lock it first checks
that no stored run carries its slot (written in the run's note, e.g. ``schedule:
nightly 2026-12-01T18:00Z``). A process that finds the lock busy tries again at its
next tick; one that finds the slot done moves on. The clock is injectable, so tests
step through days without waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session

from arena.config import Settings
from arena.db.models import RatingRun, Vote, utcnow
from arena.errors import ConfigError
from arena.integrity.screen import Rules
from arena.joblock import LockBusy, SessionFactory
from arena.recompute import NoVotes, RecomputeError, recompute

logger = logging.getLogger(__name__)

NIGHTLY, PROVISIONAL = "nightly", "provisional"
#: How a scheduled run's note names its slot.
SLOT_PREFIX = "schedule: "
#: The note line that marks a provisional run (the leaderboard labels it 暫定 / provisional).
PROVISIONAL_NOTE = "provisional: a refresh between nightly runs while the arena is young"
#: A nightly slot this much older than the scheduler's start still runs (a restart at
#: 03:05 catches up); older ones are left to the next night.
CATCH_UP = timedelta(minutes=30)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SlotDone(RecomputeError):
    """A run of this slot is already stored (by this or another process)."""


class NothingNew(RecomputeError):
    """No vote arrived since the last run: no provisional run is needed."""


class Grown(RecomputeError):
    """The arena has enough votes: provisional runs have ended."""


@dataclass(frozen=True)
class Slot:
    """One scheduled run: its kind and the moment it is due (UTC)."""

    kind: str
    at: datetime

    @property
    def marker(self) -> str:
        """The note line that says this slot was run."""
        return f"{SLOT_PREFIX}{self.kind} {self.at.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def parse_time_of_day(value: str) -> time | None:
    """``"HH:MM"`` as a time of day; empty or ``off`` means no nightly run (None)."""
    text = value.strip()
    if text.lower() in ("", "off"):
        return None
    hh, sep, mm = text.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ConfigError(f"recompute_at: expected HH:MM or off, got {value!r}")
    return time(int(hh), int(mm))


@dataclass(frozen=True)
class Schedule:
    """When the scheduled runs are due, from the settings."""

    nightly: time | None
    zone: ZoneInfo
    every: timedelta | None
    until_votes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        """The schedule the settings ask for."""
        minutes = settings.provisional_every_minutes
        return cls(
            nightly=parse_time_of_day(settings.recompute_at),
            zone=ZoneInfo(settings.recompute_timezone),
            every=timedelta(minutes=minutes) if minutes > 0 else None,
            until_votes=settings.provisional_until_votes,
        )

    def _nightly_on(self, day: datetime) -> datetime:
        assert self.nightly is not None
        return datetime.combine(day.date(), self.nightly, tzinfo=self.zone).astimezone(UTC)

    def nightly_slot(self, now: datetime) -> Slot | None:
        """The latest nightly slot due at or before ``now``."""
        if self.nightly is None:
            return None
        local = now.astimezone(self.zone)
        at = self._nightly_on(local)
        if at > now:
            at = self._nightly_on(local - timedelta(days=1))
        return Slot(NIGHTLY, at)

    def next_nightly(self, now: datetime) -> datetime | None:
        """The first nightly run strictly after ``now`` (UTC), or None when off."""
        if self.nightly is None:
            return None
        local = now.astimezone(self.zone)
        at = self._nightly_on(local)
        return at if at > now else self._nightly_on(local + timedelta(days=1))

    def provisional_slot(self, now: datetime) -> Slot | None:
        """The provisional slot ``now`` falls in (None when provisional runs are off)."""
        if self.every is None:
            return None
        k = (now - EPOCH) // self.every
        return Slot(PROVISIONAL, EPOCH + k * self.every)

    def next_provisional(self, now: datetime) -> datetime | None:
        """The start of the next provisional slot after ``now`` (UTC), or None when off."""
        slot = self.provisional_slot(now)
        return None if slot is None or self.every is None else slot.at + self.every


def slot_done(session: Session, slot: Slot) -> bool:
    """True when a stored run carries ``slot``'s marker."""
    return bool(session.scalar(select(exists().where(RatingRun.note.contains(slot.marker)))))


def _check(session: Session, slot: Slot, until_votes: int) -> None:
    """Under the lock: raise when ``slot`` must not be run (done, nothing new, grown)."""
    if slot_done(session, slot):
        raise SlotDone(f"the {slot.kind} run of {slot.at:%Y-%m-%d %H:%M} UTC is already stored")
    if slot.kind != PROVISIONAL:
        return
    votes = session.scalar(select(func.count()).select_from(Vote).where(Vote.voided.is_(False)))
    if votes >= until_votes:
        raise Grown(f"{votes} votes: provisional runs end at {until_votes}")
    newest_vote = session.scalar(select(func.max(Vote.created_at)))
    newest_run = session.scalar(select(func.max(RatingRun.created_at)))
    if newest_vote is None or (newest_run is not None and newest_vote <= newest_run):
        raise NothingNew("no vote since the last run")


def run_slot(target: Engine | SessionFactory, settings: Settings, slot: Slot) -> str:
    """Run ``slot`` unless it is done or not needed; the outcome in one word.

    ``stored`` (this process stored the run), ``done`` (already stored), ``busy``
    (another run holds the lock: try again), ``nothing-new``, ``grown``, ``no-votes``.
    """
    notes = [slot.marker] + ([PROVISIONAL_NOTE] if slot.kind == PROVISIONAL else [])
    try:
        run = recompute(
            target,
            anchor=settings.rating_anchor,
            method=settings.rating_ci,
            rounds=settings.rating_rounds,
            rules=Rules.from_settings(settings),
            min_votes=settings.rating_min_votes,
            precheck=lambda session: _check(session, slot, settings.provisional_until_votes),
            note=notes,
        )
    except LockBusy:
        return "busy"
    except SlotDone:
        return "done"
    except NothingNew:
        return "nothing-new"
    except Grown:
        return "grown"
    except NoVotes:
        return "no-votes"
    logger.info("schedule: %s run #%d stored (%s)", slot.kind, run.id, slot.marker)
    return "stored"


class Scheduler(threading.Thread):
    """A daemon thread that runs the due slots, checking every ``poll`` seconds.

    :meth:`tick` does one check (tests call it with a fake clock). A failure is logged
    and the slot is left; the thread never stops the app.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine | SessionFactory,
        *,
        clock: Callable[[], datetime] = utcnow,
        poll: float = 20.0,
    ) -> None:
        super().__init__(name="recompute-schedule", daemon=True)
        self.settings, self.engine, self.clock, self.poll = settings, engine, clock, poll
        self.schedule = Schedule.from_settings(settings)
        self.started = clock()
        self._finished: set[str] = set()
        self._grown = False
        self._stopping = threading.Event()

    def due(self, now: datetime) -> list[Slot]:
        """The slots to try at ``now``: the nightly first, then the provisional one."""
        slots = []
        nightly = self.schedule.nightly_slot(now)
        if nightly is not None and nightly.at >= self.started - CATCH_UP:
            slots.append(nightly)
        provisional = self.schedule.provisional_slot(now)
        if provisional is not None and not self._grown:
            slots.append(provisional)
        return [s for s in slots if s.marker not in self._finished]

    def tick(self) -> dict[str, str]:
        """Try every due slot once; returns ``{slot marker: outcome}``."""
        outcomes = {}
        for slot in self.due(self.clock()):
            try:
                outcome = run_slot(self.engine, self.settings, slot)
            # A background job must outlive any failure, including bugs: log it fully
            # and leave the slot (a nightly one is tried again the next night).
            except Exception:
                logger.exception("schedule: the %s run failed", slot.kind)
                outcome = "failed"
            outcomes[slot.marker] = outcome
            if outcome != "busy":
                self._finished.add(slot.marker)
            if outcome == "grown":
                self._grown = True
        return outcomes

    def run(self) -> None:
        while not self._stopping.is_set():
            self.tick()
            if self._stopping.wait(self.poll):
                return

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the thread to end and wait for it (a running fit finishes first)."""
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)


def start_schedule(settings: Settings, engine: Engine) -> Scheduler | None:
    """Start the in-app schedule; None when both the nightly and provisional runs are off."""
    schedule = Schedule.from_settings(settings)
    if schedule.nightly is None and schedule.every is None:
        return None
    thread = Scheduler(settings, engine)
    thread.start()
    return thread


def describe(settings: Settings, now: datetime | None = None) -> str:
    """One line for the start-up summary: what is scheduled and when the next run is."""
    schedule = Schedule.from_settings(settings)
    now = now or utcnow()
    parts = []
    nightly = schedule.next_nightly(now)
    if nightly is not None:
        local = nightly.astimezone(schedule.zone)
        parts.append(f"nightly at {settings.recompute_at} {local:%Z} (next {local:%Y-%m-%d %H:%M})")
    if schedule.every is not None:
        parts.append(
            f"provisional every {settings.provisional_every_minutes} min when new votes "
            f"arrived, until {settings.provisional_until_votes} votes"
        )
    if not parts:
        return "not scheduled (run python -m arena recompute yourself)"
    return "; ".join(parts)
