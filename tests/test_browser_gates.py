"""The optional gates in Chromium: the page solves the proof of work by itself, and a
closed evaluation asks for an access code before the prompt opens."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import RunningApp

pytestmark = pytest.mark.browser


def test_the_page_solves_the_proof_of_work_and_gets_a_voter(browser, tmp_path: Path) -> None:
    app = RunningApp(tmp_path, env={"ARENA_POW_GATE": "true", "ARENA_POW_MAX_NUMBER": "3000"})
    try:
        page = browser.new_context(locale="ja-JP").new_page()
        page.goto(app.url, wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=60_000)
        page.fill("#arena-prompt textarea", "こんにちは")
        page.click("#arena-send")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        page.context.close()
    finally:
        app.stop()


def test_a_closed_evaluation_asks_for_the_access_code(browser, tmp_path: Path) -> None:
    app = RunningApp(tmp_path, env={"ARENA_ACCESS_CODES": "tanuki-lab"})
    try:
        page = browser.new_context(locale="ja-JP").new_page()
        page.goto(app.url, wait_until="domcontentloaded")
        expect(page.locator("#join-row")).to_be_visible(timeout=30_000)
        expect(page.locator("#arena-prompt textarea")).to_be_disabled()
        expect(page.locator("#arena-status")).to_contain_text("参加コード")
        page.fill("#join-code input", "wrong")
        page.click("#join-button")
        expect(page.locator("#arena-status")).to_contain_text("正しくありません")
        expect(page.locator("#arena-prompt textarea")).to_be_disabled()
        page.fill("#join-code input", "tanuki-lab")
        page.click("#join-button")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        expect(page.locator("#join-row")).to_be_hidden()
        page.reload(wait_until="domcontentloaded")  # the browser keeps its voter
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        page.context.close()
    finally:
        app.stop()
