"""The battle tab: one builder for the blind arena and the named side-by-side mode.

Handlers call :class:`arena.battles.Arena` and return dicts keyed by component.
Per-page data (battle id, conversation, voter token) lives only in ``gr.State`` /
``gr.BrowserState``; the names of a blind battle's models reach the page only in the
reveal, after the vote.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from arena.battles import SIDES, Arena, Reveal, TurnState, VoterRef
from arena.db.models import BattleMode, Side, Winner
from arena.errors import ArenaError
from arena.ui.i18n import error_text, t

VOTES = (
    ("vote-a", "vote_a", Winner.MODEL_A),
    ("vote-b", "vote_b", Winner.MODEL_B),
    ("vote-tie", "vote_tie", Winner.TIE),
    ("vote-bothbad", "vote_bothbad", Winner.BOTHBAD),
)


@dataclass
class Page:
    """One browser page's battle: its id and what both panes show."""

    battle_id: str | None = None
    turns: list[dict[str, Any]] = field(default_factory=list)  # prompt, a, b, err_a, err_b
    voted: bool = False


_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.DOTALL)


def _escape(text: str) -> str:
    """Show prompts and model output as text: HTML outside code is escaped.

    Markdown still renders, and code spans keep their ``<`` (markdown shows code
    literally), so an answer cannot inject tags, styles or tracking images.
    """
    parts = _CODE.split(text)
    return "".join(p if i % 2 else html.escape(p, quote=False) for i, p in enumerate(parts))


def chat_messages(page: Page, side: Side, lang: str) -> list[dict[str, str]]:
    """The messages of one pane."""
    out: list[dict[str, str]] = []
    for turn in page.turns:
        out.append({"role": "user", "content": _escape(turn["prompt"])})
        answer = _escape(turn[side.value])
        if turn[f"err_{side.value}"]:
            reason = turn[f"err_{side.value}"].split(":", 1)[0]
            answer = (answer + "\n\n" if answer else "") + t("side_error", lang, reason=reason)
        out.append({"role": "assistant", "content": answer or "…"})
    return out


def voter_of(token: str, request: gr.Request | None) -> VoterRef:
    """The acting voter: the page's token and the client address (proxies per settings)."""
    ip = request.client.host if request is not None and request.client else None
    return VoterRef(token=token or "anonymous", ip=ip)


class BattleTab:
    """Builds and wires one battle tab (``mode`` anony or named)."""

    def __init__(self, arena: Arena, mode: BattleMode, prefix: str, limit: int) -> None:
        self.arena = arena
        self.mode = mode
        self.prefix = prefix  # elem_id prefix: "arena" for the blind tab, "named" for named
        self.limit = limit

    def eid(self, name: str) -> str:
        """The elem_id of a component; the blind tab keeps the stable public ids."""
        return name if self.prefix == "arena" else f"{self.prefix}-{name}"

    def build(self, voter: gr.BrowserState, lang: gr.State, i18n: gr.I18n) -> None:
        """Lay out the tab and connect its events."""
        self.page = gr.State(Page())
        self.pickers: list[gr.Dropdown] = []
        if self.mode is BattleMode.NAMED:
            with gr.Row():
                for label in ("model_a", "model_b"):
                    self.pickers.append(
                        gr.Dropdown(
                            choices=[], label=i18n(label), elem_id=self.eid(f"pick-{label[-1]}")
                        )
                    )
        with gr.Row(equal_height=True):
            self.chats = {
                side: gr.Chatbot(
                    label=i18n(f"model_{side.value}"),
                    elem_id=self.eid(f"arena-chat-{side.value}"),
                    height=420,
                    buttons=["copy"],
                    feedback_options=None,
                    sanitize_html=True,
                    min_width=300,
                )
                for side in SIDES
            }
        with gr.Row():
            self.votes = {
                winner: gr.Button(
                    i18n(key), interactive=False, elem_id=self.eid(eid), min_width=120
                )
                for eid, key, winner in VOTES
            }
        self.reveal = gr.Markdown("", elem_id=self.eid("arena-reveal"))
        with gr.Row():
            self.prompt = gr.Textbox(
                label=i18n("prompt_label"),
                placeholder=i18n("prompt_placeholder"),
                lines=2,
                max_lines=10,
                scale=8,
                elem_id=self.eid("arena-prompt"),
            )
            self.send = gr.Button(
                i18n("send"), variant="primary", scale=1, elem_id=self.eid("arena-send")
            )
        with gr.Row():
            self.retry = gr.Button(
                i18n("retry"), interactive=False, elem_id=self.eid("arena-retry")
            )
            self.new_round = gr.Button(i18n("new_round"), elem_id=self.eid("arena-new-round"))
        self._wire(voter, lang)

    def _outputs(self) -> list[gr.components.Component]:
        return [
            self.page,
            self.prompt,
            self.send,
            self.retry,
            self.reveal,
            *self.chats.values(),
            *self.votes.values(),
        ]

    def _wire(self, voter: gr.BrowserState, lang: gr.State) -> None:
        stream = {
            "outputs": self._outputs(),
            "concurrency_limit": self.arena.settings.stream_concurrency,
            "concurrency_id": "battle-stream",
            "show_progress": "hidden",
        }
        inputs = [self.page, self.prompt, voter, lang, *self.pickers]
        self.send.click(self.on_send, inputs, api_name=f"{self.prefix}_send", **stream)
        self.prompt.submit(self.on_send, inputs, api_visibility="private", **stream)
        self.retry.click(
            self.on_retry, [self.page, voter, lang], api_name=f"{self.prefix}_retry", **stream
        )
        for winner, button in self.votes.items():
            button.click(
                functools.partial(self.on_vote, winner=winner),
                [self.page, voter, lang],
                self._outputs(),
                api_name=f"{self.prefix}_vote_{winner.name.lower()}",
            )
        self.new_round.click(
            self.on_new_round, [lang], self._outputs(), api_name=f"{self.prefix}_new_round"
        )

    # -- views ----------------------------------------------------------------------

    def view(
        self,
        page: Page,
        lang: str,
        *,
        busy: bool,
        votable: bool = False,
        retry: bool = False,
        reveal: str | None = None,
    ) -> dict:
        """Every output of the tab for a given situation."""
        out: dict = {
            self.page: page,
            self.send: gr.update(interactive=not busy and not page.voted),
            self.retry: gr.update(interactive=retry and not busy and not page.voted),
            **{c: chat_messages(page, side, lang) for side, c in self.chats.items()},
            **{
                b: gr.update(interactive=votable and not busy and not page.voted)
                for b in self.votes.values()
            },
        }
        if reveal is not None:
            out[self.reveal] = reveal
        return out

    def _apply(self, page: Page, state: TurnState) -> None:
        entry = page.turns[-1]
        for side in SIDES:
            entry[side.value] = state.sides[side].text
            entry[f"err_{side.value}"] = state.sides[side].error
        page.battle_id = state.battle_id

    async def _stream(
        self, page: Page, lang: str, states: AsyncIterator[TurnState]
    ) -> AsyncIterator[dict]:
        state = None
        async for state in states:
            self._apply(page, state)
            yield self.view(page, lang, busy=not state.finished)
        if state is not None:
            failed = any(s.error for s in state.sides.values())
            yield self.view(page, lang, busy=False, votable=state.votable, retry=failed)

    # -- handlers -------------------------------------------------------------------

    async def on_send(
        self,
        page: Page,
        prompt: str,
        token: str,
        lang: str,
        *picks: str,
        request: gr.Request = None,
    ) -> AsyncIterator[dict]:
        """Send a prompt: start a battle or add a turn, streaming both panes."""
        page = page if isinstance(page, Page) else Page()
        if page.voted:
            page = Page()
        pending = {"prompt": prompt or "", "a": "", "b": "", "err_a": None, "err_b": None}
        states = self.arena.send(
            voter_of(token, request),
            prompt,
            page.battle_id,
            mode=self.mode,
            language=lang,
            models=tuple(p for p in picks if p) or None,
        )
        try:
            first = await anext(states)
        except ArenaError as exc:
            gr.Warning(error_text(exc, lang))
            yield {
                **self.view(page, lang, busy=False, votable=bool(page.turns)),
                self.prompt: prompt,
            }
            return
        page.turns.append(pending)
        self._apply(page, first)
        yield {
            **self.view(page, lang, busy=True),
            self.prompt: "",
            self.reveal: self._named(first, lang),
        }
        async for update in self._stream(page, lang, states):
            yield update

    async def on_retry(
        self, page: Page, token: str, lang: str, request: gr.Request = None
    ) -> AsyncIterator[dict]:
        """Answer the last turn again on the side(s) that failed."""
        if not page.battle_id or not page.turns:
            yield self.view(page, lang, busy=False)
            return
        last = page.turns[-1]
        sides = tuple(s for s in SIDES if last[f"err_{s.value}"]) or SIDES
        try:
            async for update in self._stream(
                page, lang, self.arena.regenerate(voter_of(token, request), page.battle_id, sides)
            ):
                yield update
        except ArenaError as exc:
            gr.Warning(error_text(exc, lang))
            yield self.view(page, lang, busy=False, retry=True)

    async def on_vote(
        self, page: Page, token: str, lang: str, request: gr.Request = None, *, winner: Winner
    ) -> dict:
        """Record the vote, then reveal the names."""
        try:
            reveal = await self.arena.vote(voter_of(token, request), page.battle_id or "", winner)
        except ArenaError as exc:
            gr.Warning(error_text(exc, lang))
            return self.view(page, lang, busy=False, votable=not page.voted)
        page.voted = True
        return self.view(page, lang, busy=False, reveal=reveal_markdown(reveal, lang))

    def on_new_round(self, lang: str) -> dict:
        """Forget the current battle; the next prompt draws a new pair."""
        return {**self.view(Page(), lang, busy=False), self.reveal: "", self.prompt: ""}

    def _named(self, state: TurnState, lang: str) -> str:
        if not state.names:
            return ""
        return "\n\n".join(
            t("reveal_line", lang, side=t(f"model_{s.value}", lang), name=_escape(n))
            for s, n in state.names.items()
        )


def reveal_markdown(reveal: Reveal, lang: str) -> str:
    """The reveal: one line per side (``Model A: <name>`` / ``モデルA：<name>``)."""
    lines = [t("thanks", lang)]
    for side in SIDES:
        name = _escape(reveal.names[side])
        lines.append(
            t("reveal_line", lang, side=t(f"model_{side.value}", lang), name=f"**{name}**")
            + f" ({reveal.weights[side]}) — {_escape(reveal.descriptions[side])}"
        )
    if not reveal.counted:
        lines.append(t("not_counted", lang))
    return "\n\n".join(lines)
