"""Reasons, comments and reactions (arena.feedback) on real databases (SQLite and
PostgreSQL), through a real Arena against the loopback vLLM server."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from arena.battles import Arena
from arena.db.feedback_stats import feedback_by_model
from arena.db.models import Reaction, Side, Vote, VoteReason, Winner
from arena.errors import BattleRejected
from arena.feedback import give_reasons, react
from tests import test_battles
from tests.test_battles import ALICE, BOB, names_of, play

arena = test_battles.arena  # the same fixture: a real Arena on the loopback server


async def voted_battle(arena: Arena, turns: int = 1) -> str:
    battle_id = (await play(arena, ALICE, "質問です"))[-1].battle_id
    for k in range(1, turns):
        await play(arena, ALICE, f"続き {k}", battle_id)
    await arena.vote(ALICE, battle_id, Winner.MODEL_A)
    return battle_id


def stored_reasons(arena: Arena, battle_id: str) -> set[tuple[Side, str]]:
    with arena.sessions() as s:
        rows = s.execute(select(VoteReason.side, VoteReason.tag)
                         .where(VoteReason.battle_id == battle_id))  # fmt: skip
        return {tuple(r) for r in rows}


async def test_reasons_and_comment_are_stored_once_by_the_voter(arena) -> None:
    battle_id = await voted_battle(arena)
    given = {Side.A: ["natural_japanese", "useful", "no-such-tag", 7], Side.B: ["incorrect"]}
    comment = "Aは自然\x00でした\u0007  " + "あ" * 2000
    assert await give_reasons(arena, ALICE, battle_id, given, comment) == 3
    assert stored_reasons(arena, battle_id) == {
        (Side.A, "natural_japanese"), (Side.A, "useful"), (Side.B, "incorrect")
    }  # fmt: skip
    with arena.sessions() as s:
        stored = s.scalar(select(Vote.comment).where(Vote.battle_id == battle_id))
    assert stored.startswith("Aは自然でした") and len(stored) == 1000
    with pytest.raises(BattleRejected) as again:
        await give_reasons(arena, ALICE, battle_id, {Side.A: ["creative"]}, "また")
    assert again.value.code == "reasons_repeat"
    assert (Side.A, "creative") not in stored_reasons(arena, battle_id)

    with arena.sessions() as s:
        board = {f.model: f for f in feedback_by_model(s)}
    names = names_of(arena, battle_id)
    assert board[names[Side.A]].tags == {"natural_japanese": 1, "useful": 1}
    assert board[names[Side.B]].tags == {"incorrect": 1}
    assert board[names[Side.A]].with_reasons == board[names[Side.B]].with_reasons == 1


async def test_no_reasons_for_someone_elses_or_an_unvoted_battle(arena) -> None:
    battle_id = await voted_battle(arena)
    with pytest.raises(BattleRejected) as foreign:
        await give_reasons(arena, BOB, battle_id, {Side.A: ["useful"]}, "なりすまし")
    assert foreign.value.code == "unknown_battle"
    open_battle = (await play(arena, BOB, "まだ投票していない"))[-1].battle_id
    with pytest.raises(BattleRejected) as early:
        await give_reasons(arena, BOB, open_battle, {Side.A: ["useful"]})
    assert early.value.code == "vote_not_ready"
    for bad in (None, 42, "x" * 100):
        with pytest.raises(BattleRejected):
            await give_reasons(arena, ALICE, bad, {})
    assert stored_reasons(arena, battle_id) == set()


async def test_reactions_are_one_per_answer_and_can_change_or_go(arena) -> None:
    battle_id = await voted_battle(arena, turns=2)
    await react(arena, ALICE, battle_id, 1, Side.A, 1)
    await react(arena, ALICE, battle_id, 2, Side.B, -1)
    await react(arena, ALICE, battle_id, 1, Side.A, -1)  # changed
    await react(arena, ALICE, battle_id, 2, Side.B, 0)  # taken back

    def stored():
        with arena.sessions() as s:
            rows = s.execute(select(Reaction.turn, Reaction.side, Reaction.value))
            return {tuple(r) for r in rows}

    assert stored() == {(1, Side.A, -1)}
    for turn, side, value, code in ((3, Side.A, 1, "vote_invalid"), (0, Side.A, 1, "vote_invalid"),
                                    (1, Side.A, 5, "vote_invalid")):  # fmt: skip
        with pytest.raises(BattleRejected) as refused:
            await react(arena, ALICE, battle_id, turn, side, value)
        assert refused.value.code == code
    with pytest.raises(BattleRejected) as foreign:
        await react(arena, BOB, battle_id, 1, Side.B, 1)
    assert foreign.value.code == "unknown_battle"
    open_battle = (await play(arena, BOB, "投票前"))[-1].battle_id
    with pytest.raises(BattleRejected) as early:
        await react(arena, BOB, open_battle, 1, Side.A, 1)
    assert early.value.code == "vote_not_ready"
    assert stored() == {(1, Side.A, -1)}


async def test_many_presses_at_once_leave_one_reaction_and_no_error(arena) -> None:
    import asyncio

    battle_id = await voted_battle(arena)
    presses = [react(arena, ALICE, battle_id, 1, Side.A, (-1, 1)[k % 2]) for k in range(40)]
    await asyncio.gather(*presses)  # a race on the unique key would raise StorageError
    with arena.sessions() as s:
        rows = s.execute(select(Reaction.turn, Reaction.side, Reaction.value)).all()
    assert len(rows) == 1 and rows[0][:2] == (1, Side.A) and rows[0][2] in (-1, 1)


async def test_reasons_sent_twice_at_once_are_stored_once(arena) -> None:
    import asyncio

    battle_id = await voted_battle(arena)
    sends = [give_reasons(arena, ALICE, battle_id, {Side.A: ["useful"]}, f"コメント{k}")
             for k in range(12)]  # fmt: skip
    outcomes = await asyncio.gather(*sends, return_exceptions=True)
    stored = [o for o in outcomes if o == 1]
    refused = [o for o in outcomes if isinstance(o, BattleRejected)]
    assert len(stored) == 1 and len(refused) == 11, outcomes
    assert all(r.code == "reasons_repeat" for r in refused)
    assert stored_reasons(arena, battle_id) == {(Side.A, "useful")}
    with arena.sessions() as s:
        comment = s.scalar(select(Vote.comment).where(Vote.battle_id == battle_id))
    assert comment.startswith("コメント")
