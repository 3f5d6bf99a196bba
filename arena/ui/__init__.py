"""The Gradio page: tabs built from small builders, in Japanese and English.

Blindness rule: the page's initial configuration holds no model name. Everything that
names models (the leaderboard, the model pickers, the About text with the anchor) is
filled by the select event of its tab, so a volunteer who only plays blind battles
never receives a name before voting.
"""

from __future__ import annotations

import asyncio

import gradio as gr
from sqlalchemy.exc import SQLAlchemyError

from arena.battles import Arena
from arena.db import repo
from arena.db.models import BattleMode
from arena.errors import ArenaError, StorageError
from arena.integrity import voters
from arena.integrity.voters import GateRefused
from arena.progress import Progress
from arena.ui.assets import CSS as BASE_CSS
from arena.ui.assets import SWITCH_LANGUAGE_JS, detect_language_js
from arena.ui.battle_tab import BattleTab, client_ip, status_html
from arena.ui.battle_tab import Page as TabPage
from arena.ui.chat_tab import ChatTab
from arena.ui.i18n import error_text, gr_i18n, lang_of, t, warn
from arena.ui.leaderboard import LeaderboardTab
from arena.ui.progress import (
    PROGRESS_CSS,
    banner_html,
    header_html,
    page_load_js,
    results_html,
)

__all__ = ["CSS", "build_ui"]

CSS = BASE_CSS + PROGRESS_CSS


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
        self.board = LeaderboardTab(arena.sessions, arena.settings)
        self.progress = Progress(arena.sessions, arena.settings.vote_goal)

    def build(self) -> tuple[gr.Blocks, gr.I18n]:
        """Lay out the page and connect its page-level events."""
        s = self.settings
        i18n = gr_i18n(turns=s.max_turns, chars=s.max_prompt_chars)
        with gr.Blocks(title="Tanuki Arena") as blocks:
            self.voter = gr.BrowserState("", storage_key="tanuki-arena-voter", secret=s.secret)
            self.lang = gr.State(s.default_language)
            self.seen = gr.State({"leaderboard": False, "about": False, "results": False})
            # The event of the page's link (its slug, "" for none), and the slug as the
            # page's load script read it from the address.
            self.event = gr.State("")
            self.event_slug = gr.Textbox(visible=False, elem_id="event-slug")
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
            # Closed evaluations: a new browser joins with an access code (hidden otherwise).
            with gr.Row(visible=False, elem_id="join-row", equal_height=True) as self.join_row:
                gr.Markdown(i18n("join_intro"))
                self.join_code = gr.Textbox(
                    label=i18n("access_code_label"), type="password", max_length=200,
                    elem_id="join-code", scale=2,
                )  # fmt: skip
                self.join = gr.Button(i18n("join"), variant="primary", elem_id="join-button")
            # The proof of work the page's load script solved, when that gate is on.
            self.proof = gr.Textbox(visible=False, elem_id="voter-proof")
            with gr.Tabs(elem_id="tabs"):
                self._tabs(i18n)
            self._wire_page(blocks)
        return blocks, i18n

    def _tabs(self, i18n: gr.I18n) -> None:
        voter, lang = self.voter, self.lang
        with gr.Tab(i18n("tab_arena"), id="arena", elem_id="tab-arena") as tab:
            self.tabs = {"tab_arena": tab}
            self._progress_header()
            gr.Markdown(i18n("rules"), elem_id="arena-rules")
            gr.Markdown(i18n("limits"), elem_id="arena-limits")
            self.blind.build(voter, lang, i18n, self.switch)
        with gr.Tab(i18n("tab_leaderboard"), id="leaderboard", elem_id="tab-leaderboard") as tab:
            self.board.build(i18n)
            self.board_tab = self.tabs["tab_leaderboard"] = tab
        with gr.Tab(i18n("tab_named"), id="named", elem_id="tab-named") as tab:
            gr.Markdown(i18n("rules"), elem_id="named-rules")
            self.named.build(voter, lang, i18n, self.switch)
            self.named_tab = self.tabs["tab_named"] = tab
        with gr.Tab(i18n("tab_chat"), id="chat", elem_id="tab-chat") as tab:
            gr.Markdown(i18n("rules"), elem_id="chat-rules")
            self.chat.build(voter, lang, i18n)
            self.chat_tab = self.tabs["tab_chat"] = tab
        with gr.Tab(i18n("tab_about"), id="about", elem_id="tab-about") as tab:
            self.about = gr.Markdown("", elem_id="about-text")
            self.about_tab = self.tabs["tab_about"] = tab

    def _progress_header(self) -> None:
        """An event's banner (with its results once ended), then the progress line."""
        self.banner = gr.HTML("", visible=False, elem_id="event-banner", js_on_load=None)
        with gr.Column(visible=False, elem_id="event-results-row") as self.results_row:
            self.results_show = gr.Button("", size="sm", elem_id="event-results-show")
            self.results = gr.HTML("", elem_id="event-results", js_on_load=None)
        self.header = gr.HTML("", elem_id="arena-progress", js_on_load=None)

    def _wire_page(self, blocks: gr.Blocks) -> None:
        private = {"api_visibility": "private", "show_progress": "hidden"}
        board_out = [*self.board.outputs, self.seen]
        view = self.board.controls  # the leaderboard's view switches (e.g. its category)
        for trigger in (self.board_tab.select, self.board.refresh.click, *(c.input for c in view)):
            trigger(self.on_leaderboard, [self.lang, self.seen, *view], board_out, **private)
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
        top = [self.banner, self.results_row, self.results_show, self.header]
        self.switch.input(
            self.on_language,
            [self.switch, self.seen, self.voter, self.event, *pages, *view],
            [*redraw, self.about, *self.board.outputs, *top, self.results],
            js=SWITCH_LANGUAGE_JS,
            **private,
        )
        base_js = detect_language_js(
            self.settings.default_language, pow_gate=self.settings.pow_gate
        )
        blocks.load(  # unqueued: one plain POST, so the prompt is ready sooner
            self.on_load,
            [self.voter, self.lang, self.switch, self.proof, self.event_slug],
            [self.voter, self.join_row, *redraw, self.event, *top],
            js=page_load_js(base_js, self.settings),
            queue=False,
            **private,
        )
        self.join.click(
            self.on_join,
            [self.join_code, self.proof, self.lang, *pages],
            [self.voter, self.join_row, self.join_code, *redraw],
            **private,
        )
        # After a blind vote (the reasons step ends it): the header counts the vote.
        for button in (self.blind.reasons_send, self.blind.reasons_skip):
            button.click(
                self.on_voted, [self.voter, self.lang, self.event], top, queue=False, **private
            )
        self.results_show.click(
            self.on_results, [self.lang, self.event, self.seen], [self.results, self.seen],
            **private,
        )  # fmt: skip

    # -- handlers -------------------------------------------------------------------

    def _views(self, lang: str, *pages: object, labels: bool = False) -> dict:
        blind, named, chat = pages
        return {
            self.lang: lang,
            self.switch: lang,
            # Gradio redraws only the selected tab's title on a locale change: set them all.
            **{tab: gr.update(label=t(key, lang)) for key, tab in self.tabs.items()},
            **self.blind.view(blind, lang, labels=labels),
            **self.named.view(named, lang, labels=labels),
            **self.chat.view(chat, lang),
        }

    def _known(self, token: object) -> bool:
        if not voters.looks_like_token(token):
            return False
        try:
            with self.arena.sessions() as session:
                voters.voter_id(session, token)
        except voters.UnknownVoter:
            return False
        return True

    def _without_voter(self, lang: str, exc: ArenaError, out: dict) -> dict:
        """No voter could be issued: every prompt stays locked and the page says why."""
        for tab in (self.blind, self.named, self.chat):
            out[tab.prompt] = gr.update(interactive=False)
            out[tab.send] = gr.update(interactive=False)
        out[self.blind.status] = status_html(error_text(exc, lang))
        out[self.voter] = ""
        needs_code = isinstance(exc, GateRefused) and exc.code.startswith("access_code")
        out[self.join_row] = gr.update(visible=needs_code)
        return out

    def _top(self, lang: str, token: object, slug: object) -> dict:
        """The progress header and the event's banner (nothing if the database fails)."""
        slug = slug if isinstance(slug, str) else ""
        try:
            figures = self.progress.figures(token, slug)
        except SQLAlchemyError:
            return {}
        ended = figures.event is not None and figures.event.state() == "ended"
        return {
            self.header: header_html(figures, lang),
            self.banner: gr.update(value=banner_html(figures, lang, slug), visible=bool(slug)),
            self.results_row: gr.update(visible=ended),
            self.results_show: gr.update(value=t("event_results", lang)),
        }

    async def on_voted(self, token: str, lang: str, slug: str) -> dict:
        """A blind vote was stored: count it and redraw the header and the banner."""
        self.progress.voted(slug)
        return await asyncio.to_thread(self._top, lang_of(lang), token, slug)

    def on_results(self, lang: str, slug: str, seen: dict) -> dict:
        """An ended event's results, on request (they name models)."""
        event = self.progress.event(slug)
        if event is None or event.state() != "ended":
            return {self.results: "", self.seen: seen}
        s = self.settings
        rows = self.progress.results(event, anchor=s.rating_anchor, method=s.rating_ci)
        votes = self.progress.event_votes(event)
        page = results_html(event, votes, rows, lang_of(lang))
        return {self.results: page, self.seen: {**seen, "results": True}}

    async def on_load(
        self, token: str, _state: str, choice: str, proof: str = "", slug: str = "",
        request: gr.Request | None = None,
    ) -> dict:  # fmt: skip
        """Draw the tabs in the browser's language and make sure it holds a voter.

        A token the server issued is kept; otherwise a new one is issued (limited per
        address, behind the gates when they are on). The language comes from the
        switch's value as the page's JS set it (a state's value is kept on the server,
        so JS cannot set the ``lang`` state directly).
        """
        lang = lang_of(choice)
        slug = slug[:80] if isinstance(slug, str) else ""
        out = {**self._views(lang, TabPage(), TabPage(), TabPage()), self.event: slug}
        try:
            if not await asyncio.to_thread(self._known, token):
                token = await self.arena.issue_voter(client_ip(request), pow_payload=proof)
        except (ArenaError, StorageError) as exc:
            out.update(await asyncio.to_thread(self._top, lang, "", slug))
            return self._without_voter(lang, exc, out)
        out.update(await asyncio.to_thread(self._top, lang, token, slug))
        return {**out, self.voter: token, self.join_row: gr.update(visible=False)}

    async def on_join(
        self, code: str, proof: str, lang: str, request: gr.Request, *pages: object
    ) -> dict:
        """Issue a voter to a browser that gives a valid access code."""
        lang = lang_of(lang)
        out = self._views(lang, *pages)
        try:
            token = await self.arena.issue_voter(
                client_ip(request), pow_payload=proof, access_code=code
            )
        except ArenaError as exc:
            warn(error_text(exc, lang), lang)
            return {**self._without_voter(lang, exc, out), self.join_code: ""}
        return {**out, self.voter: token, self.join_row: gr.update(visible=False),
                self.join_code: ""}  # fmt: skip

    def on_language(self, choice: str, seen: dict, token: str, slug: str, *rest: object) -> dict:
        """Redraw every text made at run time in the newly chosen language (``rest``: the
        three battle pages, then the leaderboard's view switches)."""
        pages, view = rest[:3], rest[3:]
        lang = lang_of(choice)
        out = {**self._views(lang, *pages, labels=True), **self._top(lang, token, slug)}
        if seen.get("results"):
            out[self.results] = self.on_results(lang, slug, seen)[self.results]
        if seen.get("about"):
            out[self.about] = self.about_text(lang)
        if seen.get("leaderboard"):
            out.update(self.board.load(lang, *view))
        return out

    def on_leaderboard(self, lang: str, seen: dict, *view: str) -> dict:
        """Fill the leaderboard (its tab was selected or reloaded, or its view changed)."""
        return {**self.board.load(lang_of(lang), *view), self.seen: {**seen, "leaderboard": True}}

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
