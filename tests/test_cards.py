"""The reveal's model cards (arena.cards, arena.ui.reveal) on SQLite and PostgreSQL,
from battles played by a real Arena against the loopback vLLM server."""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy import select

from arena.cards import battle_cards
from arena.config import ModelSpec
from arena.db.models import Message, Side, Winner
from arena.ui.reveal import EXCERPT_CHARS, cards_html, share_data
from tests import test_battles
from tests.test_battles import ALICE, names_of, play

arena = test_battles.arena  # a real Arena on the loopback server, on both databases

SPEC = {
    "developer": "<b>Lab</b> & Co",
    "size": "8x8B MoE",
    "japanese_mt_bench": 7.25,
    "nejumi_lb3": 0.57,
    "description_ja": "説明 <script>x</script>\n\n**太字**",
}


def specs_of(arena) -> dict[str, ModelSpec]:
    """The arena's models, the first with every card field, the second closed and bare."""
    first, second = arena.settings.models
    return {
        first.name: dataclasses.replace(first, **SPEC),
        second.name: dataclasses.replace(second, weights="closed"),
    }


def cards_of(arena, battle_id: str, lang: str = "ja"):
    with arena.sessions() as session:
        return battle_cards(session, battle_id, specs_of(arena), lang)


async def test_no_cards_before_the_vote(arena) -> None:
    battle_id = (await play(arena, ALICE, "質問です"))[-1].battle_id
    assert cards_of(arena, battle_id) == {}
    assert cards_of(arena, "no-such-battle") == {}
    await arena.vote(ALICE, battle_id, Winner.MODEL_B)
    cards = cards_of(arena, battle_id)
    assert set(cards) == {Side.A, Side.B}
    assert [c.chosen for c in (cards[Side.A], cards[Side.B])] == [False, True]


async def test_cards_hold_the_config_and_this_battles_numbers(arena) -> None:
    battle_id = (await play(arena, ALICE, "一つ目"))[-1].battle_id
    await play(arena, ALICE, "二つ目", battle_id)
    await arena.vote(ALICE, battle_id, Winner.MODEL_A)
    names = names_of(arena, battle_id)
    with arena.sessions() as s:
        rows = s.execute(
            select(Message.side, Message.content, Message.latency_ms, Message.ttft_ms)
            .where(Message.battle_id == battle_id, Message.role == "assistant")
            .order_by(Message.id)
        ).all()
    cards = cards_of(arena, battle_id)
    first = arena.settings.models[0].name
    for side in (Side.A, Side.B):
        card, mine = cards[side], [r for r in rows if r.side is side]
        assert card.name == names[side] and card.turns == 2
        assert card.chars == sum(len(r.content) for r in mine) > 0
        assert card.latency_ms == sum(r.latency_ms for r in mine)
        assert card.ttft_ms == mine[0].ttft_ms
        if card.name == first:
            assert (card.developer, card.size, card.weights) == (
                "<b>Lab</b> & Co",
                "8x8B MoE",
                "open",
            )
            assert (card.japanese_mt_bench, card.nejumi_lb3) == (7.25, 0.57)
        else:
            assert (card.developer, card.size, card.weights) == ("", "", "closed")
            assert card.japanese_mt_bench is None and card.nejumi_lb3 is None
    assert cards[Side.A].chosen and not cards[Side.B].chosen


async def test_cards_are_escaped_text_in_plain_words(arena) -> None:
    battle_id = (await play(arena, ALICE, "質問"))[-1].battle_id
    await arena.vote(ALICE, battle_id, Winner.TIE)
    cards, specs = cards_of(arena, battle_id), specs_of(arena)
    ja, en = cards_html(cards, "ja", specs), cards_html(cards, "en", specs)
    for text in (ja, en):
        assert "<b>" not in text and "<script>" not in text and "\n" not in text
        assert "&lt;b&gt;Lab&lt;/b&gt; &amp; Co" in text
        assert "Japanese MT-Bench: 7.25" in text and "Nejumi LB3: 0.57" in text
        assert "ta-card-chosen" not in text  # a tie marks no side
    assert "重みが公開されたモデル（誰でもダウンロードして使えます）" in ja
    assert "公開されていないモデル（API経由でのみ利用）" in ja
    assert "（重み：" not in ja and "説明 &lt;script&gt;x&lt;/script&gt; **太字**" in ja
    assert "Open-weight model" in en and "Closed model" in en and "Answer length" in en
    assert "Japanese MT-Bench" not in ja.split('id="arena-card-b"')[1]  # shown only when present


async def test_the_share_data_keeps_the_prompt_apart(arena) -> None:
    prompt = "とても個人的な相談です" * 20
    battle_id = (await play(arena, ALICE, prompt))[-1].battle_id
    await arena.vote(ALICE, battle_id, Winner.MODEL_A)
    cards = cards_of(arena, battle_id)
    turns = [{"prompt": prompt, "a": "答えA" * 100, "b": "答えB"}]
    data = json.loads(share_data(cards, Winner.MODEL_A, turns, "ja"))
    public = json.dumps({k: v for k, v in data.items() if k != "private"}, ensure_ascii=False)
    assert "相談" not in public and "答えA" not in public  # only under "private"
    assert data["private"]["prompt"].startswith("とても個人的な相談です")
    assert len(data["private"]["prompt"]) == len(data["private"]["answers"]["a"]) == EXCERPT_CHARS
    assert [s["name"] for s in data["sides"]] == [cards[Side.A].name, cards[Side.B].name]
    assert data["sides"][0]["chosen"] and data["verdict"] == "あなたの投票：Aの方が良い"
    facts = {s["name"]: s["facts"] for s in data["sides"]}  # the cards' key numbers
    assert "Japanese MT-Bench: 7.25 · Nejumi LB3: 0.57" in facts[arena.settings.models[0].name]
    assert all(any("回答の長さ" in f for f in side) for side in facts.values())
    assert all(len(side) <= 4 for side in facts.values())
    assert share_data({}, Winner.MODEL_A, turns, "ja") == ""
