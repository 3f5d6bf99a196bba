"""Failures on the battle tab in Chromium: plain words and a way forward, one style.

The app runs as users launch it, on two models of the loopback vLLM server, with short
timeouts. A side that errors (HTTP 503), stalls, or is cut off mid-answer is said in
everyday words in the view on screen (the panes on a desktop, the turn-by-turn view at
375 px), never its code; the status line (the tab's one place for failures: no toasts)
offers the retry and 「この対戦を終えて次へ」, which starts a fresh battle. A lost
connection offers the same; a refused prompt keeps the prompt and needs no way out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.conftest import OPEN_LIMITS, RunningApp, loopback_config
from tests.loopback import Behaviour, LoopbackLLM

pytestmark = pytest.mark.browser

MODELS = {"Fail-One": "loop/fail-one", "Fail-Two": "loop/fail-two"}
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}
FAULTS = {
    "error": (Behaviour(mode="status_503", retry_after=""), "unreachable"),
    "stall": (Behaviour(mode="stall_before_first", stall_seconds=20), "stalled"),
    "cut": (Behaviour(mode="cut", tokens=30, fail_after=4, rate=50.0), "cut"),
}
WORDS = {
    "ja": {"unreachable": "つながりません", "stalled": "時間内に答え終わりませんでした",
           "cut": "途中で途切れました", "end": "この対戦を終えて次へ", "retry": "再試行",
           "network": "接続が途中で切れました", "empty": "入力が空です。"},
    "en": {"unreachable": "cannot be reached", "stalled": "did not finish answering in time",
           "cut": "broke off midway", "end": "End this battle, start another",
           "retry": "Retry", "network": "connection was lost", "empty": "The prompt is empty."},
}  # fmt: skip
#: What must never reach the volunteer: codes, HTTP statuses, exception words.
TECHNICAL = ("http_", "503", "timeout", "truncated", "Traceback", "Error:", "stream_error")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, loopback: LoopbackLLM) -> Iterator[RunningApp]:
    arena = "retries = 0\nfirst_token_timeout = 2.0\ntotal_timeout = 8.0\n"
    config = loopback_config(loopback.base_url, MODELS, arena)
    running = RunningApp(tmp_path_factory.mktemp("ui-failures"), config, OPEN_LIMITS)
    yield running
    running.stop()


def open_page(browser: Browser, app: RunningApp, lang: str, size: str) -> Page:
    context = browser.new_context(viewport=SIZES[size], locale="ja-JP" if lang == "ja" else "en")
    page = context.new_page()
    page.goto(f"{app.url}/?lang={lang}", wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
    return page


def send(page: Page, prompt: str) -> None:
    page.fill("#arena-prompt textarea", prompt)
    page.click("#arena-send")


def answers(page: Page, size: str) -> str:
    """The answers as the volunteer sees them: both panes, or the phone's one view."""
    if size == "phone":
        return page.inner_text("#arena-turns")
    return page.inner_text("#arena-chat-a") + "\n" + page.inner_text("#arena-chat-b")


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failed_side_is_said_plainly_with_a_retry_and_a_way_out(
    browser: Browser, app: RunningApp, llm: LoopbackLLM, fault: str, lang: str, size: str,
    artifacts: Path,
) -> None:  # fmt: skip
    behaviour, kind = FAULTS[fault]
    words = WORDS[lang]
    llm.set(MODELS["Fail-One"], behaviour)
    page = open_page(browser, app, lang, size)
    try:
        send(page, "失敗する質問")
        retry = page.locator("#arena-retry-a:visible, #arena-retry-b:visible")
        expect(retry).to_have_count(1, timeout=30_000)
        expect(retry).to_contain_text(words["retry"])
        end = page.locator("#arena-end")
        expect(end).to_be_visible()
        expect(end).to_have_text(words["end"])
        seen = answers(page, size)
        assert words[kind] in seen and words["end"] in seen
        status = page.inner_text("#arena-status")
        assert words["end"] in status
        page_text = page.inner_text("body")
        assert not [w for w in TECHNICAL if w in seen + status], (seen, status)
        assert "Fail-" not in page_text  # still blind
        assert page.locator(".toast-body, .toast-wrap .toast").count() == 0  # one style
        expect(page.locator("#vote-a")).to_be_disabled()
        if fault == "error":
            page.screenshot(
                path=str(artifacts / f"arena-failure-{lang}-{size}.png"), full_page=True
            )
        end.click()  # end this battle: a fresh one, the prompt open
        expect(end).to_be_hidden(timeout=15_000)
        expect(retry).to_have_count(0)
        expect(page.locator("#arena-prompt textarea")).to_be_enabled()
        assert words[kind] not in answers(page, size)
        llm.reset()
        send(page, "次の対戦")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
    finally:
        page.context.close()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_lost_connection_offers_the_way_out_and_a_refused_prompt_is_kept(
    browser: Browser, app: RunningApp, llm: LoopbackLLM, lang: str, size: str
) -> None:
    words = WORDS[lang]
    page = open_page(browser, app, lang, size)
    try:
        send(page, "\u200b")  # refused as empty: said, the prompt kept, nothing to end
        expect(page.locator("#arena-status .ta-warning")).to_contain_text(
            words["empty"], timeout=20_000
        )
        expect(page.locator("#arena-end")).to_be_hidden()
        expect(page.locator("#arena-prompt textarea")).to_have_value("\u200b")

        def cut(route: Route) -> None:  # the answer, ended before its "done" event
            response = route.fetch()
            body = response.text()
            route.fulfill(response=response, body=body[: body.index("event: done")])

        page.route("**/api/battles", cut)
        send(page, "切れる接続")
        status = page.locator("#arena-status .ta-warning")
        expect(status).to_contain_text(words["network"], timeout=20_000)
        expect(status).to_contain_text(words["end"])
        expect(page.locator("#arena-end")).to_be_visible()
        assert page.locator(".toast-body, .toast-wrap .toast").count() == 0
        page.click("#arena-end")
        expect(page.locator("#arena-end")).to_be_hidden(timeout=15_000)
        expect(page.locator("#arena-status .ta-warning")).to_have_count(0)
    finally:
        page.context.close()
