"""What several app processes on one database share: models left out after failures
(with their back-off) and the battles per pair that steer sampling.

Two ``Arena`` instances on one database stand for two app processes (each has its own
memory; only the database joins them), against the loopback vLLM-protocol server.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from arena import battle_draw, battle_turns
from arena.backends import build_backends, make_client
from arena.backends.base import Timeouts
from arena.battles import Arena, VoterRef
from arena.config import ModelSpec, Settings
from arena.db import make_engine, migrate, repo, session_factory
from arena.db.models import ModelHealth, Voter
from arena.sampling import Health, PairCounter, SharedOut
from tests.loopback import Behaviour

NAMES = ("Alpha-7B", "Beta-13B", "Gamma-70B")


@pytest.fixture
async def two_processes(db_url, llm, monkeypatch):
    monkeypatch.setattr(battle_draw, "SHARED_TTL", 0.0)  # read the shared state at every battle
    monkeypatch.setattr(battle_draw, "SHARED_LAG", 0.3)  # a stored battle's row lands within it
    engine = make_engine(db_url)
    migrate(engine)
    models = tuple(
        ModelSpec(name=n, provider="vllm", model=f"served/{n}", base_urls=(llm.base_url,))
        for n in NAMES
    )
    settings = Settings(database_url=db_url, models=models, secret="s", retries=0,
                        first_token_timeout=2.0, total_timeout=10.0)  # fmt: skip
    client = make_client(Timeouts(connect=2, first_token=2))
    arenas = []
    for seed in (1, 2):
        arenas.append(Arena(settings, session_factory(engine), build_backends(models, client),
                            rng=random.Random(seed)))  # fmt: skip
    with arenas[0].sessions.begin() as s:
        s.add_all(Voter(token=t * 32) for t in "abcdefgh")
    yield arenas, engine
    await client.aclose()
    engine.dispose()


async def battle(arena: Arena, voter: str) -> tuple[str, ...]:
    last = None
    async for state in arena.send(VoterRef(voter * 32, "192.0.2.7"), "こんにちは"):
        last = state
    assert last is not None and last.finished
    with arena.sessions() as s:
        return battles_of(s, voter)[-1]


def battles_of(s, voter: str) -> list[tuple[str, ...]]:
    from sqlalchemy import select

    from arena.db.models import Battle

    rows = s.scalars(select(Battle).join(Voter).where(Voter.token == voter * 32))
    return [(b.model_a.name, b.model_b.name) for b in rows]


async def settle(arena: Arena) -> None:
    """Let the background write/read of the shared state finish."""
    for _ in range(50):
        pending = [t for t in battle_turns.FINISHING if not t.done()]
        if not pending:
            return
        await asyncio.wait(pending, timeout=5)
    await asyncio.sleep(0)


async def test_a_model_left_out_by_one_process_sits_out_in_the_other(two_processes, llm):
    (one, two), _ = two_processes
    llm.set("served/Gamma-70B", Behaviour(mode="status_500"))
    for model in ("Gamma-70B",) * 3:  # three failures in a row in process one
        one._share(one.health.record(model, False))
    await settle(one)
    with one.sessions() as s:
        row = s.get(ModelHealth, "Gamma-70B")
        assert row is not None and row.backoff == one.health.cooldown
    one._refresh_shared()  # process one reads the shared state, its own row included
    await settle(one)

    two._refresh_shared()
    await settle(two)
    assert "Gamma-70B" in two.health.unhealthy()
    for voter in "abcdef":  # process two never draws it while it sits out
        assert "Gamma-70B" not in await battle(two, voter)
    await settle(two)

    # A success anywhere brings it back everywhere.
    two._share(two.health.record("Gamma-70B", True))
    await settle(two)
    with one.sessions() as s:
        assert s.get(ModelHealth, "Gamma-70B") is None
    one._shared_at = -1e9
    one._refresh_shared()
    await settle(one)
    assert one.health.unhealthy() == set()


async def test_failures_in_the_other_process_double_the_shared_back_off(two_processes):
    (one, two), _ = two_processes
    clock = [1000.0]
    for arena in (one, two):
        arena.health.clock = lambda: clock[0]
        arena.health.wall = lambda: clock[0]
    for _ in range(3):
        one._share(one.health.record("Beta-13B", False))
    await settle(one)
    two.health.merge(await two._db(repo.models_out))
    assert two.health.unhealthy() == {"Beta-13B"}
    clock[0] += one.health.cooldown + 1  # the back-off ends: process two probes, it fails
    assert two.health.unhealthy() == set()
    two.health.draw(lambda out: ("Alpha-7B", "Beta-13B"))
    two._share(two.health.record("Beta-13B", False))
    await settle(two)
    with one.sessions() as s:
        assert s.get(ModelHealth, "Beta-13B").backoff == 2 * one.health.cooldown


async def test_pair_counts_include_the_other_process_battles(two_processes, llm):
    (one, two), _ = two_processes
    for voter in "abcd":
        await battle(one, voter)
    await settle(one)
    await asyncio.sleep(battle_draw.SHARED_LAG)
    two._refresh_shared()
    await settle(two)
    seen = two.pairs.snapshot()
    assert sum(seen.values()) == 4  # process two drew none itself
    # The stored battles, not process one's own counter: that one may still miss a draw
    # whose row was stamped more than SHARED_LAG after the draw (a loaded machine) until
    # its next read, which is how the counter stays exact across windows.
    with one.sessions() as s:
        stored = Counter(tuple(sorted(pair)) for v in "abcd" for pair in battles_of(s, v))
    assert seen == stored
    await battle(two, "e")  # its own draw counts at once, and once
    assert sum(two.pairs.snapshot().values()) == 5
    await settle(two)
    await asyncio.sleep(battle_draw.SHARED_LAG)
    two._refresh_shared()
    await settle(two)
    assert sum(two.pairs.snapshot().values()) == 5


def test_pair_counter_counts_a_battle_once_across_windows() -> None:
    now = [100.0]
    counter = PairCounter({("A", "B"): 2}, upto=100.0, clock=lambda: now[0])
    counter.add("B", "A")  # drawn here at t=100
    now[0] = 101.0
    counter.add("A", "C")  # at t=101
    assert counter.snapshot() == {("A", "B"): 3, ("A", "C"): 1}
    counter.advance({("A", "B"): 1, ("B", "C"): 4}, upto=100.5)  # the window holds t=100
    assert counter.snapshot() == {("A", "B"): 3, ("A", "C"): 1, ("B", "C"): 4}
    counter.advance({("A", "C"): 1}, upto=102.0)
    assert counter.snapshot() == {("A", "B"): 3, ("A", "C"): 1, ("B", "C"): 4}


def test_health_reports_what_to_share_and_merges_what_others_shared() -> None:
    t = [0.0]
    health = Health(threshold=2, cooldown=10, clock=lambda: t[0], wall=lambda: 5000 + t[0])
    assert health.record("M", False) is None
    assert health.record("M", False) == SharedOut("M", 2, 10, 5010)
    assert health.record("M", True) == SharedOut("M", 0, 0.0, 0.0)
    assert health.record("M", True) is None  # nothing new to tell

    other = Health(clock=lambda: t[0], wall=lambda: 5000 + t[0])
    other.merge([SharedOut("N", 3, 20, 5020)])
    assert other.unhealthy() == {"N"}
    t[0] = 21.0
    assert other.unhealthy() == set()  # back-off over: half-open
    other.merge([])  # gone from the database: someone got an answer
    assert other.status(["N"])["N"] == {"healthy": True, "failures": 0, "retry_in": 0.0}
