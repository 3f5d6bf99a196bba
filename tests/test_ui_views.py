"""The page without a browser: translations, the reveal, button states, blind config.

The page is built on a real :class:`arena.battles.Arena` (demo models, temporary
SQLite) so the configuration Gradio would send can be searched for model names.
"""

from __future__ import annotations

import json
import re

import gradio as gr
import pytest

from arena.backends import Timeouts, build_backends, make_client
from arena.battles import Arena, Reveal
from arena.config import load_settings
from arena.db import make_engine, migrate, session_factory
from arena.db.models import BattleMode, Side, Winner
from arena.errors import BattleRejected
from arena.ui import ArenaPage
from arena.ui.battle_tab import Page, reveal_markdown
from arena.ui.i18n import LANGS, TEXT, error_text, gr_i18n, t


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Arena:
    tmp = tmp_path_factory.mktemp("ui-views")
    (tmp / "arena.toml").write_text("", encoding="utf-8")
    settings = load_settings(tmp / "arena.toml", env={"DATABASE_URL": f"sqlite:///{tmp / 'ui.db'}"})
    engine = make_engine(settings.database_url)
    migrate(engine)
    client = make_client(Timeouts(connect=5, first_token=5))
    return Arena(settings, session_factory(engine), build_backends(settings.models, client))


@pytest.fixture(scope="module")
def page_ui(arena: Arena) -> tuple[ArenaPage, gr.Blocks]:
    ui = ArenaPage(arena)
    blocks, _ = ui.build()
    return ui, blocks


def test_every_text_has_both_languages() -> None:
    for key, entry in TEXT.items():
        assert set(entry) == set(LANGS), key
        assert all(v.strip() for v in entry.values()), key
        fields = [set(re.findall(r"{(\w+)}", entry[lang])) for lang in LANGS]
        assert fields[0] == fields[1], f"{key}: placeholders differ between languages"


def test_every_text_is_in_one_part_of_the_table() -> None:
    """TEXT merges the areas' tables: a key in two of them would hide one text."""
    from arena.ui.i18n_battle import BATTLE_TEXT
    from arena.ui.i18n_board import BOARD_TEXT
    from arena.ui.i18n_pages import PAGES_TEXT

    parts = (BATTLE_TEXT, BOARD_TEXT, PAGES_TEXT)
    assert sum(len(part) for part in parts) == len(TEXT)
    assert all(TEXT[key] is entry for part in parts for key, entry in part.items())


def test_limits_are_baked_into_the_static_labels() -> None:
    i18n = gr_i18n(turns=5, chars=4000)
    assert i18n.translations["ja"]["limits"].startswith("1対戦あたり最大 5 ターン")
    assert "4000 characters" in i18n.translations["en"]["limits"]
    assert "{reason}" in i18n.translations["en"]["side_error"]  # left for run time


def test_error_text_uses_the_code_and_params() -> None:
    exc = BattleRejected("too long", code="prompt_too_long", length=5000, limit=4000)
    assert error_text(exc, "ja") == "入力が長すぎます（5000 文字、上限 4000 文字）。"
    assert "5000 characters" in error_text(exc, "en")
    assert "boom" in error_text(RuntimeError("boom"), "en")


def test_reveal_is_one_line_per_side() -> None:
    reveal = Reveal(
        winner=Winner.TIE,
        names={Side.A: "Tanuki-8B-dpo-v1.0", Side.B: "<GPT>"},
        weights={Side.A: "open", Side.B: "closed"},
        descriptions={Side.A: "8B model", Side.B: ""},
        counted=False,
    )
    ja = reveal_markdown(reveal, "ja")
    lines = ja.split("\n\n")
    assert lines[1].startswith("モデルA：**Tanuki-8B-dpo-v1.0**（重み：オープン）")
    assert lines[2].startswith("モデルB：**&lt;GPT&gt;**（重み：非公開）")
    assert "名乗った" in lines[3] and "引き分け" in lines[0]
    en = reveal_markdown(reveal, "en", BattleMode.NAMED)
    assert "Model A: **Tanuki-8B-dpo-v1.0**" in en and "left out of the ratings" in en


def test_initial_config_names_no_model(page_ui: tuple[ArenaPage, gr.Blocks], arena) -> None:
    _, blocks = page_ui
    config = json.dumps(blocks.get_config_file(), default=str)
    assert "tab-leaderboard" in config and "arena-prompt" in config
    for spec in arena.settings.models:
        assert spec.name not in config and spec.description not in config
    assert arena.settings.rating_anchor not in config


def _interactive(out: dict, component) -> bool:
    return out[component]["interactive"]


def test_buttons_follow_the_battle(page_ui: tuple[ArenaPage, gr.Blocks]) -> None:
    tab = page_ui[0].blind
    page = Page()
    idle = tab.view(page, "ja")
    assert _interactive(idle, tab.send) and not _interactive(idle, tab.votes[Winner.MODEL_A])
    assert not _interactive(idle, tab.new_round) and not _interactive(idle, tab.regenerate)
    page.turns.append({"prompt": "q", "a": "x", "b": "", "err_a": None, "err_b": None})
    busy = tab.view(page, "ja", busy=True)
    assert not any(_interactive(busy, b) for b in (tab.send, tab.prompt, tab.new_round))
    assert t("status_streaming", "ja") in busy[tab.status]
    assert 'role="status"' in busy[tab.status]
    ready = tab.view(page, "en")
    assert _interactive(ready, tab.votes[Winner.BOTHBAD]) and _interactive(ready, tab.regenerate)
    page.turns[-1]["err_b"] = "http_500: boom"
    failed = tab.view(page, "ja")
    assert failed[tab.retries[Side.B]]["visible"] and not failed[tab.retries[Side.A]]["visible"]
    assert not _interactive(failed, tab.votes[Winner.MODEL_A])
    assert not _interactive(failed, tab.send) and _interactive(failed, tab.regenerate)
    said = failed[tab.chats[Side.B]][-1]["content"]  # plain words and a way forward
    assert "http_500" not in said and "つながりません" in said and "この対戦を終えて次へ" in said
    assert failed[tab.end]["visible"] and "ta-warning" in failed[tab.status]
    assert "つながりません" in failed[tab.turns][-1]["content"]  # the phone's view too
    page.turns[-1]["err_b"] = None
    page.reveal = Reveal(Winner.MODEL_A, {Side.A: "x", Side.B: "y"}, {Side.A: "open",
                         Side.B: "open"}, {Side.A: "", Side.B: ""}, True)  # fmt: skip
    voted = tab.view(page, "ja")
    assert _interactive(voted, tab.new_round)
    assert not any(_interactive(voted, b) for b in (*tab.votes.values(), tab.send, tab.regenerate))
    assert voted[tab.reveal].startswith("**投票ありがとうございました！**")


async def test_language_switch_redraws_dynamic_texts(
    page_ui: tuple[ArenaPage, gr.Blocks],
) -> None:
    ui = page_ui[0]
    seen = {"leaderboard": True, "about": True}
    out = ui.on_language("en", seen, "", "", Page(), Page(), Page())
    assert out[ui.lang] == "en"
    assert "Type a prompt and send it." in out[ui.blind.status]
    assert out[ui.tabs["tab_about"]]["label"] == "About"
    assert "Tanuki-8B-dpo-v1.0 = 1000" in out[ui.about]
    assert "No ratings have been computed yet" in out[ui.board.info]
    load = await ui.on_load("", "ja", "ja")
    token = load[ui.voter]
    assert len(token) == 32 and "質問を入力して送信してください。" in load[ui.blind.status]
    assert (await ui.on_load(token, "ja", "en"))[ui.voter] == token  # issued here: kept
    forged = (await ui.on_load("a" * 32, "ja", "en"))[ui.voter]  # not issued: replaced
    assert forged != "a" * 32 and len(forged) == 32


def test_the_hot_drawing_event_leaves_the_steps_alone(page_ui: tuple[ArenaPage, gr.Blocks]) -> None:
    """Finding: the reasons box (and the share row) change only when a step opens or
    closes, so drawing a turn sends no props update for them."""
    tab = page_ui[0].blind
    page = Page(turns=[{"prompt": "q", "a": "x", "b": "y", "err_a": None, "err_b": None}])
    drawn = tab.view(page, "ja")
    assert not {tab.reasons_box, tab.share_row, tab.share_data} & set(drawn)
    assert isinstance(drawn[tab.chats[Side.A]], list) and isinstance(drawn[tab.turns], list)
    redrawn = tab.view(page, "en", labels=True)  # a new round, the language switch
    assert redrawn[tab.reasons_box]["visible"] is False
    assert redrawn[tab.share_row]["visible"] is False and redrawn[tab.share_data] == ""
    page.pending = Reveal(Winner.MODEL_A, {Side.A: "x", Side.B: "y"}, {Side.A: "open",
                          Side.B: "open"}, {Side.A: "", Side.B: ""}, True)  # fmt: skip
    asking = tab.view(page, "ja")
    assert asking[tab.reasons_box]["visible"] and not asking[tab.share_row]["visible"]


def test_turn_by_turn_view_pairs_a_and_b_and_stays_blind(
    page_ui: tuple[ArenaPage, gr.Blocks],
) -> None:
    tab = page_ui[0].blind
    page = Page(turns=[
        {"prompt": f"q{k}", "a": f"a{k}", "b": f"b{k}", "err_a": None, "err_b": None}
        for k in (1, 2)
    ])  # fmt: skip
    messages = tab.view(page, "ja")[tab.turns]
    order = [(m["role"], re.sub(r"<[^>]+>", "", m["content"])) for m in messages]
    expected = [("user", "q1"), ("assistant", "モデルAa1"), ("assistant", "モデルBb1"),
                ("user", "q2"), ("assistant", "モデルAa2"), ("assistant", "モデルBb2")]  # fmt: skip
    assert order == expected
    page.reveal = Reveal(Winner.MODEL_B, {Side.A: "X-1", Side.B: "<Y>"}, {Side.A: "open",
                         Side.B: "open"}, {Side.A: "", Side.B: ""}, True)  # fmt: skip
    named = tab.view(page, "en")[tab.turns]
    assert "Model B: &lt;Y&gt; ★ Your choice" in named[2]["content"]


def test_failures_read_as_plain_words_without_codes_or_exception_text() -> None:
    from arena.errors import StorageError
    from arena.ui.failures import failure_text, side_failure_text

    for code in ("timeout", "first_token_timeout", "truncated", "connection", "http_503",
                 "saturated", "weird_upstream_type", "refusal", "empty"):  # fmt: skip
        for lang in LANGS:
            text = side_failure_text(code, lang)
            assert f"({code})" not in text and t("end_battle", lang) in text, (code, lang)
            assert code == "empty" or code not in text, (code, lang)
    boom = RuntimeError("Traceback: KeyError 'x' at 0xdeadbeef")
    assert failure_text(boom, "ja") == t("fail_generic", "ja")
    assert "KeyError" not in failure_text(boom, "en")
    down = failure_text(
        StorageError("psycopg OperationalError", code="storage"), "ja", started=True
    )
    assert "データベース" in down and "psycopg" not in down and "この対戦を終えて次へ" in down
    empty = BattleRejected("empty", code="prompt_empty")
    assert failure_text(empty, "en", started=True) == "The prompt is empty."
