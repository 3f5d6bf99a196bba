"""What the battle tab shows, as plain functions of a page's battle: the panes' messages,
the phone's turn-by-turn view, the headers, the status line and the reveal.

:mod:`arena.ui.battle_tab` builds the components and wires the events; everything here
is pure (no Gradio event, no database), so it is tested without a browser. The names of
a blind battle's models appear only through ``Page.reveal``, after the vote.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from arena.battles import SIDES, Reveal, VoterRef
from arena.cards import Card
from arena.config import ModelSpec
from arena.db.models import BattleMode, Side, Winner
from arena.render import literal, render
from arena.ui.failures import side_failure_text
from arena.ui.i18n import t
from arena.ui.reveal import cards_html

#: Characters of a side's reasoning shown in the reveal (escaped, on one line).
REASONING_SHOWN = 4000
VOTES = (
    ("vote-a", "vote_a", Winner.MODEL_A),
    ("vote-b", "vote_b", Winner.MODEL_B),
    ("vote-tie", "vote_tie", Winner.TIE),
    ("vote-bothbad", "vote_bothbad", Winner.BOTHBAD),
)
VERDICT_KEYS = {winner: key for _, key, winner in VOTES}
VOTES_FOR = {Winner.MODEL_A: Side.A, Winner.MODEL_B: Side.B}


def status_html(text: str, *, warning: bool = False) -> str:
    """The status line: a polite live region, so screen readers hear what happens."""
    kind = "ta-status ta-warning" if warning else "ta-status"
    return f'<p role="status" aria-live="polite" class="{kind}">{html.escape(text)}</p>'


@dataclass
class Page:
    """One browser page's battle: its id, what both panes show, and how it ended."""

    battle_id: str | None = None
    turns: list[dict[str, Any]] = field(default_factory=list)  # prompt, a, b, err_a, err_b
    names: dict[Side, str] | None = None  # named mode only
    reveal: Reveal | None = None
    #: A blind vote recorded, its names kept here (never sent) during the reasons step.
    pending: Reveal | None = None
    #: The reveal's model cards (read once the names are shown).
    cards: dict[Side, Card] | None = None

    @property
    def voted(self) -> bool:
        return self.reveal is not None or self.pending is not None

    @property
    def failed_sides(self) -> tuple[Side, ...]:
        last = self.turns[-1] if self.turns else {}
        return tuple(s for s in SIDES if last.get(f"err_{s.value}"))


# The panes show arena.render's HTML as it is (Gradio's Markdown off); KaTeX then renders
# these delimiters in the browser. Gradio runs KaTeX's auto-render without ``trust`` (so
# false): \href and \url show as error text, never a link. A single "$" is a delimiter
# too, as the models write it; arena.render keeps all four verbatim.
CHAT_LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "$", "right": "$", "display": False},
]


def chat_pane(**kwargs: Any) -> gr.Chatbot:
    """A chat pane showing :func:`arena.render.render`'s HTML, and only that.

    ``render_markdown=False`` makes Gradio insert each message's string as HTML (through
    its own sanitiser, a second layer); no copy button, as it would copy that HTML.
    """
    return gr.Chatbot(
        render_markdown=False,
        sanitize_html=True,
        allow_tags=False,
        latex_delimiters=CHAT_LATEX,
        buttons=[],
        feedback_options=None,
        **{"elem_classes": "ta-pane", **kwargs},
    )


def pane_html(html_text: str) -> str:
    """Safe HTML in Gradio's ``prose`` styles, which Gradio leaves off without Markdown."""
    return f'<div class="prose">{html_text}</div>' if html_text else "…"


def chat_messages(page: Page, side: Side, lang: str) -> list[dict[str, str]]:
    """The messages of one pane as safe HTML; a failed answer ends with a line saying so."""
    out: list[dict[str, str]] = []
    for turn in page.turns:
        out.append({"role": "user", "content": pane_html(render(turn["prompt"]))})
        out.append({"role": "assistant", "content": pane_html(answer_html(turn, side, lang))})
    return out


def answer_html(turn: Mapping[str, Any], side: Side, lang: str) -> str:
    """One side's answer of a turn as safe HTML; a failure is said plainly at its end."""
    answer = render(turn[side.value])
    if turn[f"err_{side.value}"]:
        code = turn[f"err_{side.value}"].split(":", 1)[0].strip()
        partial = bool(turn[side.value].strip())
        answer += render(side_failure_text(code, lang, partial=partial))
    return answer


def turn_messages(page: Page, lang: str) -> list[dict[str, str]]:
    """The phone's view: each prompt, then A's and B's answers to it, each under its label
    (the pane headers' words: "Model A" while blind)."""
    out: list[dict[str, str]] = []
    for turn in page.turns:
        out.append({"role": "user", "content": pane_html(render(turn["prompt"]))})
        for side in SIDES:
            label = html.escape(pane_label(page, side, lang))
            tag = f'<p class="ta-turn-label ta-turn-{side.value}">{label}</p>'
            out.append(
                {"role": "assistant", "content": tag + pane_html(answer_html(turn, side, lang))}
            )
    return out


def pane_label(page: Page, side: Side, lang: str) -> str:
    """A pane's header: "Model A" while blind; its model's name once known (the named
    mode, or after the vote), and 「あなたの選択」 on the side the volunteer chose."""
    label = t(f"model_{side.value}", lang)
    names = page.reveal.names if page.reveal else page.names
    if names and side in names:
        label = f"{label}: {names[side]}"
    if page.reveal and VOTES_FOR.get(page.reveal.winner) is side:
        label = f"{label} ★ {t('your_choice', lang)}"
    return label


def client_ip(request: gr.Request | None) -> str | None:
    """The client address (X-Forwarded-For only from the trusted proxies, per settings)."""
    return request.client.host if request is not None and request.client else None


def voter_of(token: str, request: gr.Request | None) -> VoterRef:
    """The acting voter: the page's server-issued token (never a shared fallback)."""
    return VoterRef(token=token if isinstance(token, str) else "", ip=client_ip(request))


def reveal_markdown(
    reveal: Reveal,
    lang: str,
    mode: BattleMode = BattleMode.ANONY,
    specs: Mapping[str, ModelSpec] | None = None,
    cards: Mapping[Side, Card] | None = None,
) -> str:
    """The reveal: a card per side (:func:`arena.ui.reveal.cards_html`) when ``cards`` are
    given, else one line per side (``Model A: <name>`` / ``モデルA：<name>``).

    A model's description comes from ``specs`` in ``lang`` when configured there.
    """
    lines = [
        f"**{t('thanks', lang)}** "
        + t("your_vote", lang, verdict=t(VERDICT_KEYS[reveal.winner], lang))
    ]
    if cards:
        lines.append(cards_html(cards, lang, specs, "named-" if mode is BattleMode.NAMED else ""))
    for side in SIDES if not cards else ():
        weights = reveal.weights[side]
        weights_text = t(f"weights_{weights}", lang) if weights in ("open", "closed") else weights
        spec = (specs or {}).get(reveal.names[side])
        desc = literal(spec.description_in(lang) if spec else reveal.descriptions[side])
        line = t("reveal_line", lang, side=t(f"model_{side.value}", lang), name="")
        lines.append(
            f"{line}**{literal(reveal.names[side])}**"
            + t("weights_note", lang, weights=weights_text)
            + (f" — {desc}" if desc else "")
        )
    for side, thinking in reveal.reasoning.items():  # only with show_reasoning_after_vote
        label = t("reveal_reasoning", lang, side=t(f"model_{side.value}", lang))
        lines.append(f"*{label}* {literal(thinking[:REASONING_SHOWN])}")
    if mode is BattleMode.NAMED:
        lines.append(t("named_not_counted", lang))
    elif not reveal.counted:
        lines.append(t("not_counted", lang))
    return "\n\n".join(lines)
