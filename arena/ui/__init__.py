"""The Gradio page: tabs built from small builders, in Japanese and English.

Blindness rule: the page's initial configuration holds no model name. Everything that
names models (the leaderboard, the model pickers, the About text with the anchor) is
filled by the select event of its tab, so a volunteer who only plays blind battles
never receives a name before voting.
"""

from __future__ import annotations

import secrets

import gradio as gr

from arena.battles import Arena
from arena.db import repo
from arena.db.models import BattleMode
from arena.ui.assets import CSS, SWITCH_LANGUAGE_JS, detect_language_js
from arena.ui.battle_tab import BattleTab
from arena.ui.battle_tab import Page as TabPage
from arena.ui.chat_tab import ChatTab
from arena.ui.i18n import gr_i18n, lang_of, t
from arena.ui.leaderboard import LeaderboardTab

__all__ = ["CSS", "build_ui"]


def model_choices(arena: Arena) -> list[str]:
    """Models a volunteer may pick: configured, with a backend, not disabled by an admin."""
    with arena.sessions() as session:
        enabled = repo.enabled_models(session)
    return [name for name in arena.specs if name in enabled and name in arena.backends]


class ArenaPage:
    """The whole page: header, language switch and five tabs."""

    def __init__(self, arena: Arena) -> None:
        self.arena = arena
        self.settings = arena.settings
        self.blind = BattleTab(arena, BattleMode.ANONY, "arena")
        self.named = BattleTab(arena, BattleMode.NAMED, "named")
        self.chat = ChatTab(arena)
        self.board = LeaderboardTab(arena.sessions)

    def build(self) -> tuple[gr.Blocks, gr.I18n]:
        """Lay out the page and connect its page-level events."""
        s = self.settings
        i18n = gr_i18n(turns=s.max_turns, chars=s.max_prompt_chars)
        with gr.Blocks(title="Tanuki Arena") as blocks:
            self.voter = gr.BrowserState("", storage_key="tanuki-arena-voter", secret=s.secret)
            self.lang = gr.State(s.default_language)
            self.seen = gr.State({"leaderboard": False, "about": False})
            with gr.Row(elem_classes="ta-header", equal_height=True):
                gr.Markdown(i18n("title"), elem_id="arena-title", scale=3, min_width=320)
                with gr.Column(scale=1, min_width=220):
                    self.switch = gr.Radio(
                        [("日本語", "ja"), ("English", "en")],
                        value=s.default_language,
                        label=i18n("lang_label"),
                        elem_id="lang-switch",
                    )
            gr.Markdown(i18n("subtitle"), elem_id="arena-subtitle")
            if s.is_demo:
                gr.Markdown(i18n("demo_banner"), elem_id="demo-banner")
            with gr.Tabs(elem_id="tabs"):
                self._tabs(i18n)
            self._wire_page(blocks)
        return blocks, i18n

    def _tabs(self, i18n: gr.I18n) -> None:
        voter, lang = self.voter, self.lang
        with gr.Tab(i18n("tab_arena"), id="arena", elem_id="tab-arena") as tab:
            self.tabs = {"tab_arena": tab}
            gr.Markdown(i18n("rules"), elem_id="arena-rules")
            gr.Markdown(i18n("limits"), elem_id="arena-limits")
            self.blind.build(voter, lang, i18n)
        with gr.Tab(i18n("tab_leaderboard"), id="leaderboard", elem_id="tab-leaderboard") as tab:
            self.board.build(i18n)
            self.board_tab = self.tabs["tab_leaderboard"] = tab
        with gr.Tab(i18n("tab_named"), id="named", elem_id="tab-named") as tab:
            gr.Markdown(i18n("rules"), elem_id="named-rules")
            self.named.build(voter, lang, i18n)
            self.named_tab = self.tabs["tab_named"] = tab
        with gr.Tab(i18n("tab_chat"), id="chat", elem_id="tab-chat") as tab:
            gr.Markdown(i18n("rules"), elem_id="chat-rules")
            self.chat.build(voter, lang, i18n)
            self.chat_tab = self.tabs["tab_chat"] = tab
        with gr.Tab(i18n("tab_about"), id="about", elem_id="tab-about") as tab:
            self.about = gr.Markdown("", elem_id="about-text")
            self.about_tab = self.tabs["tab_about"] = tab

    def _wire_page(self, blocks: gr.Blocks) -> None:
        private = {"api_visibility": "private", "show_progress": "hidden"}
        board_out = [*self.board.outputs, self.seen]
        for trigger in (self.board_tab.select, self.board.refresh.click):
            trigger(self.on_leaderboard, [self.lang, self.seen], board_out, **private)
        self.named_tab.select(self.on_named_pickers, None, self.named.pickers, **private)
        self.chat_tab.select(self.on_chat_picker, None, self.chat.picker, **private)
        self.about_tab.select(
            self.on_about, [self.lang, self.seen], [self.about, self.seen], **private
        )
        pages = [self.blind.page, self.named.page, self.chat.page]
        redraw = [
            self.lang,
            self.switch,
            *self.tabs.values(),
            *self.blind.outputs(),
            *self.named.outputs(),
            *self.chat.outputs,
        ]
        self.switch.input(
            self.on_language,
            [self.switch, self.seen, *pages],
            [*redraw, self.about, *self.board.outputs],
            js=SWITCH_LANGUAGE_JS,
            **private,
        )
        blocks.load(  # unqueued: one plain POST, so the prompt is ready sooner
            self.on_load,
            [self.voter, self.lang, self.switch],
            [self.voter, *redraw],
            js=detect_language_js(self.settings.default_language),
            queue=False,
            **private,
        )

    # -- handlers -------------------------------------------------------------------

    def _views(self, lang: str, *pages: object) -> dict:
        blind, named, chat = pages
        return {
            self.lang: lang,
            self.switch: lang,
            # Gradio redraws only the selected tab's title on a locale change: set them all.
            **{tab: gr.update(label=t(key, lang)) for key, tab in self.tabs.items()},
            **self.blind.view(blind, lang),
            **self.named.view(named, lang),
            **self.chat.view(chat, lang),
        }

    def on_load(self, token: str, _state: str, choice: str) -> dict:
        """Give a new browser its pseudonymous voter token; draw the tabs in its language.

        The language comes from the switch's value as the page's JS set it (a state's
        value is kept on the server, so JS cannot set the ``lang`` state directly).
        """
        if not isinstance(token, str) or len(token) != 32:
            token = secrets.token_hex(16)
        fresh = (TabPage(), TabPage(), TabPage())
        return {self.voter: token, **self._views(lang_of(choice), *fresh)}

    def on_language(self, choice: str, seen: dict, *pages: object) -> dict:
        """Redraw every text made at run time in the newly chosen language."""
        lang = lang_of(choice)
        out = self._views(lang, *pages)
        if seen.get("about"):
            out[self.about] = self.about_text(lang)
        if seen.get("leaderboard"):
            out.update(self.board.load(lang))
        return out

    def on_leaderboard(self, lang: str, seen: dict) -> dict:
        """Fill the leaderboard (its tab was selected or reloaded)."""
        return {**self.board.load(lang_of(lang)), self.seen: {**seen, "leaderboard": True}}

    def on_named_pickers(self) -> list[dict]:
        """Fill the named mode's pickers when its tab is selected (never at page load)."""
        choices = model_choices(self.arena)
        return [gr.update(choices=choices) for _ in self.named.pickers]

    def on_chat_picker(self) -> dict:
        """Fill the direct chat's picker when its tab is selected (never at page load)."""
        return gr.update(choices=model_choices(self.arena))

    def about_text(self, lang: str) -> str:
        """The About text, naming the anchor model."""
        return t("about", lang, anchor=self.settings.rating_anchor)

    def on_about(self, lang: str, seen: dict) -> tuple[str, dict]:
        """Fill the About tab when it is selected."""
        return self.about_text(lang_of(lang)), {**seen, "about": True}


def build_ui(arena: Arena) -> tuple[gr.Blocks, gr.I18n]:
    """The whole page, and the translations to pass to ``mount_gradio_app``."""
    return ArenaPage(arena).build()
