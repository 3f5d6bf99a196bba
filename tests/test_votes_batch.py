"""Votes arriving together, stored in batches, on SQLite and PostgreSQL.

Many votes at once must end exactly as the same votes sent one after another: the same
refusals with the same codes, the same limits, the same signals stored, one vote per
battle; every acknowledged vote is stored, and a vote the database refuses fails alone.
The battles are written straight into the database (ready, with their answers), as
the streams would have left them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import secrets
import types
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from arena.backends import build_backends, make_client
from arena.backends.base import Timeouts
from arena.battles import Arena, Reveal, VoterRef
from arena.db import session_factory
from arena.db.models import Battle, BattleMode, BattleStatus, Message, Side, Vote, Voter, Winner
from arena.errors import ArenaError
from tests.test_battles import settings_for

NOWHERE = types.SimpleNamespace(base_url="http://127.0.0.1:9/v1")  # no model is called here
#: The limits the scenario runs into, on the database storage (SQLite's file too).
RULES = {
    "limits_storage": "database",
    "rate_votes_per_voter": "4/minute",
    "rate_votes_per_address": "4/minute",
    "min_read_chars": 5,
    "min_read_seconds": 60.0,
}


@pytest.fixture
async def arena(engine):
    settings = dataclasses.replace(settings_for(NOWHERE, str(engine.url)), **RULES)
    client = make_client(Timeouts(connect=1, first_token=1))
    a = Arena(settings, session_factory(engine), build_backends(settings.models, client),
              rng=random.Random(5))  # fmt: skip
    yield a
    await client.aclose()


def new_voter(arena: Arena, ip: str) -> VoterRef:
    token = secrets.token_hex(16)
    with arena.sessions.begin() as s:
        s.add(Voter(token=token))
    return VoterRef(token, ip)


def new_battle(
    arena: Arena,
    voter: VoterRef,
    answers: tuple[str, str] = ("an answer", "another answer"),
    *,
    status: BattleStatus = BattleStatus.READY,
    mode: BattleMode = BattleMode.ANONY,
    age: float = 0.0,
    read: float = 30.0,
    flag_identity: bool = False,
    turns: int = 1,
) -> str:
    """A battle of ``voter`` whose last turn ``turns`` ended with ``answers`` ``read`` s ago;
    earlier turns (and a first try of side A in the last one) had other lengths."""
    now = datetime.now(UTC)
    with arena.sessions.begin() as s:
        voter_id = s.scalar(select(Voter.id).where(Voter.token == voter.token))
        battle = Battle(
            id=secrets.token_hex(16), voter_id=voter_id, mode=mode, status=status,
            model_a_id=arena.model_ids["Alpha-7B"], model_b_id=arena.model_ids["Beta-13B"],
            turns=turns, created_at=now - timedelta(seconds=age + read),
            ready_at=now - timedelta(seconds=read), flag_identity=flag_identity,
        )  # fmt: skip
        s.add(battle)
        for turn in range(1, turns + 1):
            for side, answer in zip((Side.A, Side.B), answers, strict=True):
                s.add(Message(battle=battle, side=side, turn=turn, role="user", content="q"))
                if turn < turns or side is Side.A:
                    s.add(Message(battle=battle, side=side, turn=turn, role="assistant",
                                  content="x" * (40 + turn)))  # fmt: skip
                if turn == turns:
                    s.add(Message(battle=battle, side=side, turn=turn, role="assistant",
                                  content=answer))  # fmt: skip
    return battle.id


def scenario(arena: Arena, run: int) -> list[tuple[VoterRef, object, str, str | None]]:
    """Votes, in arrival order, with the code each must end with (None: acknowledged)."""
    ip = f"198.51.{100 + run}"
    alice, bob = new_voter(arena, f"{ip}.1"), new_voter(arena, f"{ip}.2")
    carol, dave = new_voter(arena, f"{ip}.3"), new_voter(arena, f"{ip}.3")  # one address
    erin = new_voter(arena, f"{ip}.5")
    a1 = new_battle(arena, alice, ("短い", "とても長い答えです"), turns=2)
    # (a newer blind battle would close a1: alice's others are named)
    a3 = new_battle(arena, alice, status=BattleStatus.STREAMING, mode=BattleMode.NAMED)
    a4 = new_battle(arena, alice, mode=BattleMode.NAMED)
    b_old = new_battle(arena, bob, age=600)  # replaced by b1, a newer blind battle
    b1 = new_battle(arena, bob, ("ab", "cd"), read=120)
    b_direct = new_battle(arena, bob, mode=BattleMode.DIRECT)
    c1, c2 = new_battle(arena, carol, mode=BattleMode.NAMED), new_battle(arena, carol, age=1)
    d1, d2, d3 = (new_battle(arena, dave, mode=BattleMode.NAMED) for _ in range(3))
    e1 = new_battle(arena, erin, flag_identity=True)
    forged = VoterRef(secrets.token_hex(16), f"{ip}.9")
    return [
        (alice, a1, "model_a", None),
        (alice, a1, "model_b", "vote_repeat"),  # the same battle twice at once
        (bob, a1, "tie", "unknown_battle"),  # another voter's battle
        (alice, "f" * 32, "tie", "unknown_battle"),
        (alice, a3, "tie", "vote_not_ready"),  # alice's fourth vote
        (alice, a4, "model_a", "rate_limited"),  # her fifth: over her limit
        (forged, a4, "model_a", "unknown_voter"),
        (bob, b1, "tie (bothbad)", None),
        (bob, b_old, "model_a", "battle_closed"),
        (bob, b_direct, "model_a", "vote_invalid"),
        (carol, c1, "model_b", None),
        (carol, c2, "model_a", None),
        (dave, d1, "model_a", None),
        (dave, d2, "model_a", None),  # the address's fourth
        (dave, d3, "model_a", "rate_limited"),
        (erin, e1, "model_b", None),
        (erin, e1, "model_a", "vote_repeat"),
        (erin, e1, "tie", "vote_repeat"),
        (erin, {"id": e1}, "tie", "unknown_battle"),
    ]


def outcome(result: object) -> str | None:
    if isinstance(result, Reveal):
        return None
    assert isinstance(result, ArenaError), result
    return result.code


def stored_votes(arena: Arena, plan: list[tuple[VoterRef, object, str, str | None]]) -> list:
    """Each planned vote's stored row, as what a batch must store the same as one by one
    (the address as whether it is the voter's own; the seconds to vote to the ten)."""
    rows = []
    with arena.sessions() as s:
        for voter, battle_id, _winner, _code in plan:
            vote = None
            if isinstance(battle_id, str):
                vote = s.scalar(select(Vote).where(Vote.battle_id == battle_id))
            rows.append(None if vote is None else (
                vote.winner, vote.chars_a, vote.chars_b, vote.voter_day_votes, vote.flag_fast,
                vote.ip_hash == arena.ip_hash(voter.ip), round(vote.seconds_to_vote or 0, -1),
            ))  # fmt: skip
    return rows


async def test_votes_at_once_end_as_one_after_another(arena, engine) -> None:
    """The scenario voted one by one (each vote a batch of its own), then all at once."""
    votes = {}
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    for run, at_once in ((1, False), (2, True)):
        plan = scenario(arena, run)
        carol = plan[10][0]  # one vote earlier today: her day's count goes on from it
        earlier = new_battle(arena, carol, mode=BattleMode.NAMED)
        await arena.vote(dataclasses.replace(carol, ip="203.0.113.1"), earlier, "tie")
        commits.clear()
        event.listen(engine, "commit", count)
        try:
            if at_once:
                results = await asyncio.gather(
                    *(arena.vote(v, b, w) for v, b, w, _ in plan), return_exceptions=True
                )
            else:
                results = []
                for v, b, w, _ in plan:
                    try:
                        results.append(await arena.vote(v, b, w))
                    except ArenaError as exc:
                        results.append(exc)
        finally:
            event.remove(engine, "commit", count)
        assert [outcome(r) for r in results] == [code for *_, code in plan]
        ids = [b if isinstance(b, str) else "" for _, b, _, _ in plan]
        votes[at_once] = stored_votes(arena, plan)
        acknowledged = [b for (_, b, _, _), r in zip(plan, results, strict=True)
                        if isinstance(r, Reveal)]  # fmt: skip
        with arena.sessions() as s:
            stored = s.scalars(select(Vote.battle_id).where(Vote.battle_id.in_(ids))).all()
        assert sorted(stored) == sorted(acknowledged)
        if at_once:  # one transaction for the votes, one for their counters
            assert len(commits) <= 3, commits
        else:  # each vote in transactions of its own
            assert len(commits) >= len(plan)
        reveals = {b: r for (_, b, _, _), r in zip(plan, results, strict=True)
                   if isinstance(r, Reveal) and isinstance(b, str)}  # fmt: skip
        assert [r.counted for r in reveals.values()] == [True, True, False, True, False, False,
                                                         False]  # fmt: skip
        assert all(set(r.names.values()) == {"Alpha-7B", "Beta-13B"} for r in reveals.values())
    assert votes[True] == votes[False]
    stored = votes[True]
    # the last answers of the last turn, the voter's first today, read too fast, its address
    assert stored[0] == (Winner.MODEL_A, 2, 9, 1, True, True, 30)
    assert stored[7][1:5] == (2, 2, 1, False)  # short answers, read for two minutes
    assert [stored[i][3] for i in (10, 11, 12, 13)] == [2, 3, 1, 2]  # carol, then dave


async def test_a_burst_larger_than_a_batch_is_stored_whole(arena) -> None:
    plan = []
    for i in range(450):
        voter = new_voter(arena, f"203.0.{i >> 8}.{i & 255}")
        plan.append((voter, new_battle(arena, voter), random.choice(list(Winner))))
    results = await asyncio.gather(*(arena.vote(v, b, w) for v, b, w in plan),
                                   return_exceptions=True)  # fmt: skip
    assert [outcome(r) for r in results] == [None] * len(plan)
    with arena.sessions() as s:
        stored = dict(s.execute(select(Vote.battle_id, Vote.winner)).all())
    assert stored == {b: w for _, b, w in plan}


def refuse_one_vote(engine, battle_id: str) -> None:
    """A trigger making the database refuse the vote on ``battle_id`` (and no other)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(f"""
                CREATE FUNCTION refuse_vote() RETURNS trigger AS $$ BEGIN
                  IF NEW.battle_id = '{battle_id}' THEN RAISE EXCEPTION 'refused'; END IF;
                  RETURN NEW;
                END $$ LANGUAGE plpgsql""")
            )
            conn.execute(text("CREATE TRIGGER refuse_vote BEFORE INSERT ON votes "
                              "FOR EACH ROW EXECUTE FUNCTION refuse_vote()"))  # fmt: skip
        else:
            conn.execute(
                text(f"""
                CREATE TRIGGER refuse_vote BEFORE INSERT ON votes
                WHEN NEW.battle_id = '{battle_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END""")
            )


async def test_a_vote_the_database_refuses_fails_alone(arena, engine) -> None:
    plan = []
    for i in range(20):
        voter = new_voter(arena, f"192.0.2.{i}")
        plan.append((voter, new_battle(arena, voter)))
    bad_voter, bad = plan[7]
    refuse_one_vote(engine, bad)
    results = await asyncio.gather(*(arena.vote(v, b, "model_a") for v, b in plan),
                                   return_exceptions=True)  # fmt: skip
    # PostgreSQL: the trigger's exception is a storage failure. SQLite reports a trigger's
    # abort as a constraint failure, which a vote reads as another vote holding the battle.
    expected = "storage" if engine.dialect.name == "postgresql" else "vote_repeat"
    assert [outcome(r) for r in results] == [None] * 7 + [expected] + [None] * 12
    with arena.sessions() as s:
        stored = set(s.scalars(select(Vote.battle_id)))
        assert s.get(Battle, bad).status is BattleStatus.READY  # its claim undone with it
    assert stored == {b for _, b in plan} - {bad}
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_vote" + (" ON votes" if
                          engine.dialect.name == "postgresql" else "")))  # fmt: skip
    assert (await arena.vote(bad_voter, bad, "tie")).winner is Winner.TIE
