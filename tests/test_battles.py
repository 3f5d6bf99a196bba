"""The battle lifecycle against a loopback vLLM server, on SQLite and PostgreSQL.

Each fault of one side must reach that side's pane and row, and leave the other side's
answer whole; votes follow the rules whatever a client sends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest
from sqlalchemy import func, select

from arena.backends import build_backends, make_client
from arena.backends.base import Timeouts
from arena.battles import Arena, VoterRef, clean_prompt
from arena.config import ModelSpec, Settings
from arena.db import make_engine, session_factory
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    Message,
    Side,
    Vote,
    Voter,
    Winner,
)
from arena.errors import BattleRejected, StorageError, VoteRejected
from tests.loopback import Behaviour

ALICE = VoterRef("a" * 32, "192.0.2.1")
BOB = VoterRef("b" * 32, "192.0.2.2")


def settings_for(server, db_url: str, **overrides) -> Settings:
    models = tuple(
        ModelSpec(
            name=name,
            provider="vllm",
            model=f"served/{name}",
            base_urls=(server.base_url,),
            system_prompt="sys",
            max_tokens=256,
            weights="open",
            description=f"{name} description",
        )
        for name in ("Alpha-7B", "Beta-13B")
    )
    base = Settings(database_url=db_url, models=models, secret="s", first_token_timeout=2.0,
                    total_timeout=10.0, retries=1)  # fmt: skip
    return dataclasses.replace(base, **overrides)


@pytest.fixture
async def arena(engine, llm):
    settings = settings_for(llm, str(engine.url))
    client = make_client(Timeouts(connect=2, first_token=settings.first_token_timeout))
    a = Arena(settings, session_factory(engine), build_backends(settings.models, client),
              rng=random.Random(7))  # fmt: skip
    register(a)
    yield a
    await client.aclose()


def register(arena: Arena, *voters: VoterRef) -> None:
    """Store ALICE and BOB as voters the server issued (their tokens are fixed here)."""
    with arena.sessions.begin() as s:
        s.add_all(Voter(token=v.token) for v in voters or (ALICE, BOB))


async def play(arena: Arena, voter: VoterRef, prompt: str, battle_id: str | None = None, **kw):
    states = []
    async for st in arena.send(voter, prompt, battle_id, **kw):
        states.append(
            dataclasses.replace(st, sides={k: dataclasses.replace(v) for k, v in st.sides.items()})
        )
    return states


def names_of(arena: Arena, battle_id: str) -> dict[Side, str]:
    with arena.sessions() as s:
        b = s.get(Battle, battle_id)
        return {Side.A: b.model_a.name, Side.B: b.model_b.name}


def served(arena: Arena, battle_id: str, side: Side) -> str:
    return f"served/{names_of(arena, battle_id)[side]}"


async def test_full_battle_is_stored_and_revealed_after_the_vote(arena, llm) -> None:
    states = await play(arena, ALICE, "こんにちは")
    last = states[-1]
    assert last.finished and last.votable and last.names is None
    expected = Behaviour().answer()
    assert last.sides[Side.A].text == expected and last.sides[Side.B].text == expected
    with arena.sessions() as s:
        battle = s.get(Battle, last.battle_id)
        assert battle.status is BattleStatus.READY and battle.mode is BattleMode.ANONY
        assert battle.model_a_id != battle.model_b_id
        rows = {(m.side, m.role): m for m in battle.messages}
        assert len(rows) == 4
        answer = rows[(Side.A, "assistant")]
        assert (
            answer.content == expected and answer.finish_reason == "stop" and answer.error is None
        )
        assert answer.completion_tokens == 20 and answer.prompt_tokens > 0
        assert answer.latency_ms >= answer.ttft_ms >= 0
        assert rows[(Side.B, "user")].content == "こんにちは"
    request = llm.requests_for(served(arena, last.battle_id, Side.A))[-1]["body"]
    assert request["messages"][0] == {"role": "system", "content": "sys"}
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}

    reveal = await arena.vote(ALICE, last.battle_id, "model_b")
    assert reveal.names == names_of(arena, last.battle_id)
    assert reveal.weights == {Side.A: "open", Side.B: "open"} and reveal.counted
    with arena.sessions() as s:
        vote = s.scalar(select(Vote))
        assert vote.winner is Winner.MODEL_B and vote.seconds_to_vote >= 0
        assert s.get(Battle, last.battle_id).status is BattleStatus.VOTED


async def test_multi_turn_sends_each_side_its_own_history(arena, llm) -> None:
    llm.set("served/Alpha-7B", Behaviour(text="alpha answer", tokens=3))
    llm.set("served/Beta-13B", Behaviour(text="beta answer", tokens=3))
    first = (await play(arena, ALICE, "one"))[-1]
    second = (await play(arena, ALICE, "two", first.battle_id))[-1]
    assert second.turn == 2 and second.votable
    for model, own in (("Alpha-7B", "alpha answer"), ("Beta-13B", "beta answer")):
        msgs = llm.requests_for(f"served/{model}")[-1]["body"]["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
        assert msgs[2]["content"] == own and msgs[3]["content"] == "two"
    with arena.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 8
        assert s.get(Battle, first.battle_id).turns == 2


async def test_turn_limit(engine, llm) -> None:
    settings = settings_for(llm, str(engine.url), max_turns=1)
    async with make_client(Timeouts()) as client:
        arena = Arena(settings, session_factory(engine), build_backends(settings.models, client))
        register(arena)
        first = (await play(arena, ALICE, "one"))[-1]
        with pytest.raises(BattleRejected) as info:
            await play(arena, ALICE, "two", first.battle_id)
        assert info.value.code == "turn_limit"
        await arena.vote(ALICE, first.battle_id, "tie")  # still votable after the refusal


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        (Behaviour(mode="error_frame", fail_after=2), "stream_error"),
        (Behaviour(mode="status_500"), "http_500"),
        (Behaviour(mode="cut", fail_after=2), "connection"),
        (Behaviour(mode="stall_before_first", stall_seconds=5), "first_token_timeout"),
        (Behaviour(mode="stall_after_first", stall_seconds=30, fail_after=2), "timeout"),
    ],
)
async def test_one_side_failing_leaves_the_other_whole(engine, llm, mode, kind) -> None:
    settings = settings_for(llm, str(engine.url), first_token_timeout=0.5, total_timeout=2.5)
    async with make_client(Timeouts(connect=2, first_token=5)) as client:
        arena = Arena(settings, session_factory(engine), build_backends(settings.models, client))
        register(arena)
        llm.set("served/Alpha-7B", mode)
        llm.set("served/Beta-13B", Behaviour(tokens=10))
        last = (await play(arena, ALICE, "hi"))[-1]
        names = names_of(arena, last.battle_id)
        bad = Side.A if names[Side.A] == "Alpha-7B" else Side.B
        good = Side.B if bad is Side.A else Side.A
        assert last.finished and not last.votable
        assert last.sides[bad].error and last.sides[bad].error.startswith(kind)
        assert last.sides[good].error is None
        assert last.sides[good].text == Behaviour(tokens=10).answer()
        with arena.sessions() as s:
            battle = s.get(Battle, last.battle_id)
            assert battle.status is BattleStatus.FAILED
            errors = {m.side: m.error for m in battle.messages if m.role == "assistant"}
            assert errors[good] is None and errors[bad].startswith(kind)
        with pytest.raises(VoteRejected) as info:
            await arena.vote(ALICE, last.battle_id, "model_a")
        assert info.value.code == "vote_not_ready"

        # the volunteer retries the failed side; the good side's answer is kept as it was
        llm.set("served/Alpha-7B", Behaviour(tokens=4))
        states = [s async for s in arena.regenerate(ALICE, last.battle_id, (bad,))]
        retried = states[-1]
        assert retried.votable and retried.sides[good].text == Behaviour(tokens=10).answer()
        assert retried.sides[bad].text == Behaviour(tokens=4).answer()
        await arena.vote(ALICE, last.battle_id, "model_a")


async def test_slow_side_does_not_hold_the_fast_one(arena, llm) -> None:
    llm.set("served/Alpha-7B", Behaviour(tokens=10, rate=10))  # ~1 s
    llm.set("served/Beta-13B", Behaviour(tokens=10))  # at once
    states = await play(arena, ALICE, "race")
    names = names_of(arena, states[-1].battle_id)
    fast = Side.A if names[Side.A] == "Beta-13B" else Side.B
    slow = Side.B if fast is Side.A else Side.A
    first_fast_done = next(i for i, s in enumerate(states) if s.sides[fast].done)
    assert not states[first_fast_done].sides[slow].done
    assert len(states[first_fast_done].sides[slow].text) < len(states[-1].sides[slow].text)
    partial = [s for s in states if 0 < len(s.sides[slow].text) < len(states[-1].sides[slow].text)]
    assert len(partial) >= 3  # the slow side streamed in pieces, not all at the end


async def test_retry_before_first_token_on_429(arena, llm) -> None:
    llm.set("served/Alpha-7B", Behaviour(mode="status_429", fail_times=1))
    last = (await play(arena, ALICE, "x"))[-1]
    assert last.votable
    assert len(llm.requests_for("served/Alpha-7B")) == 2


async def test_forged_repeated_and_foreign_votes_are_rejected(arena, llm) -> None:
    last = (await play(arena, ALICE, "hi"))[-1]
    for voter, battle, winner, code in [
        (BOB, last.battle_id, "model_a", "unknown_battle"),
        (ALICE, "f" * 32, "model_a", "unknown_battle"),
        (ALICE, {"id": 1}, "model_a", "unknown_battle"),
        (ALICE, last.battle_id, "model_c", "vote_invalid"),
    ]:
        with pytest.raises(VoteRejected) as info:
            await arena.vote(voter, battle, winner)
        assert info.value.code == code
    await arena.vote(ALICE, last.battle_id, "tie (bothbad)")
    with pytest.raises(VoteRejected) as info:
        await arena.vote(ALICE, last.battle_id, "model_a")
    assert info.value.code == "vote_repeat"
    # a turn after the vote is refused, and so is BOB continuing ALICE's battle
    for voter in (ALICE, BOB):
        with pytest.raises(BattleRejected):
            await play(arena, voter, "more", last.battle_id)
    with arena.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 1


async def test_concurrent_double_vote_counts_once(arena) -> None:
    last = (await play(arena, ALICE, "hi"))[-1]
    results = await asyncio.gather(
        *(arena.vote(ALICE, last.battle_id, w) for w in ("model_a", "model_b", "tie")),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, VoteRejected) for r in results if isinstance(r, Exception))


async def test_named_mode_shows_names_and_direct_mode_has_no_vote(arena) -> None:
    named = (
        await play(arena, ALICE, "hi", mode=BattleMode.NAMED, models=("Beta-13B", "Alpha-7B"))
    )[-1]
    assert named.names == {Side.A: "Beta-13B", Side.B: "Alpha-7B"}
    reveal = await arena.vote(ALICE, named.battle_id, "model_a")
    assert not reveal.counted
    direct = (await play(arena, ALICE, "hi", mode=BattleMode.DIRECT, models=("Alpha-7B",)))[-1]
    assert direct.names == {Side.A: "Alpha-7B"} and direct.sides[Side.A].text
    with pytest.raises(VoteRejected):
        await arena.vote(ALICE, direct.battle_id, "model_a")
    with pytest.raises(BattleRejected) as info:
        await play(arena, ALICE, "hi", mode=BattleMode.NAMED, models=("Alpha-7B", "Alpha-7B"))
    assert info.value.code == "choose_models"


async def test_a_model_naming_itself_flags_the_battle(arena, llm) -> None:
    llm.set("served/Alpha-7B", Behaviour(text="私はAlpha-7Bです。", tokens=3))
    last = (await play(arena, ALICE, "あなたは誰？"))[-1]
    reveal = await arena.vote(ALICE, last.battle_id, "model_a")
    assert not reveal.counted
    with arena.sessions() as s:
        assert s.get(Battle, last.battle_id).flag_identity


async def test_html_and_script_are_stored_verbatim(arena, llm) -> None:
    evil = '<script>alert(1)</script><img src="http://tracker.example/p.gif">'
    llm.set("served/Alpha-7B", Behaviour(text=evil, tokens=4))
    last = (await play(arena, ALICE, evil))[-1]
    with arena.sessions() as s:
        contents = {m.content for m in s.get(Battle, last.battle_id).messages}
    assert evil in contents  # nothing lost; the page escapes it when showing it


@pytest.mark.parametrize(
    ("prompt", "code"),
    [("", "prompt_empty"), ("   \n\t ", "prompt_empty"), ("x" * 5001, "prompt_too_long"),
     ("bad \ud800 surrogate", "prompt_invalid"), (None, "prompt_invalid")],
)  # fmt: skip
async def test_bad_prompts_are_refused_before_anything_is_stored(arena, prompt, code) -> None:
    with pytest.raises(BattleRejected) as info:
        await play(arena, ALICE, prompt)
    assert info.value.code == code
    with arena.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Battle)) == 0


def test_clean_prompt_strips_control_characters() -> None:
    assert clean_prompt(" a\x00b\x07c\n d ", 100) == "abc\n d"


async def test_database_down_is_a_clear_error(arena) -> None:
    arena.sessions = session_factory(make_engine("postgresql://postgres@127.0.0.1:9/none"))
    with pytest.raises(StorageError) as info:
        await play(arena, ALICE, "hi")
    assert info.value.code == "storage" and "database is unavailable" in str(info.value)


async def test_a_transcript_is_its_own_voters_blind_battle_only(arena) -> None:
    first = (await play(arena, ALICE, "一つ目"))[-1]
    await play(arena, ALICE, "二つ目", first.battle_id)
    transcript = await arena.transcript(ALICE, first.battle_id)
    assert [t["prompt"] for t in transcript.turns] == ["一つ目", "二つ目"]
    answer = Behaviour().answer()
    assert all(t["a"] == t["b"] == answer and t["err_a"] is None for t in transcript.turns)
    assert transcript.status is BattleStatus.READY
    named = (await play(arena, ALICE, "名前付き", mode=BattleMode.NAMED,
                        models=("Alpha-7B", "Beta-13B")))[-1]  # fmt: skip
    for voter, battle_id in ((BOB, first.battle_id), (ALICE, named.battle_id),
                             (ALICE, "nope"), (ALICE, None), (ALICE, "x" * 65)):  # fmt: skip
        with pytest.raises(BattleRejected) as refused:
            await arena.transcript(voter, battle_id)
        assert refused.value.code == "unknown_battle"


async def test_a_slow_pair_draw_never_stalls_the_event_loop(arena, monkeypatch) -> None:
    """The draw (the active sampler's numpy: ~20 ms on 100 models) runs off the loop, one
    draw at a time, each counting the pairs drawn before it."""
    import time

    from arena import battle_draw

    seen: list[int] = []
    drawing: list[tuple[float, float]] = []

    def slow(real):
        def draw(weights, pairs, *args, **kw):
            seen.append(sum(pairs.values()))
            started = time.perf_counter()
            time.sleep(0.3)  # stands for a long computation holding this thread
            drawing.append((started, time.perf_counter()))
            return real(weights, pairs, *args, **kw)

        return draw

    monkeypatch.setattr(battle_draw, "choose_active", slow(battle_draw.choose_active))
    monkeypatch.setattr(battle_draw, "choose_pair", slow(battle_draw.choose_pair))
    beats: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        while not stop.is_set():
            beats.append(time.perf_counter())
            await asyncio.sleep(0.01)

    beat = asyncio.ensure_future(heartbeat())
    try:
        first, second = await asyncio.gather(play(arena, ALICE, "one"), play(arena, BOB, "two"))
    finally:
        stop.set()
        await beat
    assert first[-1].votable and second[-1].votable
    assert len(seen) == 2 and seen[1] == seen[0] + 1  # the second draw saw the first's pair
    (start, _), (_, end) = drawing
    during = [t for t in beats if start <= t <= end]
    gaps = [b - a for a, b in zip([start, *during], [*during, end], strict=True)]
    assert max(gaps) < 0.15, f"the loop stalled {max(gaps):.3f} s during the draws"
