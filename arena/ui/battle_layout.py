"""The battle tab's components: panes, vote row, reveal, reasons step and prompt box.

:class:`BattleLayout` is the part of :class:`~arena.ui.battle_tab.BattleTab` that lays the
tab out, once per page build, for both modes (the named mode adds its model pickers, the
blind mode its reasons step). Apart from the handlers because it runs once, while they
run on every event; each component carries an ``elem_id`` the browser tests find it by.
"""

from __future__ import annotations

import gradio as gr

from arena.battles import SIDES, Arena
from arena.db.models import BattleMode, Side
from arena.feedback import MAX_COMMENT
from arena.ui.battle_view import VOTES, Page, chat_pane, status_html
from arena.ui.i18n import EXAMPLE_PROMPTS, PROMPT_CATEGORIES
from arena.ui.live import suggest_js


class BattleLayout:
    """The tab's components (the base of :class:`~arena.ui.battle_tab.BattleTab`)."""

    arena: Arena
    mode: BattleMode
    prefix: str  # elem_id prefix: "arena" for the blind tab, "named" for named

    def eid(self, name: str) -> str:
        """The elem_id of a component; the blind tab keeps the stable public ids."""
        return name if self.prefix == "arena" else f"{self.prefix}-{name}"

    # -- layout ---------------------------------------------------------------------

    def _layout(self, i18n: gr.I18n) -> None:
        """Lay out the tab's components (in the order the page shows them)."""
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
