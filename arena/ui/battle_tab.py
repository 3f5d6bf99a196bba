"""The battle tab: one builder for the blind arena and the named side-by-side mode.

Handlers call :class:`arena.battles.Arena` and return dicts keyed by component. What
the tab shows is a function of the page's :class:`Page` (kept in ``gr.State``, on the
server), the page language and whether a turn is streaming -- so the language switch
can redraw it (the pure view functions live in :mod:`arena.ui.battle_view`). The names
of a blind battle's models reach the page only in the reveal, after the vote; in named
mode the model pickers are filled when the tab is selected.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr
from sqlalchemy.exc import SQLAlchemyError

from arena.battles import SIDES, Arena, Reveal, TurnState
from arena.cards import Card, battle_cards
from arena.db.models import BattleMode, Side, Winner
from arena.errors import ArenaError
from arena.feedback import BAD, GOOD, MAX_COMMENT, give_reasons
from arena.ui.battle_view import (  # the page and other tabs import these from here too
    VOTES,
    Page,
    chat_messages,
    chat_pane,
    client_ip,
    pane_label,
    reveal_markdown,
    status_html,
    turn_messages,
    voter_of,
)
from arena.ui.failures import failure_text
from arena.ui.i18n import EXAMPLE_PROMPTS, PROMPT_CATEGORIES, lang_of, t
from arena.ui.live import AWAIT_JS, CLEAR_JS, REACTIONS_JS, UNREACT_JS, start_js, suggest_js
from arena.ui.reveal import share_data
from arena.ui.share import UNSHARE_JS, share_js

__all__ = [
    "BattleTab",
    "Page",
    "chat_messages",
    "chat_pane",
    "client_ip",
    "reveal_markdown",
    "status_html",
    "voter_of",
]

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


class BattleTab:
    """Builds and wires one battle tab (``mode`` anony or named)."""

    def __init__(self, arena: Arena, mode: BattleMode, prefix: str) -> None:
        self.arena = arena
        self.mode = mode
        self.prefix = prefix  # elem_id prefix: "arena" for the blind tab, "named" for named
        self.max_turns = arena.settings.max_turns
        self.specs = {m.name: m for m in arena.settings.models}

    def eid(self, name: str) -> str:
        """The elem_id of a component; the blind tab keeps the stable public ids."""
        return name if self.prefix == "arena" else f"{self.prefix}-{name}"

    # -- layout ---------------------------------------------------------------------

    def build(
        self, voter: gr.BrowserState, lang: gr.State, i18n: gr.I18n, switch: gr.Radio
    ) -> None:
        """Lay out the tab and connect its events (``switch``: the page's language)."""
        self.page = gr.State(Page())
        # The battle's id and a streamed turn's outcome, for the page's JavaScript.
        self.battle_box = gr.Textbox(visible=False, elem_id=self.eid("arena-battle"))
        self.outcome = gr.Textbox(visible=False, elem_id=self.eid("arena-outcome"))
        self.pickers: list[gr.Dropdown] = []
        if self.mode is BattleMode.NAMED:
            gr.Markdown(i18n("named_intro"))
            with gr.Row():
                self.pickers = [
                    gr.Dropdown(
                        choices=[],
                        label=i18n(f"model_{side.value}"),
                        elem_id=self.eid(f"pick-{side.value}"),
                        min_width=240,
                    )
                    for side in SIDES
                ]
        # Phones (CSS: narrow screens only): one view, turn by turn, shown once a prompt
        # was sent, above the panes' retry buttons; its messages go as a plain value.
        self.turns = chat_pane(
            show_label=False, elem_id=self.eid("arena-turns"), elem_classes="ta-pane ta-turns",
            height="70vh", group_consecutive_messages=False,
        )  # fmt: skip
        self.chats: dict[Side, gr.Chatbot] = {}
        self.retries: dict[Side, gr.Button] = {}
        with gr.Row(equal_height=True, elem_classes="ta-panes"):
            for side in SIDES:
                with gr.Column(min_width=300):
                    self.chats[side] = chat_pane(
                        label=i18n(f"model_{side.value}"),
                        elem_id=self.eid(f"arena-chat-{side.value}"),
                        height=440,
                        placeholder=i18n("pane_placeholder"),
                    )
                    self.retries[side] = gr.Button(
                        i18n(f"retry_{side.value}"),
                        visible=False,
                        size="sm",
                        variant="stop",
                        elem_id=self.eid(f"arena-retry-{side.value}"),
                    )
        self.end = gr.Button(
            i18n("end_battle"), visible=False, size="sm", elem_id=self.eid("arena-end")
        )
        # The vote row right under the panes (the eye's next stop once both answered),
        # then the reveal: the prompt box comes after them.
        with gr.Row(elem_classes="ta-votes"):
            self.votes = {
                winner: gr.Button(
                    i18n(key), interactive=False, elem_id=self.eid(eid), min_width=110,
                    elem_classes=f"ta-vote ta-{eid}",
                )
                for eid, key, winner in VOTES
            }  # fmt: skip
        self.reveal = gr.Markdown("", elem_id=self.eid("arena-reveal"), latex_delimiters=[])
        with gr.Row(visible=False, elem_id=self.eid("arena-share-row")) as self.share_row:
            self.share_prompt = gr.Checkbox(
                False, label=i18n("share_with_prompt"), elem_id=self.eid("arena-share-prompt")
            )
            self.share = gr.Button(i18n("share_button"), elem_id=self.eid("arena-share"))
        self.share_data = gr.Textbox(visible=False, elem_id=self.eid("arena-share-data"))
        self._reasons(i18n)
        self._controls(i18n)
        self._wire(voter, lang, switch)

    def _reasons(self, i18n: gr.I18n) -> None:
        """The optional reasons step of a blind vote (its tags get their words in view)."""
        self.reasons_box: gr.Column | None = None
        self.reason_picks: dict[Side, gr.CheckboxGroup] = {}
        if self.mode is not BattleMode.ANONY:
            return
        with gr.Column(visible=False, elem_id="vote-reasons", elem_classes="ta-reasons") as box:
            gr.Markdown(i18n("reasons_intro"))
            with gr.Row():
                for side in SIDES:
                    self.reason_picks[side] = gr.CheckboxGroup(
                        choices=[], label=i18n(f"reasons_{side.value}"),
                        elem_id=f"vote-reasons-{side.value}",
                    )  # fmt: skip
            self.comment = gr.Textbox(
                label=i18n("reasons_comment"), lines=2, max_lines=6, max_length=MAX_COMMENT,
                elem_id="vote-reasons-comment",
            )  # fmt: skip
            with gr.Row():
                self.reasons_send = gr.Button(
                    i18n("reasons_send"), variant="primary", elem_id="vote-reasons-send"
                )
                self.reasons_skip = gr.Button(i18n("reasons_skip"), elem_id="vote-reasons-skip")
        self.reasons_box = box

    def _controls(self, i18n: gr.I18n) -> None:
        # Markdown, not gr.HTML: one component type (and its modules) less to load.
        self.status = gr.Markdown(status_html(""), elem_id=self.eid("arena-status"))
        with gr.Row(equal_height=True):
            self.prompt = gr.Textbox(
                label=i18n("prompt_label"),
                placeholder=i18n("prompt_placeholder"),
                lines=1,
                max_lines=10,
                interactive=False,  # enabled by the page's load event, once a voter exists
                max_length=self.arena.settings.max_prompt_chars,
                scale=8,
                min_width=220,
                elem_id=self.eid("arena-prompt"),
            )
            self.send = gr.Button(
                i18n("send"), variant="primary", scale=1, min_width=80, interactive=False,
                elem_id=self.eid("arena-send"),
            )  # fmt: skip
        with gr.Row():
            self.regenerate = gr.Button(
                i18n("regenerate"), interactive=False, elem_id=self.eid("arena-regenerate")
            )
            self.new_round = gr.Button(
                i18n("new_round"), interactive=False, elem_id=self.eid("arena-new-round")
            )
        # Example prompts as plain buttons filled in the browser (no server round trip,
        # and no gr.Examples dataset: fewer component modules for the page to load).
        with gr.Column(elem_id=self.eid("arena-examples"), elem_classes="ta-examples"):
            gr.Markdown(i18n("examples"))
            with gr.Row():
                for k, text in enumerate(EXAMPLE_PROMPTS, 1):
                    gr.Button(
                        text, size="sm", elem_id=self.eid(f"arena-example-{k}"), min_width=160
                    ).click(None, None, self.prompt, js=suggest_js("seed", (text,)))
            gr.Markdown(i18n("categories"))
            with gr.Row(elem_classes="ta-categories"):
                for code, examples in PROMPT_CATEGORIES.items():
                    gr.Button(
                        i18n(f"cat_{code}"), size="sm", min_width=120,
                        elem_id=self.eid(f"arena-category-{code}"),
                    ).click(None, None, self.prompt, js=suggest_js(code, examples))  # fmt: skip

    def outputs(self) -> list[gr.components.Component]:
        return [
            self.page,
            self.battle_box,
            self.prompt,
            self.send,
            self.status,
            self.reveal,
            self.regenerate,
            self.new_round,
            *self.pickers,
            *self.chats.values(),
            self.turns,
            self.end,
            self.share_row,
            self.share_data,
            self.share_prompt,
            *self.retries.values(),
            *self.votes.values(),
            *([self.reasons_box, *self.reason_picks.values(), self.comment]
              if self.reasons_box is not None else []),
        ]  # fmt: skip

    def _wire(self, voter: gr.BrowserState, lang: gr.State, switch: gr.Radio) -> None:
        stream = {
            "outputs": self.outputs(),
            "concurrency_limit": self.arena.settings.stream_concurrency,
            "concurrency_id": "battle-stream",
            "show_progress": "hidden",
        }
        p = self.prefix
        if self.mode is BattleMode.ANONY:  # streamed by the page from the battle API
            for trigger in (self.send.click, self.prompt.submit):
                trigger(
                    None,
                    [self.prompt, voter, switch, self.battle_box],
                    [self.prompt],
                    js=start_js(),
                    queue=False,
                    api_visibility="private",
                ).then(
                    self.on_streamed,
                    [self.outcome, voter, lang, self.page],
                    self.outputs(),
                    js=AWAIT_JS,
                    api_name=f"{p}_streamed",
                    show_progress="hidden",
                    queue=False,  # one plain POST: 200 at once cost 15 s through the queue
                ).then(None, None, None, js=CLEAR_JS, queue=False, api_visibility="private")
        else:
            inputs = [self.page, self.prompt, voter, lang, *self.pickers]
            self.send.click(self.on_send, inputs, api_name=f"{p}_send", **stream)
            self.prompt.submit(self.on_send, inputs, api_visibility="private", **stream)
        state = [self.page, voter, lang]
        self.regenerate.click(
            functools.partial(self.on_regenerate, sides=SIDES),
            state, api_name=f"{p}_regenerate", **stream,
        )  # fmt: skip
        for side, button in self.retries.items():
            button.click(
                functools.partial(self.on_regenerate, sides=(side,)),
                state, api_name=f"{p}_retry_{side.value}", **stream,
            )  # fmt: skip
        # After the vote the reasons step's first choice, after the reveal "next battle"
        # takes the focus (Enter or N goes on).
        ids = [self.eid("arena-new-round")]
        if self.reasons_box is not None:
            ids.insert(0, "vote-reasons-send")
        focus_next = (
            "() => { const until = Date.now() + 2000; const go = () => { for (const id of "
            f"{json.dumps(ids)}) {{ const b = document.getElementById(id); "
            "if (b && !b.disabled && b.offsetParent !== null) { b.focus(); return; } } "
            "if (Date.now() < until) setTimeout(go, 50); }; go(); return []; }"
        )
        then_focus = {"js": focus_next, "queue": False, "api_visibility": "private"}
        for winner, button in self.votes.items():
            button.click(
                functools.partial(self.on_vote, winner=winner),
                state, self.outputs(), api_name=f"{p}_vote_{winner.name.lower()}",
                show_progress="hidden",
            ).then(None, **then_focus)  # fmt: skip
        if self.reasons_box is not None:
            picks = [*self.reason_picks.values(), self.comment]
            # After the reveal: a thumbs up and down on each answer (arena.ui.live).
            reacting = {"js": REACTIONS_JS, "queue": False, "api_visibility": "private"}
            self.reasons_send.click(
                self.on_reasons, [self.page, voter, lang, *picks], self.outputs(),
                api_name=f"{p}_reasons", show_progress="hidden",
            ).then(None, **then_focus).then(
                None, [voter, switch, self.battle_box], None, **reacting
            )  # fmt: skip
            self.reasons_skip.click(
                self.on_skip_reasons, [self.page, lang], self.outputs(),
                api_name=f"{p}_skip_reasons", show_progress="hidden",
            ).then(None, **then_focus).then(
                None, [voter, switch, self.battle_box], None, **reacting
            )  # fmt: skip
        # Leaving a battle (next battle, or ending a failed one): its reactions and share
        # image go with it.
        leave = "() => { (" + UNREACT_JS + ")(); (" + UNSHARE_JS + ")(); return []; }"
        for button, name in ((self.new_round, "new_round"), (self.end, "end_battle")):
            button.click(
                self.on_new_round, [lang], self.outputs(), api_name=f"{p}_{name}",
                show_progress="hidden",
            ).then(None, js=leave, queue=False, api_visibility="private")  # fmt: skip
        self.share.click(
            None, [self.share_data, self.share_prompt], None,
            js=share_js(self.eid("arena-share-row")), queue=False,
            api_visibility="private",
        )  # fmt: skip

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
        self, outcome: str, token: str, lang: str, page: Page, request: gr.Request = None
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
        self, page: Page, token: str, lang: str, request: gr.Request = None, *,
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
        self, page: Page, token: str, lang: str, request: gr.Request = None, *, winner: Winner
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
