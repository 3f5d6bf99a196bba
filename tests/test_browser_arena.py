"""The volunteer's arena in Chromium, on the app launched as users launch it (demo models).

A blind battle in Japanese and English, on a desktop and on a phone (screenshots of
each state go to the artifacts folder), a battle played with the keyboard alone, the
language switch, the named side-by-side mode and the direct chat.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningApp, skip_reasons

pytestmark = pytest.mark.browser

DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {
        "viewport": {"width": 375, "height": 812},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}
LOCALES = {"ja": "ja-JP", "en": "en-US"}
WORDS = {
    "ja": {
        "votes": ["Aの方が良い", "Bの方が良い", "引き分け", "どちらも悪い"],
        "limits": "1対戦あたり最大 5 ターン",
        "rules": "個人情報",
        "ready": "回答がそろいました",
        "reveal": r"モデル([AB])：\s*(Demo-\w+)",
        "thanks": "投票ありがとうございました",
        "card": ["重みが公開されたモデル（誰でもダウンロードして使えます）", "回答時間", "文字"],
    },
    "en": {
        "votes": ["A is better", "B is better", "Tie", "Both are bad"],
        "limits": "Up to 5 turns per battle",
        "rules": "personal information",
        "ready": "Both answers are in",
        "reveal": r"Model ([AB]):\s*(Demo-\w+)",
        "thanks": "Thank you for voting",
        "card": ["Open-weight model (anyone can download and run it)", "Answer time", "characters"],
    },
}
OTHER = {"ja": "en", "en": "ja"}


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app on its embedded defaults (demo models), for this module alone."""
    app = RunningApp(tmp_path_factory.mktemp("ui-demo"))
    yield app
    app.stop()


def open_arena(page: Page, url: str) -> None:
    """Load the page and wait until the prompt accepts input (the load event ran)."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)


def wait_ready(page: Page, prefix: str = "") -> None:
    """Wait until a turn finished and the votes are enabled."""
    expect(page.locator(f"#{prefix}vote-a")).to_be_enabled(timeout=30_000)


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("device", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_blind_battle(browser, demo_app: RunningApp, artifacts: Path, lang: str, device: str):
    context = browser.new_context(locale=LOCALES[lang], **DEVICES[device])
    page = context.new_page()
    words, name = WORDS[lang], f"arena-{lang}-{device}"
    try:
        open_arena(page, demo_app.url)
        expect(page.locator("#arena-status")).to_contain_text(
            "質問を入力" if lang == "ja" else "Type a prompt"
        )
        assert page.evaluate("document.documentElement.lang") == lang
        limits = page.inner_text("#arena-limits")
        assert words["limits"] in limits and WORDS[OTHER[lang]]["limits"] not in limits
        assert words["rules"] in page.inner_text("#arena-rules")
        for button, label in zip(
            ("#vote-a", "#vote-b", "#vote-tie", "#vote-bothbad"), words["votes"], strict=True
        ):
            expect(page.locator(button)).to_have_text(label)
            assert page.is_disabled(button)
        for button in ("#arena-regenerate", "#arena-new-round"):
            assert page.is_disabled(button)
        # a phone shows no empty panes before the first prompt; a desktop shows both
        expect(page.locator("#arena-chat-a")).to_be_visible(visible=device == "desktop")
        expect(page.locator("#arena-turns")).to_be_hidden()
        shot(page, artifacts, f"{name}-1-start")

        page.fill("#arena-prompt textarea", "人生最後の日に何をしたいですか？")
        page.press("#arena-prompt textarea", "Enter")
        wait_ready(page)
        if device == "phone":  # a second turn: answers are grouped turn by turn
            page.fill("#arena-prompt textarea", "その理由は？")
            page.press("#arena-prompt textarea", "Enter")
            expect(page.locator("#arena-turns .message-row")).to_have_count(6, timeout=30_000)
            wait_ready(page)
            order = page.eval_on_selector_all(
                "#arena-turns .message-row",
                "rows => rows.map(r => r.classList.contains('user-row') ? 'user' :"
                " r.querySelector('.ta-turn-a') ? 'a' : r.querySelector('.ta-turn-b') ? 'b' : '?')",
            )
            assert order == ["user", "a", "b", "user", "a", "b"]
            labels = page.locator("#arena-turns .ta-turn-label").all_inner_texts()
            blind = ["モデルA", "モデルB"] if lang == "ja" else ["Model A", "Model B"]
            assert labels == blind * 2  # still blind
        expect(page.locator("#arena-status")).to_contain_text(words["ready"])
        for pane in ("#arena-chat-a", "#arena-chat-b"):
            assert "人生最後の日" in page.inner_text(pane)
        assert "Demo-" not in page.content()
        assert not page.is_disabled("#arena-regenerate")
        # The chat panes have no clear (trash) button that would empty them locally.
        assert page.locator(".ta-pane .top-panel button:visible").count() == 0
        if device == "phone":  # one view, turn by turn, the two panes out of the way
            expect(page.locator("#arena-turns")).to_be_visible()
            expect(page.locator("#arena-chat-a")).to_be_hidden()
            expect(page.locator("#arena-chat-b")).to_be_hidden()
            turns = page.locator("#arena-turns").bounding_box()
            assert (
                turns
                and turns["y"] + turns["height"] <= page.locator("#vote-a").bounding_box()["y"]
            )
            assert no_horizontal_scroll(page)
        else:
            expect(page.locator("#arena-turns")).to_be_hidden()
            a = page.locator("#arena-chat-a").bounding_box()
            b = page.locator("#arena-chat-b").bounding_box()
            assert a and b and abs(a["y"] - b["y"]) < 2 and b["x"] > a["x"]  # side by side
        shot(page, artifacts, f"{name}-2-answers")

        page.click("#vote-tie")
        skip_reasons(page)
        expect(page.locator("#arena-reveal")).to_contain_text("Demo-", timeout=15_000)
        reveal = page.inner_text("#arena-reveal")
        assert words["thanks"] in reveal
        names = re.findall(words["reveal"], reveal)
        assert [side for side, _ in names] == ["A", "B"] and names[0][1] != names[1][1]
        # one line per side
        lines = [line for line in reveal.splitlines() if re.search(words["reveal"], line)]
        assert len(lines) == 2
        for side in "ab":  # a card per model, in plain words
            card = page.inner_text(f"#arena-card-{side}")
            assert all(word in card for word in words["card"]), card
        assert page.locator(".ta-card-chosen").count() == 0  # a tie marks no side
        for button in ("#vote-a", "#vote-b", "#vote-tie", "#vote-bothbad", "#arena-send"):
            assert page.is_disabled(button)
        assert page.is_disabled("#arena-regenerate") and page.is_disabled("#arena-prompt textarea")
        if device == "phone":
            assert no_horizontal_scroll(page)
        shot(page, artifacts, f"{name}-3-reveal")

        page.click("#arena-new-round")
        expect(page.locator("#arena-reveal")).to_have_text("", timeout=15_000)
        expect(page.locator("#arena-prompt textarea")).to_be_enabled()
        assert "人生最後の日" not in page.inner_text("#arena-chat-a")
        assert page.is_disabled("#vote-a") and page.is_disabled("#arena-new-round")
    finally:
        context.close()


def test_example_prompts_and_regenerate(page: Page, demo_app: RunningApp, artifacts: Path):
    open_arena(page, demo_app.url)
    examples = page.locator("#arena-examples")
    for text in ("掃除がめんどくさい", "テストで95点", "人生最後の日"):
        expect(examples).to_contain_text(text)
    examples.get_by_text("テストで95点").click()
    expect(page.locator("#arena-prompt textarea")).to_have_value(
        "テストで95点でもミスがあったと言って親は褒めてくれません。"
    )
    page.click("#arena-send")
    wait_ready(page)
    page.click("#arena-regenerate")
    expect(page.locator("#vote-a")).to_be_disabled(timeout=5_000)  # the re-roll is streaming
    wait_ready(page)
    assert "テストで95点" in page.inner_text("#arena-chat-a")
    assert page.locator("#arena-chat-a .message-row").count() == 2  # still one turn
    page.click("#vote-a")
    skip_reasons(page)
    expect(page.locator("#arena-reveal")).to_contain_text("Demo-")


def focus_by_tab(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        if page.evaluate(
            "(sel) => { const el = document.querySelector(sel), at = document.activeElement;"
            " return !!el && (el === at || el.contains(at)); }",
            selector,
        ):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} was not reached with Tab")


def test_keyboard_only_battle(page: Page, demo_app: RunningApp, artifacts: Path) -> None:
    open_arena(page, demo_app.url)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    focus_by_tab(page, "#arena-prompt textarea")
    page.keyboard.type("キーボードだけで質問します")
    page.keyboard.press("Enter")
    wait_ready(page)
    focus_by_tab(page, "#vote-b")
    page.keyboard.press("Space")
    # the reasons step takes the focus: a tag with Space, then its send button
    expect(page.locator("#vote-reasons-send")).to_be_focused(timeout=15_000)
    focus_by_tab(page, "#vote-reasons-a input")
    page.keyboard.press("Space")
    focus_by_tab(page, "#vote-reasons-send")
    page.keyboard.press("Enter")
    expect(page.locator("#arena-reveal")).to_contain_text("Demo-", timeout=15_000)
    shot(page, artifacts, "arena-keyboard-reveal")
    focus_by_tab(page, "#arena-new-round")
    page.keyboard.press("Enter")
    expect(page.locator("#arena-reveal")).to_have_text("", timeout=15_000)
    focus_by_tab(page, "#arena-prompt textarea")
    page.keyboard.type("二回目")
    page.keyboard.press("Enter")
    wait_ready(page)


def test_language_switch_is_remembered(page: Page, demo_app: RunningApp, artifacts: Path):
    open_arena(page, demo_app.url)
    expect(page.locator("#vote-a")).to_have_text("Aの方が良い")
    page.fill("#arena-prompt textarea", "こんにちは")
    page.press("#arena-prompt textarea", "Enter")
    wait_ready(page)
    page.click("#vote-a")
    skip_reasons(page)
    expect(page.locator("#arena-reveal")).to_contain_text("モデルA：")
    up = page.locator("#arena-chat-a .ta-react-up")
    expect(up).to_have_count(1, timeout=10_000)
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    page.locator("#lang-switch").get_by_text("English").click()
    expect(page.locator("#vote-a")).to_have_text("A is better")
    expect(page.locator("#arena-reveal")).to_contain_text("Model A: Demo-")
    expect(page.locator("#arena-card-a")).to_contain_text("Open-weight model")
    # Gradio redrew the panes in English: the thumbs are back, in English, as pressed
    expect(page.locator("#arena-chat-a .ta-react-up")).to_have_count(1, timeout=10_000)
    expect(page.locator("#arena-chat-b .ta-react-down")).to_have_count(1)
    expect(up).to_have_attribute("aria-label", "Good answer")
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#arena-status")).to_contain_text("Vote recorded")
    expect(page.locator("#tab-leaderboard-button")).to_have_text("Leaderboard")
    limits = page.inner_text("#arena-limits")
    assert "Up to 5 turns" in limits and "ターン" not in limits
    assert page.evaluate("localStorage.getItem('tanuki-arena-lang')") == "en"
    shot(page, artifacts, "arena-switched-to-en")
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled")
    expect(page.locator("#vote-a")).to_have_text("A is better")
    expect(page.locator("#arena-status")).to_contain_text("Type a prompt")
    page.goto(demo_app.url + "/?lang=ja", wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled")
    expect(page.locator("#vote-a")).to_have_text("Aの方が良い")


def pick(page: Page, dropdown: str, name: str) -> None:
    """Choose a model in a dropdown: type to filter, click the one option left.

    The choices arrive with the tab's select event, so the option is waited for. The
    typed filter text already equals the name, so the value alone proves nothing: the
    choice must survive the list closing (an unselected filter is cleared on blur).
    """
    field = page.locator(f"{dropdown} input")
    field.click()
    field.fill(name)
    option = page.locator(f"[role=option][aria-label='{name}']:visible")
    expect(option).to_have_count(1)
    option.click()
    expect(page.locator("[role=option]:visible")).to_have_count(0)
    field.blur()
    expect(field).to_have_value(name)


def test_named_mode_and_direct_chat(page: Page, demo_app: RunningApp, artifacts: Path):
    open_arena(page, demo_app.url)
    page.click("#tab-named-button")
    pick(page, "#named-pick-a", "Demo-Echo")
    pick(page, "#named-pick-b", "Demo-Lister")
    page.fill("#named-arena-prompt textarea", "自己紹介してください")
    page.press("#named-arena-prompt textarea", "Enter")
    wait_ready(page, "named-")
    assert "Demo-Echo" in page.inner_text("#named-arena-chat-a")
    assert page.is_disabled("#named-pick-a input")
    page.click("#named-vote-a")
    expect(page.locator("#named-arena-reveal")).to_contain_text("レーティングには含まれません")
    expect(page.locator("#named-arena-reveal .ta-card-chosen")).to_have_count(1)
    expect(page.locator("#named-arena-card-a")).to_contain_text("Demo-Echo")
    shot(page, artifacts, "named-reveal")

    page.click("#tab-chat-button")
    pick(page, "#chat-model", "Demo-Haiku")
    page.fill("#chat-prompt textarea", "日本で有名なものと言えば")
    page.press("#chat-prompt textarea", "Enter")
    expect(page.locator("#chat-new")).to_be_enabled(timeout=30_000)
    assert "日本で有名なもの" in page.inner_text("#chat-pane")
    assert "Demo-Haiku" in page.inner_text("#chat-pane")
    shot(page, artifacts, "direct-chat")

    page.click("#tab-about-button")
    expect(page.locator("#about-text")).to_contain_text("Bradley-Terry")
    expect(page.locator("#about-text")).to_contain_text("Tanuki-8B-dpo-v1.0 = 1000")
