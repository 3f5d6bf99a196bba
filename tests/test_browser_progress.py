"""The first-visit dialog, the progress header and the event mode in Chromium.

On the app's embedded defaults (demo models), in Japanese and English, on a desktop and
at 375 px. A browser that never came shows the dialog (focus in it, Escape does not
dismiss it) and sends nothing until it is accepted, by the keyboard; after a reload it is
not asked again. The header counts the volunteer's vote. An event's link shows its name,
gauge and time left, and tags the battles started by it; an ended event thanks and shows
its results (fitted from its own votes) on request; an unknown slug is said politely.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from arena.consent import BUILTIN, STORAGE_KEY
from arena.db import make_engine, session_factory
from arena.db.models import Battle, BattleMode, BattleStatus, Model, Vote, Voter, Winner
from arena.events import save_event
from tests.conftest import OPEN_LIMITS, RunningApp

pytestmark = pytest.mark.browser

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}
WORDS = {
    "ja": {"accept": "同意して始める", "point": "個人情報", "own": "あなたの投票", "left": "残り",
           "results": "結果", "unknown": "見つかりませんでした", "rank": "順位"},
    "en": {"accept": "I agree, let's start", "point": "personal information", "own": "Your votes",
           "left": "left", "results": "Results", "unknown": "could not find", "rank": "Rank"},
}  # fmt: skip
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The demo app with two events: one running (2 days left), one ended with votes."""
    app = RunningApp(tmp_path_factory.mktemp("ui-progress"), env=OPEN_LIMITS)
    engine = make_engine(app.database_url)
    with session_factory(engine).begin() as s:
        save_event(
            s,
            slug="tanuki-week",
            name="たぬき週間 2026",
            goal=40,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(days=2, hours=3),
        )
        ended = save_event(s, slug="seed-drive", name="Seed drive", goal=10,
                           starts_at=NOW - timedelta(days=6), ends_at=NOW - timedelta(hours=1),
                           thanks_ja="6日間ありがとうございました！", thanks_en="Thank you for six days!")  # fmt: skip  # noqa: E501
        ids = {m.name: m.id for m in s.query(Model)}
        voter = Voter(token="e" * 32)
        s.add(voter)
        s.flush()
        names = sorted(n for n in ids if n.startswith("Demo-"))[:3]
        for a, b in ((names[0], names[1]), (names[1], names[2]), (names[0], names[2])) * 3:
            bid = secrets.token_hex(16)
            s.add(Battle(id=bid, voter_id=voter.id, model_a_id=ids[a], model_b_id=ids[b],
                         mode=BattleMode.ANONY, status=BattleStatus.VOTED, turns=1,
                         event_id=ended.id))  # fmt: skip
            s.flush()
            s.add(Vote(battle_id=bid, voter_id=voter.id, winner=Winner.MODEL_A))
    engine.dispose()
    yield app
    app.stop()


def battles(app: RunningApp) -> list[tuple]:
    with sqlite3.connect(app.db_path) as db:
        return db.execute("SELECT id, event_id FROM battles ORDER BY created_at").fetchall()


def prompts_like(app: RunningApp, start: str) -> list[str]:
    """The stored prompts that begin with ``start``."""
    sql = "SELECT content FROM messages WHERE role = 'user' AND content LIKE ? || '%'"
    with sqlite3.connect(app.db_path) as db:
        return [row[0] for row in db.execute(sql, (start,))]


def play_and_vote(page) -> None:
    page.fill("#arena-prompt textarea", "進み具合のテストです")
    page.press("#arena-prompt textarea", "Enter")
    expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
    page.click("#vote-a")
    expect(page.locator("#vote-reasons")).to_be_visible(timeout=15_000)
    page.click("#vote-reasons-skip")
    expect(page.locator("#arena-reveal")).to_contain_text("Demo-", timeout=20_000)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_first_visit_dialog_must_be_accepted_once(
    browser, demo_app: RunningApp, lang: str, size: str, artifacts: Path
) -> None:
    locale = "ja-JP" if lang == "ja" else "en-US"
    context = browser.new_context(first_visit=True, viewport=SIZES[size], locale=locale)
    page = context.new_page()
    words = WORDS[lang]
    try:
        page.goto(f"{demo_app.url}/?lang={lang}", wait_until="domcontentloaded")
        dialog = page.locator("#first-visit")
        expect(dialog).to_be_visible(timeout=30_000)
        expect(page.locator("#first-visit-accept")).to_be_focused()
        expect(page.locator("#first-visit-accept")).to_have_text(
            words["accept"], use_inner_text=True
        )
        assert words["point"] in dialog.inner_text()
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        page.keyboard.press("Escape")  # no way around it
        expect(dialog).to_be_visible()
        shot = f"first-visit-{lang}.png" if size == "desktop" else f"first-visit-{lang}-phone.png"
        page.screenshot(path=str(artifacts / shot))
        # The page behind is inert; a script's click or Enter is stopped as well.
        before = len(battles(demo_app))
        sends: list[str] = []  # POST /api/battles: the page's one way to start a turn
        page.on(
            "request",
            lambda r: (
                sends.append(r.url)
                if r.method == "POST" and urlsplit(r.url).path == "/api/battles"
                else None
            ),
        )
        page.evaluate(
            """() => {
              const box = document.querySelector("#arena-prompt textarea");
              box.value = "同意の前に送る";
              box.dispatchEvent(new Event("input", {bubbles: true}));
              box.dispatchEvent(new KeyboardEvent("keypress", {key: "Enter", bubbles: true}));
              document.querySelector("#arena-send").click();
            }"""
        )
        assert len(battles(demo_app)) == before
        expect(page.locator("#vote-a")).to_be_disabled()
        expect(dialog).to_be_visible()
        page.keyboard.press("Enter")  # the focused accept button
        expect(dialog).to_be_hidden()
        assert page.evaluate(f"localStorage.getItem({STORAGE_KEY!r})") == BUILTIN
        page.fill("#arena-prompt textarea", "同意のあとに送る")
        page.click("#arena-send")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        # The stopped attempt came first: had it sent, it would be here beside this one.
        assert len(battles(demo_app)) == before + 1
        assert len(sends) == 1, sends
        assert prompts_like(demo_app, "同意の前に") == []
        page.reload(wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        # The page-load script that opens the dialog has run (it sets this flag first).
        page.wait_for_function("() => window.__taConsent === true", timeout=30_000)
        expect(dialog).to_be_hidden()
        assert page.evaluate("document.getElementById('first-visit').open") is False
    finally:
        context.close()


def test_the_dialog_follows_the_language_switch(browser, demo_app: RunningApp) -> None:
    context = browser.new_context(first_visit=True, locale="ja-JP")
    page = context.new_page()
    try:
        page.goto(demo_app.url, wait_until="domcontentloaded")
        expect(page.locator("#first-visit-accept")).to_have_text(
            "同意して始める", use_inner_text=True, timeout=30_000
        )
        page.evaluate("window.__tanukiSetLocale('en')")
        expect(page.locator("#first-visit-accept")).to_have_text(
            "I agree, let's start", use_inner_text=True
        )
    finally:
        context.close()


@pytest.mark.parametrize(("lang", "size"), [("ja", "desktop"), ("en", "phone")])
def test_the_header_counts_the_volunteers_vote(
    browser, demo_app: RunningApp, lang: str, size: str, artifacts: Path
) -> None:
    locale = "ja-JP" if lang == "ja" else "en-US"
    context = browser.new_context(viewport=SIZES[size], locale=locale)
    page = context.new_page()
    try:
        page.goto(f"{demo_app.url}/?lang={lang}", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        own = page.locator("#progress-own")
        expect(own).to_contain_text(WORDS[lang]["own"])
        expect(own.locator("strong")).to_have_text("0")
        total = int(page.inner_text("#progress-total strong >> nth=0").replace(",", ""))
        expect(page.locator("#progress-gauge")).to_have_attribute("max", "10000")
        expect(page.locator("#event-banner")).to_be_hidden()
        play_and_vote(page)
        expect(own.locator("strong")).to_have_text("1", timeout=10_000)
        after = int(page.inner_text("#progress-total strong >> nth=0").replace(",", ""))
        assert after >= total + 1
        page.evaluate("window.scrollTo(0, 0)")
        if lang == "ja":
            page.screenshot(path=str(artifacts / "progress-header-ja.png"))
        else:
            page.screenshot(path=str(artifacts / f"progress-header-{lang}-{size}.png"))
    finally:
        context.close()


@pytest.mark.parametrize(("lang", "size"), [("ja", "desktop"), ("en", "phone")])
def test_an_event_link_shows_its_gauge_and_tags_the_battles(
    browser, demo_app: RunningApp, lang: str, size: str, artifacts: Path
) -> None:
    context = browser.new_context(viewport=SIZES[size], locale="ja-JP")
    page = context.new_page()
    try:
        page.goto(f"{demo_app.url}/?event=tanuki-week&lang={lang}", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        expect(page.locator("#event-name")).to_have_text("たぬき週間 2026")
        expect(page.locator("#event-gauge")).to_have_attribute("max", "40")
        expect(page.locator("#event-left")).to_contain_text(WORDS[lang]["left"])
        expect(page.locator("#event-left")).to_contain_text("2")
        votes = int(page.inner_text("#event-votes strong >> nth=0"))
        play_and_vote(page)
        expect(page.locator("#event-votes strong >> nth=0")).to_have_text(str(votes + 1))
        assert battles(demo_app)[-1][1] is not None  # tagged with the event
        page.evaluate("window.scrollTo(0, 0)")
        name = f"event-{lang}.png" if lang == "ja" else f"event-{lang}-{size}.png"
        page.screenshot(path=str(artifacts / name))
    finally:
        context.close()


@pytest.mark.parametrize(("lang", "size"), [("ja", "desktop"), ("en", "phone")])
def test_an_ended_event_thanks_and_shows_its_results(
    browser, demo_app: RunningApp, lang: str, size: str, artifacts: Path
) -> None:
    context = browser.new_context(viewport=SIZES[size], locale="ja-JP")
    page = context.new_page()
    words = WORDS[lang]
    try:
        page.goto(f"{demo_app.url}/?event=seed-drive&lang={lang}", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        thanks = "6日間ありがとうございました！" if lang == "ja" else "Thank you for six days!"
        expect(page.locator("#event-thanks")).to_have_text(thanks)
        assert page.locator("#event-gauge").count() == 0
        assert "Demo-" not in page.inner_text("body")  # names only when asked for
        page.click("#event-results-show")
        table = page.locator("#event-results-table")
        expect(table).to_be_visible(timeout=15_000)
        expect(table.locator("th").first).to_have_text(words["rank"])
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.first).to_contain_text("Demo-")
        expect(page.locator("#event-results")).to_contain_text(words["results"])
        name = f"event-ended-{lang}.png" if lang == "ja" else f"event-ended-{lang}-{size}.png"
        page.screenshot(path=str(artifacts / name), full_page=True)
        page.fill("#arena-prompt textarea", "終わったあとの対戦")
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        assert battles(demo_app)[-1][1] is None  # no longer tagged
    finally:
        context.close()


def test_an_unknown_event_is_said_politely(browser, demo_app: RunningApp) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{demo_app.url}/?event=no-such-drive&lang=en", wait_until="domcontentloaded")
        page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
        expect(page.locator("#event-unknown")).to_contain_text("no-such-drive")
        expect(page.locator("#event-unknown")).to_contain_text(WORDS["en"]["unknown"])
        page.click("#lang-switch label:has-text('日本語')")
        expect(page.locator("#event-unknown")).to_contain_text(WORDS["ja"]["unknown"])
        page.fill("#arena-prompt textarea", "知らないイベント")
        page.press("#arena-prompt textarea", "Enter")
        expect(page.locator("#vote-a")).to_be_enabled(timeout=30_000)
        assert battles(demo_app)[-1][1] is None
    finally:
        context.close()
