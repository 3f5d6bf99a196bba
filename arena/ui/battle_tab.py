"""The battle tab: one builder for the blind arena and the named side-by-side mode.

:class:`BattleTab` builds one tab (``mode`` anony or named) and wires its events; its
components come from :class:`~arena.ui.battle_layout.BattleLayout`, its handlers and the
view they return from :class:`~arena.ui.battle_handlers.BattleHandlers` (the pure view
functions live in :mod:`arena.ui.battle_view`). The names of a blind battle's models
reach the page only in the reveal, after the vote; in named mode the model pickers are
filled when the tab is selected.
"""

from __future__ import annotations

import functools
import json

import gradio as gr

from arena.battles import SIDES, Arena
from arena.db.models import BattleMode
from arena.ui.battle_handlers import BattleHandlers
from arena.ui.battle_view import (  # the page and other tabs import these from here too
    Page,
    chat_messages,
    chat_pane,
    client_ip,
    reveal_markdown,
    status_html,
    voter_of,
)
from arena.ui.live import AWAIT_JS, CLEAR_JS, REACTIONS_JS, UNREACT_JS, start_js
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


class BattleTab(BattleHandlers):
    """Builds and wires one battle tab (``mode`` anony or named)."""

    def __init__(self, arena: Arena, mode: BattleMode, prefix: str) -> None:
        self.arena = arena
        self.mode = mode
        self.prefix = prefix  # elem_id prefix: "arena" for the blind tab, "named" for named
        self.max_turns = arena.settings.max_turns
        self.specs = {m.name: m for m in arena.settings.models}

    def build(
        self, voter: gr.BrowserState, lang: gr.State, i18n: gr.I18n, switch: gr.Radio
    ) -> None:
        """Lay out the tab and connect its events (``switch``: the page's language)."""
        self._layout(i18n)
        self._wire(voter, lang, switch)

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
