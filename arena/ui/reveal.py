"""What the reveal shows after a vote: the model cards, and the data of its share image.

The cards are HTML made here from :class:`arena.cards.Card`; every configured text
(names, developers, sizes, descriptions) is escaped and kept on one line, so it reads as
text inside the reveal's Markdown. The share image is drawn in the browser
(:data:`arena.ui.share.SHARE_JS`) from :func:`share_data`: the verdict and the cards' key
numbers, plus the first prompt and short excerpts that the image leaves out unless the
volunteer ticks the box.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from arena.cards import Card
from arena.config import ModelSpec
from arena.db.models import Side, Winner
from arena.ui.i18n import t

#: Characters of the prompt and of each answer an opted-in share image shows.
EXCERPT_CHARS = 120


def _text(value: str) -> str:
    """Configured text as escaped HTML on one line (a blank line would end the block)."""
    return html.escape(" ".join(value.split()))


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}"


def card_facts(card: Card, lang: str) -> list[tuple[str, str]]:
    """A card's lines as (class, text): what the card and the share image say."""
    facts: list[tuple[str, str]] = []
    if card.developer:
        facts.append(("ta-card-dev", t("card_developer", lang, value=card.developer)))
    if card.size:
        facts.append(("ta-card-size", t("card_size", lang, value=card.size)))
    facts.append(("ta-card-weights", t(f"card_weights_{card.weights}", lang)))
    if card.japanese_mt_bench is not None:
        facts.append(("ta-card-mtb", f"Japanese MT-Bench: {card.japanese_mt_bench:g}"))
    if card.nejumi_lb3 is not None:
        facts.append(("ta-card-nejumi", f"Nejumi LB3: {card.nejumi_lb3:g}"))
    if card.latency_ms is not None:
        key = "card_time_first" if card.ttft_ms is not None else "card_time"
        first = _seconds(card.ttft_ms) if card.ttft_ms is not None else ""
        facts.append(("ta-card-time", t(key, lang, s=_seconds(card.latency_ms), first=first)))
    facts.append(("ta-card-length", t("card_length", lang, n=f"{card.chars:,}")))
    if card.turns > 1:
        facts.append(("ta-card-turns", t("card_turns", lang, n=card.turns)))
    return facts


def cards_html(
    cards: Mapping[Side, Card],
    lang: str,
    specs: Mapping[str, ModelSpec] | None = None,
    prefix: str = "",
) -> str:
    """Both cards side by side (one under the other on a phone), on one line of HTML.

    A description comes from ``specs`` in ``lang`` when configured (the page's language
    may have changed since the cards were read). ``prefix`` starts the cards' ids
    (``named-`` in the named tab, so that both tabs' ids stay unique).
    """
    parts = []
    for side, card in sorted(cards.items(), key=lambda kv: kv[0].value):
        spec = (specs or {}).get(card.name)
        description = spec.description_in(lang) if spec else card.description
        title = t("reveal_line", lang, side=t(f"model_{side.value}", lang), name=card.name)
        badge = (
            f'<span class="ta-card-chosen">★ {html.escape(t("your_choice", lang))}</span>'
            if card.chosen
            else ""
        )
        facts = "".join(
            f'<li class="{kind}">{_text(text)}</li>' for kind, text in card_facts(card, lang)
        )
        desc = f'<p class="ta-card-desc">{_text(description)}</p>' if description else ""
        chosen = " ta-card-is-chosen" if card.chosen else ""
        parts.append(
            f'<div class="ta-card ta-card-{side.value}{chosen}" '
            f'id="{prefix}arena-card-{side.value}">'
            f'<h4 class="ta-card-title">{_text(title)}</h4>{badge}<ul>{facts}</ul>{desc}</div>'
        )
    joined = "".join(parts)
    return f'<div class="ta-cards" id="{prefix}arena-cards">{joined}</div>' if parts else ""


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


def share_data(
    cards: Mapping[Side, Card], winner: Winner, turns: list[dict[str, Any]], lang: str
) -> str:
    """The share image's data as JSON: always the names, verdict and key numbers; the
    prompt and excerpts under ``private``, drawn only when the volunteer opts in."""
    if not cards:
        return ""
    verdict = {
        Winner.MODEL_A: "vote_a",
        Winner.MODEL_B: "vote_b",
        Winner.TIE: "vote_tie",
        Winner.BOTHBAD: "vote_bothbad",
    }[winner]
    sides = []
    for side, card in sorted(cards.items(), key=lambda kv: kv[0].value):
        said = {kind: " ".join(text.split()) for kind, text in card_facts(card, lang)}
        # At most four lines a card: who, how big, the scores, this battle's numbers.
        groups = (("ta-card-dev",), ("ta-card-size",), ("ta-card-mtb", "ta-card-nejumi"),
                  ("ta-card-time", "ta-card-length"))  # fmt: skip
        facts = [" · ".join(said[k] for k in group if k in said) for group in groups]
        sides.append(
            {
                "side": side.value,
                "label": t(f"model_{side.value}", lang),
                "name": " ".join(card.name.split()),
                "chosen": card.chosen,
                "facts": [fact for fact in facts if fact],
            }
        )
    first = turns[0] if turns else {}
    data = {
        "title": t("share_title", lang),
        "verdict": t("your_vote", lang, verdict=t(verdict, lang)),
        "chosen": t("your_choice", lang),
        "sides": sides,
        "private": {
            "prompt_label": t("share_prompt_label", lang),
            "prompt": _excerpt(str(first.get("prompt", ""))),
            "answers": {s: _excerpt(str(first.get(s, ""))) for s in ("a", "b")},
        },
    }
    return json.dumps(data, ensure_ascii=False)
