"""The direct chat tab: talk to one chosen model, like the seed report's Tanuki-8B demo.

Conversations are stored as ``direct`` battles (one model, no vote), so they never
enter the ratings. The model picker is filled when the tab is selected, never in the
page's initial configuration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import gradio as gr

from arena.battles import Arena
from arena.db.models import BattleMode, Side
from arena.errors import ArenaError
from arena.ui.battle_tab import Page, chat_messages, chat_pane, status_html, voter_of
from arena.ui.i18n import error_text, lang_of, t, warn


class ChatTab:
    """Builds and wires the direct chat tab."""

    def __init__(self, arena: Arena) -> None:
        self.arena = arena
        self.max_turns = arena.settings.max_turns

    def build(self, voter: gr.BrowserState, lang: gr.State, i18n: gr.I18n) -> None:
        """Lay out the tab and connect its events."""
        self.page = gr.State(Page())
        gr.Markdown(i18n("chat_intro"))
        self.picker = gr.Dropdown(choices=[], label=i18n("pick_model"), elem_id="chat-model")
        self.chat = chat_pane(
            label=i18n("chat_pane"),
            elem_id="chat-pane",
            height=460,
            placeholder=i18n("pane_placeholder"),
        )
        self.status = gr.Markdown(status_html(""), elem_id="chat-status")
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
                elem_id="chat-prompt",
            )
            self.send = gr.Button(
                i18n("send"),
                variant="primary",
                scale=1,
                min_width=80,
                interactive=False,
                elem_id="chat-send",
            )
        self.new_chat = gr.Button(i18n("new_chat"), interactive=False, elem_id="chat-new")
        self.outputs = [self.page, self.prompt, self.send, self.status, self.new_chat]
        self.outputs += [self.picker, self.chat]
        stream = {
            "outputs": self.outputs,
            "concurrency_limit": self.arena.settings.stream_concurrency,
            "concurrency_id": "battle-stream",
            "show_progress": "hidden",
        }
        inputs = [self.page, self.prompt, voter, lang, self.picker]
        self.send.click(self.on_send, inputs, api_name="chat_send", **stream)
        self.prompt.submit(self.on_send, inputs, api_visibility="private", **stream)
        self.new_chat.click(
            self.on_new, [lang], self.outputs, api_name="chat_new", show_progress="hidden"
        )

    def view(self, page: Page, lang: str, *, busy: bool = False) -> dict:
        """Every output of the tab for the page's situation."""
        started = bool(page.turns)
        failed = bool(page.failed_sides)
        can_send = not busy and len(page.turns) < self.max_turns
        if busy:
            key = "status_streaming"
        elif failed:
            key = "err_backend"
        elif len(page.turns) >= self.max_turns:
            key = "status_turn_limit"
        else:
            key = "status_idle" if not started else ""
        label = t("chat_pane", lang) + (f": {page.names[Side.A]}" if page.names else "")
        return {
            self.page: page,
            self.prompt: gr.update(interactive=can_send),
            self.send: gr.update(interactive=can_send),
            self.status: status_html(t(key, lang) if key else ""),
            self.new_chat: gr.update(interactive=not busy and started),
            self.picker: gr.update(interactive=not busy and not started),
            self.chat: gr.update(value=chat_messages(page, Side.A, lang), label=label),
        }

    async def on_send(
        self, page: Page, prompt: str, token: str, lang: str, model: str | None,
        request: gr.Request | None = None,
    ) -> AsyncIterator[dict]:  # fmt: skip
        """Send a prompt to the chosen model and stream its answer."""
        page, lang = page if isinstance(page, Page) else Page(), lang_of(lang)
        if page.turns and page.failed_sides:
            page = Page(names=page.names)  # a failed chat cannot go on: start afresh
        if not page.battle_id and not model:
            warn(t("choose_model_first", lang), lang)
            yield self.view(page, lang)
            return
        states = self.arena.send(
            voter_of(token, request),
            prompt,
            page.battle_id,
            mode=BattleMode.DIRECT,
            language=lang,
            models=(model,) if model else None,
        )
        try:
            first = await anext(states)
        except ArenaError as exc:
            warn(error_text(exc, lang), lang)
            yield {**self.view(page, lang), self.prompt: gr.update(value=prompt)}
            return
        page.turns.append(
            {"prompt": prompt.strip(), "a": "", "b": "", "err_a": None, "err_b": None}
        )
        async for state in _chain(first, states):
            page.battle_id, page.names = state.battle_id, state.names
            page.turns[-1]["a"] = state.sides[Side.A].text
            page.turns[-1]["err_a"] = state.sides[Side.A].error
            yield {**self.view(page, lang, busy=True), self.prompt: ""}
        yield self.view(page, lang)

    def on_new(self, lang: str) -> dict:
        """Start a new conversation (the model may be changed again)."""
        return {**self.view(Page(), lang_of(lang)), self.prompt: ""}


async def _chain(first: object, rest: AsyncIterator) -> AsyncIterator:
    yield first
    async for item in rest:
        yield item
