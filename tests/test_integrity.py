"""Votes that can be trusted, at the arena's level, on SQLite and PostgreSQL.

Voters are issued by the server; limits refuse floods before any model is called; a
voter keeps one open blind battle; every vote carries its quality signals; a failed
side reaches the client as a code only; the gates (access codes, proof of work) hold.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

import altcha
import pytest
from sqlalchemy import select

from arena.backends import build_backends, make_client
from arena.backends.base import Timeouts
from arena.battles import Arena, VoterRef
from arena.config import Settings, demo_models
from arena.db import make_engine, migrate, session_factory
from arena.db.models import Battle, BattleStatus, Message, Side, Vote, Voter, Winner
from arena.errors import BattleRejected, VoteRejected
from arena.integrity.limits import Limits, RateLimited
from arena.integrity.voters import GateRefused, Gates, UnknownVoter
from tests.conftest import unavailable
from tests.loopback import Behaviour
from tests.test_battles import play, settings_for

ROOT = Path(__file__).resolve().parents[1]


def make_arena(engine, llm, **overrides) -> Arena:
    settings = settings_for(llm, str(engine.url), **overrides)
    client = make_client(Timeouts(connect=2, first_token=settings.first_token_timeout))
    return Arena(settings, session_factory(engine), build_backends(settings.models, client),
                 rng=random.Random(3))  # fmt: skip


async def voter(arena: Arena, ip: str = "192.0.2.10") -> VoterRef:
    return VoterRef(await arena.issue_voter(ip), ip)


async def test_issued_tokens_are_unguessable_and_stored(engine, llm) -> None:
    arena = make_arena(engine, llm)
    tokens = {await arena.issue_voter("192.0.2.1") for _ in range(5)}
    assert len(tokens) == 5 and all(len(t) >= 32 for t in tokens)
    with arena.sessions() as s:
        stored = set(s.scalars(select(Voter.token)))
        hashes = set(s.scalars(select(Voter.ip_hash)))
    assert tokens <= stored
    assert "192.0.2.1" not in str(hashes)


@pytest.mark.parametrize("token", ["", "a" * 32, "x" * 5000, "<script>", "a b" * 10])
async def test_a_token_the_server_did_not_issue_is_refused_before_any_model_call(
    engine, llm, token
) -> None:
    arena = make_arena(engine, llm)
    with pytest.raises(UnknownVoter):
        await play(arena, VoterRef(token, "192.0.2.1"), "こんにちは")
    with pytest.raises(UnknownVoter):
        await arena.vote(VoterRef(token, "192.0.2.1"), "0" * 32, Winner.MODEL_A)
    assert llm.requests == []  # a forged token costs no upstream request
    with arena.sessions() as s:
        assert s.scalars(select(Voter)).all() == []  # and creates no voter


async def test_issuing_is_limited_per_address(engine, llm) -> None:
    arena = make_arena(engine, llm, rate_voters_per_address="3/hour")
    for _ in range(3):
        await arena.issue_voter("198.51.100.1")
    with pytest.raises(RateLimited) as caught:
        await arena.issue_voter("198.51.100.1")
    assert 1 <= caught.value.retry_after <= 3600
    await arena.issue_voter("198.51.100.2")  # another address has its own budget


async def test_battles_turns_and_votes_are_limited_per_voter_and_address(engine, llm) -> None:
    arena = make_arena(
        engine, llm, rate_battles_per_voter="2/minute", rate_votes_per_address="1/minute"
    )
    alice = await voter(arena, "192.0.2.20")
    first = (await play(arena, alice, "一つ目"))[-1]
    second = (await play(arena, alice, "二つ目"))[-1]
    sent = len(llm.requests)
    with pytest.raises(RateLimited) as caught:
        await play(arena, alice, "三つ目")
    assert caught.value.code == "rate_limited" and caught.value.retry_after >= 1
    assert len(llm.requests) == sent  # refused before the models were called
    await arena.vote(alice, second.battle_id, Winner.MODEL_A)
    bob = await voter(arena, "192.0.2.20")  # same address: its vote budget is spent
    third = (await play(arena, bob, "ボブ"))[-1]
    with pytest.raises(RateLimited):
        await arena.vote(bob, third.battle_id, Winner.TIE)
    assert first.battle_id != second.battle_id


async def test_one_open_blind_battle_per_voter(engine, llm) -> None:
    arena = make_arena(engine, llm)
    alice = await voter(arena)
    old = (await play(arena, alice, "最初の対戦"))[-1]
    new = (await play(arena, alice, "次の対戦"))[-1]
    with arena.sessions() as s:
        assert s.get(Battle, old.battle_id).status is BattleStatus.ABANDONED
        assert s.get(Battle, old.battle_id).model_a_id is not None  # kept, with its models
    with pytest.raises(VoteRejected) as caught:
        await arena.vote(alice, old.battle_id, Winner.MODEL_A)
    assert caught.value.code == "battle_closed"
    with pytest.raises(BattleRejected):
        await play(arena, alice, "続き", old.battle_id)
    reveal = await arena.vote(alice, new.battle_id, Winner.MODEL_B)
    assert reveal.counted


async def test_a_failed_battle_left_behind_cannot_be_retried_and_voted(engine, llm) -> None:
    arena = make_arena(engine, llm)
    alice = await voter(arena)
    for name in ("Alpha-7B", "Beta-13B"):
        llm.set(f"served/{name}", Behaviour(mode="status_500", fail_times=100))
    failed = (await play(arena, alice, "失敗する対戦"))[-1]
    assert not failed.votable
    llm.reset()
    await play(arena, alice, "新しい対戦")
    with pytest.raises(BattleRejected) as caught:
        async for _ in arena.regenerate(alice, failed.battle_id):
            pass
    assert caught.value.code == "battle_closed"


async def test_votes_carry_their_quality_signals(engine, llm) -> None:
    arena = make_arena(engine, llm, min_read_chars=10, min_read_seconds=30.0)
    alice = await voter(arena, "203.0.113.5")
    llm.set("served/Alpha-7B", Behaviour(tokens=40))
    llm.set("served/Beta-13B", Behaviour(tokens=2))
    ids = []
    for prompt in ("一問目", "二問目"):
        last = (await play(arena, alice, prompt))[-1]
        await arena.vote(alice, last.battle_id, Winner.MODEL_A)
        ids.append(last.battle_id)
    with arena.sessions() as s:
        votes = [s.scalar(select(Vote).where(Vote.battle_id == i)) for i in ids]
        answers = {
            (m.battle_id, m.side): len(m.content)
            for m in s.scalars(select(Message).where(Message.role == "assistant"))
        }
    assert [v.voter_day_votes for v in votes] == [1, 2]
    for v in votes:
        assert (v.chars_a, v.chars_b) == (answers[(v.battle_id, Side.A)],
                                          answers[(v.battle_id, Side.B)])  # fmt: skip
        assert v.flag_fast  # under 30 s after answers longer than 10 characters
        assert v.seconds_to_vote is not None and v.seconds_to_vote < 30
        assert v.ip_hash == arena.ip_hash("203.0.113.5")


async def test_a_slow_reader_is_not_flagged(engine, llm) -> None:
    arena = make_arena(engine, llm, min_read_chars=100_000)
    alice = await voter(arena)
    last = (await play(arena, alice, "短い"))[-1]
    await arena.vote(alice, last.battle_id, Winner.TIE)
    with arena.sessions() as s:
        assert not s.scalar(select(Vote.flag_fast))


async def test_a_side_error_reaches_the_client_as_a_code_only(engine, llm) -> None:
    arena = make_arena(engine, llm, retries=0)
    alice = await voter(arena)
    llm.set("served/Alpha-7B", Behaviour(mode="status_500", fail_times=100))
    last = (await play(arena, alice, "エラー"))[-1]
    errors = {side: st.error for side, st in last.sides.items() if st.error}
    assert errors and all(e.startswith("http_") and ":" not in e for e in errors.values())
    with arena.sessions() as s:
        stored = s.scalars(select(Message.error).where(Message.error.is_not(None))).all()
    assert stored and all("loopback" in e for e in stored)  # the details stay on the server


async def test_access_codes_gate_new_voters(engine, llm) -> None:
    arena = make_arena(engine, llm, access_codes="lab-2026, guest")
    with pytest.raises(GateRefused):
        await arena.issue_voter("192.0.2.1")
    with pytest.raises(GateRefused):
        await arena.issue_voter("192.0.2.1", access_code="lab-2025")
    assert await arena.issue_voter("192.0.2.1", access_code="guest")


async def test_proof_of_work_gate(engine, llm) -> None:
    arena = make_arena(engine, llm, pow_gate=True, pow_max_number=2000)
    with pytest.raises(GateRefused) as caught:
        await arena.issue_voter("192.0.2.1")
    assert caught.value.code == "pow_required"
    challenge = arena.gates.challenge()
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    payload = altcha.PayloadV1(
        challenge["algorithm"], challenge["challenge"], solution.number, challenge["salt"],
        challenge["signature"],
    ).to_base64()  # fmt: skip
    assert await arena.issue_voter("192.0.2.1", pow_payload=payload)
    with pytest.raises(GateRefused) as caught:  # a solution is good for one voter
        await arena.issue_voter("192.0.2.1", pow_payload=payload)
    assert caught.value.code == "pow_invalid"
    wrong = altcha.PayloadV1(
        challenge["algorithm"], challenge["challenge"], solution.number + 1, challenge["salt"],
        challenge["signature"],
    ).to_base64()  # fmt: skip
    with pytest.raises(GateRefused):
        await arena.issue_voter("192.0.2.1", pow_payload=wrong)


# -- a proof-of-work solution is spent once, across processes --------------------------


def _solve(gates: Gates, *, salt_suffix: str = "") -> str:
    challenge = gates.challenge()
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    return altcha.PayloadV1(
        challenge["algorithm"], challenge["challenge"], solution.number,
        challenge["salt"] + salt_suffix, challenge["signature"],
    ).to_base64()  # fmt: skip


def _refused(gates: Gates, payload: str) -> str:
    with pytest.raises(GateRefused) as caught:
        gates.check(payload, None)
    return caught.value.code


@pytest.fixture(params=["database", "redis"])
def shared_settings(request: pytest.FixtureRequest, db_url: str) -> Settings:
    """Gate settings whose limits storage every process of one app shares."""
    base = Settings(
        models=demo_models(), secret="pow-test-secret", pow_gate=True, pow_max_number=2000,
        database_url=db_url, limits_storage=request.param,
    )  # fmt: skip
    if request.param == "redis":  # (the database only holds the app's tables then)
        import redis

        url = os.environ.get("ARENA_TEST_REDIS", "redis://127.0.0.1:6379/0")
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            unavailable(f"Redis not reachable at {url}: {exc}")
        base = dataclasses.replace(base, redis_url=url)
    return base


#: Another app process: its own Limits and Gates, built as at start-up; checks each payload
#: it reads and prints the outcome.
OTHER_PROCESS = """
import sys
from arena.config import Settings, demo_models
from arena.db import make_engine
from arena.integrity.limits import Limits
from arena.integrity.voters import GateRefused, Gates
url, kind, redis_url, prefix = sys.argv[1:]
settings = Settings(models=demo_models(), secret="pow-test-secret", pow_gate=True,
                    pow_max_number=2000, database_url=url, limits_storage=kind,
                    redis_url=redis_url)
gates = Gates.from_settings(settings, Limits(settings, make_engine(url), prefix=prefix))
for payload in sys.stdin.read().split():
    try:
        gates.check(payload, None)
        print("accepted")
    except GateRefused as exc:
        print(exc.code)
"""


def test_a_solution_is_spent_once_across_processes(shared_settings: Settings) -> None:
    """Two app processes on one database (or Redis), each with the Limits and Gates it
    builds at start-up: a solution redeemed on one is refused on the other."""
    st = shared_settings
    prefix = f"pow{uuid.uuid4().hex[:12]}"
    engine = make_engine(st.database_url)
    try:
        migrate(engine)
        limits = Limits(st, engine, prefix=prefix)
        here = Gates.from_settings(st, limits)
        mine, theirs = _solve(here), _solve(here)
        here.check(mine, None)
        other = subprocess.run(
            [sys.executable, "-c", OTHER_PROCESS, st.database_url, st.limits_storage,
             st.redis_url, prefix],
            input=f"{mine}\n{_solve_again(mine)}\n{theirs}\n", capture_output=True,
            text=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert other.returncode == 0, other.stderr
        # Spent here: refused there, also re-encoded (its salt spelled with the trailing
        # '&' the check adds anyway: the same challenge). A new one is good there, once.
        assert other.stdout.split() == ["pow_invalid", "pow_invalid", "accepted"]
        assert _refused(here, theirs) == "pow_invalid"
        assert _refused(here, mine) == "pow_invalid"
        limits.reset()
    finally:
        engine.dispose()


def _solve_again(payload: str) -> str:
    solved = json.loads(base64.b64decode(payload))
    solved["salt"] += "&"
    again = base64.b64encode(json.dumps(solved, indent=1).encode()).decode()
    assert again != payload
    return again


def test_without_a_shared_storage_a_solution_is_spent_in_this_process(tmp_path) -> None:
    settings = Settings(
        models=demo_models(), secret="pow-test-secret", pow_gate=True, pow_max_number=2000,
        database_url=f"sqlite:///{tmp_path / 'arena.db'}",
    )  # fmt: skip
    limits = Limits(settings)  # auto on SQLite: memory
    assert limits.storage_name == "memory"
    one, other = Gates.from_settings(settings, limits), Gates.from_settings(settings)
    payload = _solve(one)
    one.check(payload, None)
    assert _refused(other, payload) == "pow_invalid"  # one set for the whole process
    assert _refused(one, _solve_again(payload)) == "pow_invalid"
