"""The reveal's model cards: who each model is, and how it did in this battle.

After a vote the page shows one card per side: the model's name, developer, size and
whether its weights are published (from the configuration, else from the ``models``
row), its Japanese MT-Bench and Nejumi LB3 scores when configured, and this battle's
answer time and length. The data is read here through a :class:`Session`; a battle
without a vote has no cards, so nothing of them can reach a page before the vote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.config import ModelSpec
from arena.db.models import Battle, Message, Side, Vote, Winner

CHOSEN = {Winner.MODEL_A: Side.A, Winner.MODEL_B: Side.B}


@dataclass(frozen=True)
class Card:
    """One side's card. Text fields are as configured: escape them before display."""

    side: Side
    name: str
    developer: str
    size: str
    weights: str  # "open" or "closed"
    description: str  # in the page's language when configured so
    japanese_mt_bench: float | None
    nejumi_lb3: float | None
    turns: int  # answers counted below (the last answer of each turn)
    latency_ms: int | None  # summed over those answers; None when none was timed
    ttft_ms: int | None  # the first answer's time to first token
    chars: int  # characters of those answers
    chosen: bool


def battle_cards(
    session: Session, battle_id: str, specs: Mapping[str, ModelSpec], lang: str = "ja"
) -> dict[Side, Card]:
    """Both sides' cards of a voted battle (empty when the battle has no vote)."""
    battle = session.get(Battle, battle_id)
    winner = session.scalar(select(Vote.winner).where(Vote.battle_id == battle_id))
    if battle is None or winner is None or battle.model_b is None:
        return {}
    rows = session.execute(
        select(Message.side, Message.turn, Message.content, Message.latency_ms, Message.ttft_ms)
        .where(Message.battle_id == battle_id, Message.role != "user")
        .order_by(Message.id)
    )
    last: dict[tuple[Side, int], tuple[str, int | None, int | None]] = {}
    for side, turn, content, latency, ttft in rows:  # a regenerated turn: the latest row
        last[(side, turn)] = (content or "", latency, ttft)
    cards: dict[Side, Card] = {}
    for side, model in ((Side.A, battle.model_a), (Side.B, battle.model_b)):
        answers = [last[key] for key in sorted(last) if key[0] is side]
        timed = [latency for _, latency, _ in answers if latency is not None]
        spec = specs.get(model.name)
        cards[side] = Card(
            side=side,
            name=model.name,
            developer=spec.developer if spec else "",
            size=spec.size if spec else "",
            weights=spec.weights if spec else model.weights,
            description=spec.description_in(lang) if spec else model.description,
            japanese_mt_bench=spec.japanese_mt_bench if spec else model.japanese_mt_bench,
            nejumi_lb3=spec.nejumi_lb3 if spec else model.nejumi_lb3,
            turns=len(answers),
            latency_ms=sum(timed) if timed else None,
            ttft_ms=answers[0][2] if answers else None,
            chars=sum(len(text) for text, _, _ in answers),
            chosen=CHOSEN.get(winner) is side,
        )
    return cards
