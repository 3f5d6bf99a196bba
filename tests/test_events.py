"""Events (arena.events) and the progress figures (arena.progress) on real databases (SQLite
and PostgreSQL): saving and listing events, tagging battles started by an event's link
through a real Arena on the loopback server, the counts, and an event's results fitted
from its own votes on a constructed database."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from arena.db import session_factory
from arena.db.models import Battle, BattleMode, BattleStatus, Event, Model, Vote, Voter, Winner
from arena.events import (
    EventError,
    delete_event,
    event_votes,
    get_event,
    list_events,
    results,
    save_event,
    tagging,
)
from arena.progress import Progress, own_votes, total_votes
from tests import test_battles
from tests.test_battles import ALICE, BOB, play

arena = test_battles.arena  # a real Arena on the loopback server
NOW = datetime.now(UTC)
HOUR = timedelta(hours=1)


def event(session, slug: str, start: datetime, end: datetime, **kw):
    return save_event(
        session, slug=slug, name=kw.pop("name", f"Event {slug}"), goal=kw.pop("goal", 100),
        starts_at=start, ends_at=end, **kw,
    )  # fmt: skip


def test_events_are_saved_changed_listed_and_deleted(engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        made = event(s, "Tanuki-Week", NOW - HOUR, NOW + 6 * 24 * HOUR, thanks_ja=" ありがとう ")
        event(s, "old-drive", NOW - 10 * HOUR, NOW - 5 * HOUR, name="以前の回")
    assert made.slug == "tanuki-week" and made.thanks_ja == "ありがとう"
    with sessions.begin() as s:  # the same slug changes the event, no second row
        changed = event(s, "tanuki-week", NOW - HOUR, NOW + HOUR, goal=500, thanks_en="Thanks")
    assert changed.id == made.id and changed.goal == 500
    with sessions() as s:
        assert [e.slug for e in list_events(s)] == ["tanuki-week", "old-drive"]
        got = get_event(s, "tanuki-week")
        assert get_event(s, "nope") is None and get_event(s, "../etc") is None
    assert got.state(NOW) == "running" and got.ends_at == changed.ends_at
    assert got.state(NOW + 2 * HOUR) == "ended" and got.state(NOW - 2 * HOUR) == "upcoming"
    assert got.thanks("ja") == "Thanks"  # the other language's text when one is empty
    assert got.as_dict()["link"] == "/?event=tanuki-week"
    bad = [
        {"slug": "a b"}, {"slug": ""}, {"slug": "x" * 41}, {"name": " "}, {"goal": 0},
        {"end": NOW - 2 * HOUR}, {"thanks_en": "x" * 5000},
    ]  # fmt: skip
    for given in bad:
        with sessions.begin() as s, pytest.raises(EventError) as refused:
            event(s, given.pop("slug", "fine"), NOW - HOUR, given.pop("end", NOW + HOUR), **given)
        assert refused.value.code == "invalid"
    with sessions.begin() as s:
        delete_event(s, "old-drive")
        with pytest.raises(EventError):
            delete_event(s, "old-drive")
    with sessions() as s:
        assert [e.slug for e in list_events(s)] == ["tanuki-week"]


async def test_battles_by_an_event_link_are_tagged_only_while_it_runs(arena) -> None:
    with arena.sessions.begin() as s:
        running = event(s, "running", NOW - HOUR, NOW + HOUR)
        event(s, "later", NOW + HOUR, NOW + 2 * HOUR)
        event(s, "over", NOW - 2 * HOUR, NOW - HOUR)
    tagged = {}
    for slug in ("running", "later", "over", "unknown", None, "BAD slug"):
        battle_id = (await play(arena, ALICE, f"質問 {slug}", event=slug))[-1].battle_id
        await arena.vote(ALICE, battle_id, Winner.MODEL_A)
        tagged[slug] = battle_id
    second = (await play(arena, BOB, "もう一つ", event="running"))[-1].battle_id
    await play(arena, BOB, "続き", second, event="over")  # a later turn changes nothing
    with arena.sessions() as s:
        tags = {k: s.get(Battle, b).event_id for k, b in tagged.items()}
        assert s.get(Battle, second).event_id == running.id
        assert event_votes(s, running.id) == 1  # BOB has not voted yet
        assert own_votes(s, ALICE.token) == 6 and own_votes(s, BOB.token) == 0
        assert own_votes(s, None) == 0
        assert total_votes(s) == 6
    assert tags == {k: (running.id if k == "running" else None) for k in tagged}
    # tagging() is the same rule as SQL: the start inclusive, the deadline exclusive
    with arena.sessions() as s:
        at = running.starts_at
        assert s.scalar(select(tagging("running", at))) == running.id
        assert s.scalar(select(tagging("running", running.ends_at))) is None


def _model(s, name: str) -> int:
    row = Model(name=name, provider="demo")
    s.add(row)
    s.flush()
    return row.id


def test_results_and_counts_come_from_the_events_votes_only(engine) -> None:
    """A constructed database: the event's votes say X > Y > Z; outside it the reverse.

    The event's results follow its votes; voided, failed, flagged and named battles and
    battles of other events are left out; the arena's total counts blind votes only.
    """
    sessions = session_factory(engine)
    with sessions.begin() as s:
        x, y, z = (_model(s, n) for n in ("X", "Y", "Z"))
        drive = event(s, "drive", NOW - HOUR, NOW + HOUR)
        other = event(s, "other", NOW - HOUR, NOW + HOUR)
        voter = Voter(token="t" * 32)
        s.add(voter)
        s.flush()

        def vote(a, b, winner, ev=None, **kw):
            bid = secrets.token_hex(16)
            voided = kw.pop("voided", False)
            s.add(Battle(id=bid, voter_id=voter.id, model_a_id=a, model_b_id=b, turns=1,
                         mode=kw.pop("mode", BattleMode.ANONY), event_id=ev,
                         status=kw.pop("status", BattleStatus.VOTED), **kw))  # fmt: skip
            s.flush()
            s.add(Vote(battle_id=bid, voter_id=voter.id, winner=winner, voided=voided))

        for _ in range(6):
            vote(x, y, Winner.MODEL_A, drive.id)
            vote(y, z, Winner.MODEL_A, drive.id)
            vote(z, x, Winner.MODEL_B, drive.id)
            vote(y, x, Winner.MODEL_A, other.id)  # the reverse, elsewhere
            vote(z, x, Winner.MODEL_A)
        vote(x, z, Winner.TIE, drive.id)
        vote(y, x, Winner.MODEL_A, drive.id, voided=True)
        vote(y, x, Winner.MODEL_A, drive.id, status=BattleStatus.FAILED)
        vote(y, x, Winner.MODEL_A, drive.id, flag_identity=True)
        vote(y, x, Winner.MODEL_A, drive.id, mode=BattleMode.NAMED)
    with sessions() as s:
        rows = results(s, drive.id, anchor="X")
        assert results(s, 12345, anchor="X") == []
        assert event_votes(s, drive.id) == 6 * 3 + 1 + 3  # voided left out; others counted
        assert total_votes(s) == 6 * 5 + 1 + 2  # blind, not voided
        assert own_votes(s, "t" * 32) == 33
    assert [r.model for r in rows] == ["X", "Y", "Z"]
    assert rows[0].rank == 1 and rows[0].rating == pytest.approx(1000.0)
    assert rows[0].rating > rows[1].rating > rows[2].rating
    assert {r.model: r.battles for r in rows} == {"X": 13, "Y": 12, "Z": 13}
    assert rows[0].wins == 12 and rows[0].ties == 1 and rows[0].losses == 0


def test_progress_caches_shared_counts_but_not_the_volunteers_own(engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        a, b = _model(s, "A"), _model(s, "B")
        drive = event(s, "cached", NOW - HOUR, NOW + HOUR, goal=50)
        voter = Voter(token="v" * 32)
        s.add(voter)
        s.flush()

    def add_vote() -> None:
        with sessions.begin() as s:
            bid = secrets.token_hex(16)
            s.add(Battle(id=bid, voter_id=voter.id, model_a_id=a, model_b_id=b, turns=1,
                         mode=BattleMode.ANONY, status=BattleStatus.VOTED,
                         event_id=drive.id))  # fmt: skip
            s.flush()
            s.add(Vote(battle_id=bid, voter_id=voter.id, winner=Winner.TIE))

    progress = Progress(sessions, goal=1000, ttl=60)
    add_vote()
    first = progress.figures("v" * 32, "cached")
    assert (first.own, first.total, first.goal, first.event_votes) == (1, 1, 1000, 1)
    assert first.event.slug == "cached" and first.event.goal == 50
    add_vote()
    again = progress.figures("v" * 32, "cached")
    assert (again.own, again.total, again.event_votes) == (2, 1, 1)  # shared ones cached
    fresh = Progress(sessions, goal=1000, ttl=0).figures("v" * 32, "nope")
    assert (fresh.own, fresh.total, fresh.event) == (2, 2, None)
    with sessions() as s:
        assert s.scalar(select(Event.goal).where(Event.slug == "cached")) == 50
