"""The battle tab's handlers and the view they all return.

:class:`BattleHandlers` is the part of :class:`~arena.ui.battle_tab.BattleTab` that runs
on events: each handler calls :class:`arena.battles.Arena` and returns a dict keyed by
component, most of it :meth:`BattleHandlers.view` -- every output of the tab as a
function of the page's :class:`Page` (kept in ``gr.State``, on the server), the page
language and whether a turn is streaming, so the language switch can redraw it. Apart
from the layout because it runs on every event, the layout once per page build.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr
from sqlalchemy.exc import SQLAlchemyError

from arena.battles import SIDES, Reveal, TurnState
from arena.cards import Card, battle_cards
from arena.db.models import BattleMode, Side, Winner
from arena.errors import ArenaError
from arena.feedback import BAD, GOOD, give_reasons
from arena.model_config import ModelSpec
from arena.ui.battle_layout import BattleLayout
from arena.ui.battle_view import (
    Page,
    chat_messages,
    pane_label,
    reveal_markdown,
    status_html,
    turn_messages,
    voter_of,
)
from arena.ui.failures import failure_text
from arena.ui.i18n import lang_of, t
from arena.ui.reveal import share_data

#: An error code from the page's script: a word, never text to show.
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _outcome(raw: object) -> dict[str, Any]:
    """The page script's outcome of a streamed turn (anything else: nothing happened)."""
    if not isinstance(raw, str) or len(raw) > 1_000_000:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class BattleHandlers(BattleLayout):
    """The tab's view and event handlers (the middle of :class:`~arena.ui.battle_tab.BattleTab`)."""

    max_turns: int
    specs: dict[str, ModelSpec]

    # -- views ----------------------------------------------------------------------

    def status_key(self, page: Page, busy: bool) -> str:
        """Which status line fits the page."""
        if busy:
            return "status_streaming"
        if page.pending is not None:
            return "status_reasons"
        if page.voted:
            return "status_voted"
        if not page.turns:
            return "status_idle"
        if page.failed_sides:
            return "status_failed_way"
        return "status_turn_limit" if len(page.turns) >= self.max_turns else "status_ready"

    def view(
        self, page: Page, lang: str, *, busy: bool = False, labels: bool = False,
        said: str | None = None,
    ) -> dict:  # fmt: skip
        """Every output of the tab for the page's situation.

        Buttons are enabled only when they make sense: nothing while a turn streams,
        only "new round" after the vote, votes only when both answers finished cleanly.
        ``said``: what went wrong, in plain words, for the status line (the tab's one
        place for failures) with "end this battle" offered beside the retry buttons.
        """
        started = bool(page.turns)
        failed = page.failed_sides
        open_ = not busy and not page.voted
        can_send = open_ and not failed and len(page.turns) < self.max_turns
        votable = open_ and started and not failed
        status = (
            status_html(said, warning=True)
            if said
            else status_html(t(self.status_key(page, busy), lang), warning=bool(failed) and open_)
        )
        out: dict = {
            self.page: page,
            self.battle_box: page.battle_id or "",
            self.prompt: gr.update(interactive=can_send),
            self.send: gr.update(interactive=can_send),
            self.status: status,
            self.reveal: (
                reveal_markdown(page.reveal, lang, self.mode, self.specs, page.cards)
                if page.reveal
                else ""
            ),
            self.turns: turn_messages(page, lang),
            self.end: gr.update(visible=open_ and started and bool(failed or said)),
            self.regenerate: gr.update(interactive=open_ and started),
            self.new_round: gr.update(
                interactive=not busy and started and page.pending is None,
                value=t("next_battle" if page.voted else "new_round", lang),
                variant="primary" if page.voted else "secondary",
            ),
            **{b: gr.update(interactive=votable) for b in self.votes.values()},
            **{b: gr.update(visible=open_ and side in failed) for side, b in self.retries.items()},
            **{p: gr.update(interactive=not busy and not started) for p in self.pickers},
        }
        # A pane's header changes with the reveal, a new round and the language; otherwise
        # its messages go as a plain value: an update of a Chatbot's props makes Gradio
        # rebuild its config and JSON schema (about 40 ms of CPU per event).
        labelled = labels or page.reveal is not None or self.mode is not BattleMode.ANONY
        for side, chat in self.chats.items():
            messages = chat_messages(page, side, lang)
            out[chat] = (
                gr.update(value=messages, label=pane_label(page, side, lang))
                if labelled
                else messages
            )  # fmt: skip
        # The steps after the vote (reasons, then the reveal's share row) open and close
        # only on the vote, the reveal, a new round or a redraw: the hot drawing event
        # leaves these components alone (a props update costs a config rebuild).
        if not (labels or page.voted):
            return out
        shown = page.reveal is not None and bool(page.cards)
        out[self.share_row] = gr.update(visible=shown)
        out[self.share_data] = (
            share_data(page.cards or {}, page.reveal.winner, page.turns, lang) if shown else ""
        )
        if not shown:
            out[self.share_prompt] = False
        if self.reasons_box is not None:
            asking = page.pending is not None
            out[self.reasons_box] = gr.update(visible=asking)
            if asking:  # the tags in the page's language, good ones first, none ticked
                choices = [(t(f"tag_{tag}", lang), tag) for tag in (*GOOD, *BAD)]
                for pick in self.reason_picks.values():
                    out[pick] = gr.update(choices=choices, value=[])
                out[self.comment] = gr.update(value="")
        return out

    def _cards(self, battle_id: str, lang: str) -> dict[Side, Card]:
        with self.arena.sessions() as session:
            return battle_cards(session, battle_id, self.specs, lang)

    async def _revealed(self, page: Page, reveal: Reveal, lang: str) -> None:
        """Show the names: the reveal and its cards (read from the database)."""
        page.reveal, page.pending = reveal, None
        if page.battle_id:
            try:
                page.cards = await asyncio.to_thread(self._cards, page.battle_id, lang)
            except SQLAlchemyError:  # the names still show, as lines instead of cards
                page.cards = None

    def _apply(self, page: Page, state: TurnState) -> None:
        entry = page.turns[-1]
        for side in SIDES:
            entry[side.value] = state.sides[side].text
            entry[f"err_{side.value}"] = state.sides[side].error
        page.battle_id = state.battle_id
        if state.names:
            page.names = dict(state.names)

    async def _stream(
        self, page: Page, lang: str, states: AsyncIterator[TurnState]
    ) -> AsyncIterator[dict]:
        try:
            async for state in states:
                self._apply(page, state)
                # While text streams only the panes change: sending just their values (not
                # gr.update, which Gradio turns into a whole new component) keeps each
                # update cheap. The buttons were set busy, and the labels, by the first.
                yield {
                    self.turns: turn_messages(page, lang),
                    **{chat: chat_messages(page, side, lang) for side, chat in self.chats.items()},
                }
        except ArenaError as exc:  # e.g. the turn could not be stored: it ended failed
            said = failure_text(exc, lang, started=True)
            last = page.turns[-1] if page.turns else None
            if last is not None:
                for side in SIDES:
                    last[f"err_{side.value}"] = last[f"err_{side.value}"] or exc.code
            yield self.view(page, lang, said=said)
            return
        # Only now is the turn stored (the generator's end): enabling the buttons earlier
        # would let a quick click find the battle still busy.
        yield self.view(page, lang)

    # -- handlers -------------------------------------------------------------------

    async def on_send(
        self, page: Page, prompt: str, token: str, lang: str, request: gr.Request,
        *picks: str,
    ) -> AsyncIterator[dict]:  # fmt: skip
        # ``request`` stands before ``*picks``: Gradio only injects it into positional
        # parameters, and a keyword-only one would silently stay None (no client address).
        """Send a prompt: start a battle or add a turn, streaming both panes."""
        page, lang = page if isinstance(page, Page) else Page(), lang_of(lang)
        if page.voted:
            yield self.view(page, lang)
            return
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
            said = failure_text(exc, lang, started=bool(page.turns))
            yield {**self.view(page, lang, said=said), self.prompt: gr.update(value=prompt)}
            return
        page.turns.append(
            {"prompt": prompt.strip(), "a": "", "b": "", "err_a": None, "err_b": None}
        )
        self._apply(page, first)
        yield {
            **self.view(page, lang, busy=True),
            self.prompt: gr.update(value="", interactive=False),
        }
        async for update in self._stream(page, lang, states):
            yield update

    async def on_streamed(
        self, outcome: str, token: str, lang: str, page: Page, request: gr.Request | None = None
    ) -> dict:
        """Draw a turn the page streamed from the battle API, as the server stored it.

        ``outcome`` is the page script's JSON: the battle id, whether the turn started,
        and an error code with its numbers when it did not end well. Nothing in it is
        shown as given: the panes come from the database (this voter's battles only),
        an error only picks one of the page's own messages.
        """
        page, lang = page if isinstance(page, Page) else Page(), lang_of(lang)
        data = _outcome(outcome)
        said: list[str] = []  # in the status line, as every failure of this tab
        battle_id = data.get("battle_id")
        if isinstance(battle_id, str) and battle_id and not page.voted:
            try:
                stored = await self.arena.transcript(voter_of(token, request), battle_id)
            except ArenaError as exc:
                said.append(failure_text(exc, lang, started=True))
            else:
                page.battle_id, page.turns = stored.battle_id, stored.turns
        code = data.get("error")
        if isinstance(code, str) and _CODE.fullmatch(code):
            params = data.get("params") if isinstance(data.get("params"), dict) else {}
            numbers = {
                k: v for k, v in params.items() if isinstance(k, str) and isinstance(v, int | float)
            }
            exc = ArenaError(code, code=code, **numbers)
            said.insert(0, failure_text(exc, lang, started=bool(page.turns)))
        out = self.view(page, lang, said=" ".join(dict.fromkeys(said)) or None)
        if said and not data.get("started") and isinstance(data.get("prompt"), str):
            out[self.prompt] = gr.update(value=data["prompt"], interactive=True)
        return out

    async def on_regenerate(
        self, page: Page, token: str, lang: str, request: gr.Request | None = None, *,
        sides: tuple[Side, ...],
    ) -> AsyncIterator[dict]:  # fmt: skip
        """Answer the last turn again on ``sides`` (both: a re-roll; one: a retry)."""
        lang = lang_of(lang)
        if not page.battle_id or not page.turns or page.voted:
            yield self.view(page, lang)
            return
        try:
            yield self.view(page, lang, busy=True)
            states = self.arena.regenerate(voter_of(token, request), page.battle_id, sides)
            async for update in self._stream(page, lang, states):
                yield update
        except ArenaError as exc:
            yield self.view(page, lang, said=failure_text(exc, lang, started=True))

    async def on_vote(
        self,
        page: Page,
        token: str,
        lang: str,
        request: gr.Request | None = None,
        *,
        winner: Winner,
    ) -> dict:
        """Record the vote, then reveal the names."""
        lang = lang_of(lang)
        try:
            reveal = await self.arena.vote(voter_of(token, request), page.battle_id or "", winner)
        except ArenaError as exc:
            return self.view(page, lang, said=failure_text(exc, lang, started=True))
        if self.reasons_box is not None:  # blind: the reasons step first, names kept here
            page.pending = reveal
        else:
            await self._revealed(page, reveal, lang)
        return self.view(page, lang)

    async def on_reasons(
        self, page: Page, token: str, lang: str, request: gr.Request, *given: object
    ) -> dict:
        """Store the reasons and comment of the blind vote, then reveal the names."""
        lang = lang_of(lang)
        if page.pending is None or not page.battle_id:
            return self.view(page, lang)
        *picks, comment = given
        reasons = {
            side: p if isinstance(p, list) else [] for side, p in zip(SIDES, picks, strict=False)
        }
        said = None
        try:
            await give_reasons(
                self.arena, voter_of(token, request), page.battle_id, reasons, comment
            )
        except ArenaError as exc:  # the vote stands: the names come all the same
            said = failure_text(exc, lang)
        await self._revealed(page, page.pending, lang)
        return self.view(page, lang, said=said)

    async def on_skip_reasons(self, page: Page, lang: str) -> dict:
        """No reasons: reveal the names."""
        lang = lang_of(lang)
        if page.pending is not None:
            await self._revealed(page, page.pending, lang)
        return self.view(page, lang)

    def on_new_round(self, lang: str) -> dict:
        """Forget the current battle; the next prompt draws a new pair."""
        return {
            **self.view(Page(), lang_of(lang), labels=True),
            self.prompt: gr.update(value="", interactive=True),
        }
