"""The in-app schedule on real SQLite and PostgreSQL: nightly and provisional slots.

The clock is a fake one stepped by the tests (no test waits for real hours). Two
schedulers on one database (each with its own engine, as two app processes have)
tick at the same moments from two threads; every slot must be stored exactly once.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from arena.config import Settings
from arena.db import make_engine, session_factory
from arena.db.models import RatingRun, Winner
from arena.errors import ConfigError
from arena.schedule import (
    NIGHTLY,
    PROVISIONAL,
    PROVISIONAL_NOTE,
    Schedule,
    Scheduler,
    Slot,
    describe,
    parse_time_of_day,
    start_schedule,
)
from tests.test_recompute import ANCHOR, MODELS, add_battles, add_models, add_used_votes

# 2026-12-01 02:40 in Japan (JST = UTC+9).
START = datetime(2026, 11, 30, 17, 40, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def settings(**kw: object) -> Settings:
    base = {"rating_anchor": ANCHOR, "rating_min_votes": 5}
    return Settings(**{**base, **kw})  # type: ignore[arg-type]


def runs(engine: Engine) -> list[str]:
    """The notes' slot lines of every stored run, oldest first."""
    with session_factory(engine)() as s:
        notes = s.scalars(select(RatingRun.note).order_by(RatingRun.id)).all()
    return [line for note in notes for line in note.splitlines() if line.startswith("schedule:")]


# -- when slots are due -------------------------------------------------------------


def test_default_schedule_is_3am_in_japan_and_every_5_minutes() -> None:
    sched = Schedule.from_settings(Settings())
    three = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 03:00 on 1 December in Japan
    assert sched.next_nightly(START) == three
    assert sched.nightly_slot(START) == Slot(NIGHTLY, three - timedelta(days=1))
    assert sched.nightly_slot(three) == Slot(NIGHTLY, three)
    assert sched.next_nightly(three) == three + timedelta(days=1)
    later = START + timedelta(minutes=3, seconds=7)
    assert sched.provisional_slot(later) == Slot(PROVISIONAL, START)
    assert sched.next_provisional(later) == START + timedelta(minutes=5)
    assert Slot(NIGHTLY, three).marker == "schedule: nightly 2026-11-30T18:00Z"


def test_operators_change_or_turn_off_both() -> None:
    sched = Schedule.from_settings(
        Settings(recompute_at="04:30", recompute_timezone="UTC", provisional_every_minutes=15)
    )
    assert sched.next_nightly(START) == datetime(2026, 12, 1, 4, 30, tzinfo=UTC)
    assert sched.next_provisional(START) == datetime(2026, 11, 30, 17, 45, tzinfo=UTC)
    off = Schedule.from_settings(Settings(recompute_at="off", provisional_every_minutes=0))
    assert off.nightly_slot(START) is None and off.next_nightly(START) is None
    assert off.provisional_slot(START) is None and off.next_provisional(START) is None
    assert parse_time_of_day("") is None
    with pytest.raises(ConfigError, match="expected HH:MM"):
        parse_time_of_day("3am")
    assert "not scheduled" in describe(Settings(recompute_at="", provisional_every_minutes=0))
    line = describe(Settings(), START)
    assert "nightly at 03:00 JST (next 2026-12-01 03:00)" in line, line and "every 5 min" in line


def test_settings_refuse_a_bad_time_or_zone(tmp_path) -> None:
    from arena.config import load_settings

    cfg = tmp_path / "arena.toml"
    for body, message in (
        ("[arena]\nrecompute_at = '25:00'\n", "expected HH:MM or off"),
        ("[arena]\nrecompute_timezone = 'Mars/Olympus'\n", "unknown time zone"),
        ("[arena]\nprovisional_every_minutes = -1\n", "must be >= 0"),
    ):
        cfg.write_text(body)
        with pytest.raises(ConfigError, match=message):
            load_settings(cfg, env={})


# -- what a scheduler stores --------------------------------------------------------


def test_provisional_while_young_then_nightly(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    clock = Clock(START)
    sched = Scheduler(settings(), engine, clock=clock)
    assert sched.tick() == {"schedule: provisional 2026-11-30T17:40Z": "stored"}
    assert sched.tick() == {}  # that slot is done
    clock.advance(minutes=5)
    assert sched.tick() == {"schedule: provisional 2026-11-30T17:45Z": "nothing-new"}
    add_battles(engine, MODELS[0], MODELS[1], Winner.MODEL_A, 3)
    clock.advance(minutes=7)
    assert sched.tick() == {"schedule: provisional 2026-11-30T17:50Z": "stored"}
    add_battles(engine, MODELS[1], MODELS[0], Winner.MODEL_A, 2)
    clock.now = datetime(2026, 11, 30, 18, 0, 30, tzinfo=UTC)  # 03:00:30 in Japan
    assert sched.tick() == {
        "schedule: nightly 2026-11-30T18:00Z": "stored",
        "schedule: provisional 2026-11-30T18:00Z": "nothing-new",  # the nightly run had them
    }
    clock.advance(days=1)
    assert list(sched.tick().values()) == ["stored", "nothing-new"]  # nightly runs anyway
    assert runs(engine) == [
        "schedule: provisional 2026-11-30T17:40Z",
        "schedule: provisional 2026-11-30T17:50Z",
        "schedule: nightly 2026-11-30T18:00Z",
        "schedule: nightly 2026-12-01T18:00Z",
    ]
    with session_factory(engine)() as s:
        notes = s.scalars(select(RatingRun.note).order_by(RatingRun.id)).all()
    assert [PROVISIONAL_NOTE in n for n in notes] == [True, True, False, False]


def test_provisional_runs_end_when_the_arena_has_grown(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)  # 219 votes
    clock = Clock(START)
    sched = Scheduler(settings(provisional_until_votes=200), engine, clock=clock)
    assert list(sched.tick().values()) == ["grown"]
    add_battles(engine, MODELS[0], MODELS[1], Winner.MODEL_A, 3)
    clock.advance(minutes=5)
    assert sched.tick() == {}  # no provisional slot any more
    assert runs(engine) == []


def test_an_old_nightly_slot_is_not_caught_up_at_start(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    clock = Clock(datetime(2026, 11, 30, 20, 0, tzinfo=UTC))  # 05:00 in Japan
    sched = Scheduler(settings(provisional_every_minutes=0), engine, clock=clock)
    assert sched.tick() == {}
    restarted = Scheduler(
        settings(provisional_every_minutes=0),
        engine,
        clock=Clock(datetime(2026, 11, 30, 18, 10, tzinfo=UTC)),  # 03:10: catches up
    )
    assert list(restarted.tick().values()) == ["stored"]


def test_a_busy_lock_is_tried_again_at_the_next_tick(engine: Engine) -> None:
    from tests.test_recompute import hold_lock, lock_holders

    add_models(engine)
    add_used_votes(engine)
    sched = Scheduler(settings(provisional_every_minutes=0), engine, clock=Clock(START))
    sched.clock.now = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    hold_lock(engine, timedelta(minutes=1))
    assert list(sched.tick().values()) == ["busy"]
    from arena.db.models import JobLock

    with session_factory(engine)() as s, s.begin():
        s.query(JobLock).delete()
    assert lock_holders(engine) == []
    assert list(sched.tick().values()) == ["stored"]


def test_two_schedulers_store_each_slot_once(engine: Engine, db_url: str) -> None:
    add_models(engine)
    add_used_votes(engine)
    clocks = [Clock(START), Clock(START)]
    engines = [make_engine(db_url), make_engine(db_url)]  # one each, as two processes
    scheds = [
        Scheduler(settings(), eng, clock=clock) for eng, clock in zip(engines, clocks, strict=True)
    ]
    outcomes: list[list[str]] = [[], []]

    def step(k: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        for _ in range(200):  # a busy lock is tried again, as at the next tick
            got = scheds[k].tick()
            outcomes[k].extend(got.values())
            if "busy" not in got.values():
                return

    try:
        moments = [START + timedelta(minutes=5 * i) for i in range(4)] + [
            datetime(2026, 11, 30, 18, 0, 20, tzinfo=UTC),
            datetime(2026, 12, 1, 18, 0, 20, tzinfo=UTC),
        ]
        for i, moment in enumerate(moments):
            if i in (1, 2, 4):  # new votes before these steps
                add_battles(engine, MODELS[i % 3], MODELS[(i + 1) % 3], Winner.MODEL_A, 2)
            for clock in clocks:
                clock.now = moment
            barrier = threading.Barrier(2)
            threads = [threading.Thread(target=step, args=(k, barrier)) for k in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
    finally:
        for eng in engines:
            eng.dispose()
    lines = runs(engine)
    assert lines == [
        "schedule: provisional 2026-11-30T17:40Z",
        "schedule: provisional 2026-11-30T17:45Z",
        "schedule: provisional 2026-11-30T17:50Z",
        "schedule: nightly 2026-11-30T18:00Z",
        "schedule: nightly 2026-12-01T18:00Z",
    ]
    both = outcomes[0] + outcomes[1]
    assert both.count("done") + both.count("busy") >= len(lines)  # the other one stood back
    stored = outcomes[0].count("stored") + outcomes[1].count("stored")
    assert stored == len(lines)
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(RatingRun)) == len(lines)


def test_start_schedule_off_and_stoppable(engine: Engine) -> None:
    assert start_schedule(Settings(recompute_at="", provisional_every_minutes=0), engine) is None
    thread = start_schedule(settings(), engine)
    assert thread is not None and thread.is_alive()
    thread.stop()
    assert not thread.is_alive()
