"""The vote in Chromium: the row under the panes, keys 1-4 and N, the reveal in the panes.

On the app's embedded defaults (demo models), in Japanese and English, on a desktop and
at 375 px: the vote row sits between the panes and the prompt; once both answers are in,
a key votes (the same as a click), each pane's header then names its model and marks the
volunteer's choice, and 「次の対戦へ」 is the primary button and holds the focus, so N
(or Enter) starts the next battle with blind headers again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import OPEN_LIMITS, RunningApp

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}
WORDS = {
    "ja": {"a": "モデルA", "b": "モデルB", "choice": "あなたの選択", "next": "次の対戦へ",
           "new": "新しい対戦"},
    "en": {"a": "Model A", "b": "Model B", "choice": "Your choice", "next": "Next battle",
           "new": "New round"},
}  # fmt: skip
KEYS = {"1": "a", "2": "b", "3": None, "4": None}


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = RunningApp(tmp_path_factory.mktemp("ui-voting"), env=OPEN_LIMITS)
    yield app
    app.stop()


def top(page, selector: str) -> float:
    return page.locator(selector).bounding_box()["y"]


def header(page, side: str) -> str:
    return page.inner_text(f"#arena-chat-{side} label[data-testid='block-label']").strip()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("key", list(KEYS))
def test_keys_vote_and_the_panes_reveal_the_names(
    browser: Browser, demo_app: RunningApp, lang: str, size: str, key: str, artifacts: Path
) -> None:
    context = browser.new_context(viewport=SIZES[size], locale="ja-JP" if lang == "ja" else "en")
    page = context.new_page()
    words = WORDS[lang]
    try:
        page.goto(f"{demo_app.url}/?lang={lang}", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        page.keyboard.press(key)  # nothing to vote on yet: nothing happens
        page.fill("#arena-prompt textarea", "鍵で投票します")
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        # the vote row: below the answers (both panes; on a phone, the turn-by-turn
        # view), above the prompt
        views = ["#arena-chat-a", "#arena-chat-b"] if size == "desktop" else ["#arena-turns"]
        answers_bottom = max(
            page.locator(v).bounding_box()["y"] + page.locator(v).bounding_box()["height"]
            for v in views
        )
        assert answers_bottom <= top(page, "#vote-a") < top(page, "#arena-prompt")
        assert (header(page, "a"), header(page, "b")) == (words["a"], words["b"])
        page.locator("#arena-prompt textarea").blur()
        page.keyboard.press(key)
        expect(page.locator("#vote-reasons-send")).to_be_focused(timeout=20_000)
        assert "Demo-" not in page.content()  # the names wait for the reasons step
        page.click("#vote-reasons-skip")
        expect(page.locator("#arena-reveal")).to_contain_text("Demo-", timeout=20_000)
        chosen = KEYS[key]
        for side in "ab":
            text = header(page, side)
            assert text.startswith(f"{words[side]}: Demo-")
            assert (words["choice"] in text) == (side == chosen)
        nxt = page.locator("#arena-new-round")
        expect(nxt).to_have_text(words["next"])
        expect(nxt).to_be_focused(timeout=5_000)
        assert "primary" in nxt.get_attribute("class")
        if key == "1":
            shot = artifacts / f"voting-reveal-{lang}-{size}.png"
            page.screenshot(path=str(shot), full_page=True)
        page.keyboard.press("n")
        expect(page.locator("#arena-reveal")).to_have_text("", timeout=20_000)
        expect(nxt).to_have_text(words["new"])
        assert (header(page, "a"), header(page, "b")) == (words["a"], words["b"])
        expect(page.locator("#arena-prompt textarea")).to_be_enabled()
    finally:
        context.close()


def test_typing_digits_in_the_prompt_never_votes(browser: Browser, demo_app: RunningApp) -> None:
    page = browser.new_page()
    try:
        page.goto(demo_app.url, wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        page.fill("#arena-prompt textarea", "数字を打つ前の質問")
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        events: list[str] = []  # the Gradio events the page sends from here on
        page.on("request", lambda r: events.append(r.url) if "/gradio_api/" in r.url else None)
        page.click("#arena-prompt textarea")
        page.keyboard.type("1234n")
        expect(page.locator("#arena-prompt textarea")).to_have_value("1234n")
        expect(page.locator("#vote-a")).to_be_enabled()
        # A key that voted clicked its button at once, before this click: a vote sent
        # after the typing would come second, and the battle would hold a vote for A.
        page.click("#vote-b")
        expect(page.locator("#vote-reasons")).to_be_visible(timeout=15_000)
        joins = [url for url in events if "/queue/join" in url or "/run/" in url]
        assert len(joins) == 1, joins
        battle = battle_of(demo_app, "数字を打つ前の質問")
        assert rows(demo_app, "SELECT winner FROM votes WHERE battle_id = ?", battle) == [
            ("model_b",)
        ]
    finally:
        page.close()


TAGS = {
    "ja": {"a": "自然な日本語", "b": "英語や中国語が混ざる", "skip": "スキップ"},
    "en": {"a": "Natural Japanese", "b": "English or Chinese mixed in", "skip": "Skip"},
}  # fmt: skip


def rows(app: RunningApp, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(app.db_path) as conn:
        return conn.execute(sql, args).fetchall()


def battle_of(app: RunningApp, prompt: str) -> str:
    """The battle whose prompt was ``prompt``."""
    sql = "SELECT battle_id FROM messages WHERE content = ? AND role = 'user' LIMIT 1"
    return rows(app, sql, prompt)[0][0]


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_reasons_are_asked_before_the_reveal_and_stored_with_the_vote(
    browser: Browser, demo_app: RunningApp, lang: str, size: str, artifacts: Path
) -> None:
    context = browser.new_context(viewport=SIZES[size], locale="ja-JP" if lang == "ja" else "en")
    page = context.new_page()
    tags = TAGS[lang]
    try:
        page.goto(f"{demo_app.url}/?lang={lang}", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        assert not page.locator("#vote-reasons").is_visible()
        prompt = f"理由を答える {lang} {size}"
        page.fill("#arena-prompt textarea", prompt)
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        page.click("#vote-b")
        expect(page.locator("#vote-reasons")).to_be_visible(timeout=15_000)
        assert "Demo-" not in page.content() and page.inner_text("#arena-reveal").strip() == ""
        expect(page.locator("#vote-reasons-skip")).to_contain_text(tags["skip"])
        page.locator("#vote-reasons-a").get_by_label(tags["a"], exact=True).check()
        page.locator("#vote-reasons-b").get_by_label(tags["b"], exact=True).check()
        page.fill("#vote-reasons-comment textarea", "Bは英語が混ざった <b>x</b>")
        page.locator("#vote-reasons").screenshot(path=str(artifacts / f"reasons-{lang}-{size}.png"))
        page.click("#vote-reasons-send")
        expect(page.locator("#arena-reveal")).to_contain_text("Demo-", timeout=15_000)
        expect(page.locator("#vote-reasons")).to_be_hidden()
        battle = battle_of(demo_app, prompt)
        reasons = rows(demo_app, "SELECT side, tag FROM vote_reasons WHERE battle_id = ?", battle)
        assert set(reasons) == {("a", "natural_japanese"), ("b", "mixed_languages")}
        comment = rows(demo_app, "SELECT comment FROM votes WHERE battle_id = ?", battle)
        assert comment == [("Bは英語が混ざった <b>x</b>",)]
        # after the reveal: thumbs on each answer (in the view on screen: the panes, or
        # the phone's turn-by-turn view), stored with turn and side
        thumb = ".ta-react-{}[data-side='{}']:visible"
        page.locator(thumb.format("up", "a")).first.click()
        page.locator(thumb.format("up", "b")).first.click()
        page.locator(thumb.format("down", "b")).first.click()  # changed its mind
        expect(page.locator(thumb.format("down", "b"))).to_have_attribute("aria-pressed", "true")
        expect_rows = {(1, "a", 1), (1, "b", -1)}
        query = "SELECT turn, side, value FROM reactions WHERE battle_id = ?"
        for _ in range(50):  # the like events run on the server after the clicks
            if set(rows(demo_app, query, battle)) == expect_rows:
                break
            page.wait_for_timeout(100)
        assert set(rows(demo_app, query, battle)) == expect_rows
    finally:
        context.close()


def test_skipped_reasons_store_nothing_and_no_thumbs_before_the_reveal(
    browser: Browser, demo_app: RunningApp
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{demo_app.url}/?lang=ja", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        page.fill("#arena-prompt textarea", "スキップする質問")
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        assert page.locator(".ta-react-up").count() == 0
        page.click("#vote-tie")
        expect(page.locator("#vote-reasons")).to_be_visible(timeout=15_000)
        assert page.locator(".ta-react-up").count() == 0
        page.click("#vote-reasons-skip")
        expect(page.locator("#arena-reveal")).to_contain_text("Demo-", timeout=15_000)
        battle = battle_of(demo_app, "スキップする質問")
        assert rows(demo_app, "SELECT * FROM vote_reasons WHERE battle_id = ?", battle) == []
        assert rows(demo_app, "SELECT comment FROM votes WHERE battle_id = ?", battle) == [(None,)]
        expect(page.locator(".ta-pane .ta-react-up:visible")).to_have_count(2)  # one per answer
        up = page.locator("#arena-chat-a .ta-react-up")
        expect(up).to_have_attribute("aria-label", "良い回答")
    finally:
        page.close()


def test_a_category_suggests_an_example_and_the_battle_records_it(
    browser: Browser, demo_app: RunningApp
) -> None:
    from arena.ui.i18n import PROMPT_CATEGORIES

    page = browser.new_page()
    try:
        page.goto(f"{demo_app.url}/?lang=ja", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        expect(page.locator("#arena-category-email")).to_have_text("仕事のメール・敬語")
        page.click("#arena-category-email")
        suggested = page.input_value("#arena-prompt textarea")
        assert suggested in PROMPT_CATEGORIES["email"]
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        battle = battle_of(demo_app, suggested)
        assert rows(demo_app, "SELECT prompt_source FROM battles WHERE id = ?", battle) == [
            ("example:email",)
        ]
        page.click("#arena-new-round")
        expect(page.locator("#arena-prompt textarea")).to_be_enabled(timeout=15_000)
        page.click("#arena-category-math")  # suggested, then edited: typed
        page.fill("#arena-prompt textarea", page.input_value("#arena-prompt textarea") + "？")
        edited = page.input_value("#arena-prompt textarea")
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        battle = battle_of(demo_app, edited)
        assert rows(demo_app, "SELECT prompt_source FROM battles WHERE id = ?", battle) == [
            ("typed",)
        ]
    finally:
        page.close()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_thumbs_survive_the_language_switch_after_the_reveal(
    browser: Browser, demo_app: RunningApp, lang: str, size: str
) -> None:
    """Gradio redraws the answers on a language switch: the thumbs are put back, in the
    new language and pressed as they were (the panes, or the phone's turn view)."""
    other = "en" if lang == "ja" else "ja"
    label = {"ja": "良い回答", "en": "Good answer"}
    vote_a = {"ja": "Aの方が良い", "en": "A is better"}
    context = browser.new_context(viewport=SIZES[size], locale="ja-JP" if lang == "ja" else "en")
    page = context.new_page()
    try:
        page.goto(f"{demo_app.url}/?lang={lang}", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        page.fill("#arena-prompt textarea", f"言語を切り替える {lang} {size}")
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        page.click("#vote-a")
        page.click("#vote-reasons-skip")
        expect(page.locator("#arena-reveal")).to_contain_text("Demo-", timeout=15_000)
        up = page.locator(".ta-react-up[data-side='b']:visible")
        expect(up).to_have_count(1, timeout=10_000)
        expect(up).to_have_attribute("aria-label", label[lang])
        up.click()
        expect(up).to_have_attribute("aria-pressed", "true")
        page.locator("#lang-switch").get_by_text("English" if other == "en" else "日本語").click()
        expect(page.locator("#vote-a")).to_have_text(vote_a[other])  # the switch is done
        expect(up).to_have_count(1, timeout=10_000)
        expect(up).to_have_attribute("aria-label", label[other])
        expect(up).to_have_attribute("aria-pressed", "true")
        expect(page.locator(".ta-react-down[data-side='a']:visible")).to_have_count(1)
    finally:
        context.close()
