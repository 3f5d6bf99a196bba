"""The Gradio page: tabs built from small builders, in Japanese and English."""

from __future__ import annotations

import secrets

import gradio as gr

from arena.battles import Arena
from arena.db.models import BattleMode
from arena.ui.battle_tab import BattleTab
from arena.ui.i18n import TEXT, gr_i18n, t

DETECT_LANGUAGE = """(token, lang) => {
  const saved = window.localStorage.getItem("tanuki-arena-lang");
  const nav = (navigator.language || "ja").toLowerCase();
  return [token, saved || (nav.startsWith("ja") ? "ja" : nav.startsWith("en") ? "en" : "ja")];
}"""

CSS = """
#arena-reveal { font-size: 1.1em; }
@media (max-width: 640px) { .gradio-container { padding: 4px !important; } }
"""


def on_load(token: str, lang: str) -> tuple[str, str]:
    """Give a new browser its pseudonymous voter token; settle the page language."""
    if not isinstance(token, str) or len(token) != 32:
        token = secrets.token_hex(16)
    return token, lang if lang in ("ja", "en") else "ja"


def build_ui(arena: Arena) -> tuple[gr.Blocks, gr.I18n]:
    """The whole page, and the translations to pass to ``mount_gradio_app``."""
    settings = arena.settings
    i18n = gr_i18n()
    limits = {
        lang: t("limits", lang, turns=settings.max_turns, chars=settings.max_prompt_chars)
        for lang in ("ja", "en")
    }
    with gr.Blocks(title="Tanuki Arena") as blocks:
        voter = gr.BrowserState("", storage_key="tanuki-arena-voter", secret=settings.secret)
        lang = gr.State(settings.default_language)
        gr.Markdown(f"# {TEXT['title']['ja']}", elem_id="arena-title")
        if settings.is_demo:
            gr.Markdown(i18n("demo_banner"), elem_id="demo-banner")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab(i18n("tab_arena"), id="arena", elem_id="tab-arena"):
                gr.Markdown(i18n("intro"))
                gr.Markdown(i18n("rules"), elem_id="arena-rules")
                gr.Markdown(f"{limits['ja']} / {limits['en']}", elem_id="arena-limits")
                BattleTab(arena, BattleMode.ANONY, "arena", settings.max_prompt_chars).build(
                    voter, lang, i18n
                )
        blocks.load(
            on_load, [voter, lang], [voter, lang], js=DETECT_LANGUAGE, api_visibility="private"
        )
    return blocks, i18n
