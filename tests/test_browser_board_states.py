"""The leaderboard in every state of a young arena, in Chromium, in Japanese and English.

The board before the first run is seen on an app of its own, where no run is ever
stored. The other states share one app: each is made by voiding every vote so far
(voided votes are left out of a run), adding the state's votes and storing a rating run
with :func:`arena.recompute.recompute`, so no test depends on what another left behind:
one vote; models that never won or never lost (open interval ends); a comparison graph
in pieces; an anchor with no votes. Every state renders with no error toast, no error
in the tab and no traceback in the server's log. Then the Japanese page is walked text
node by text node: no Latin-only text but model names and a few allowed tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from arena.db import make_engine, session_factory
from arena.db.models import Vote, Winner
from arena.recompute import recompute
from tests.conftest import RunningApp, settle
from tests.test_browser_anonymity import MODELS, loopback_config
from tests.test_recompute import add_battles

pytestmark = pytest.mark.browser

Z, Q, M, P = MODELS  # Zephyrine (the anchor), Quokkanova, Marmotix, Pangolinea
ANCHOR = Z
A, B, TIE = Winner.MODEL_A, Winner.MODEL_B, Winner.TIE

#: Latin words the Japanese page may show besides model names.
ALLOWED_LATIN = (
    "Tanuki Arena", "Bradley-Terry", "Japanese MT-Bench", "Nejumi LB3", "UB", "JST",
    "English", "A", "B", "LLM", "ChatBot Arena", "ID", "IP", "Enter", "Shift",
)  # fmt: skip

VISIBLE_TEXT_JS = """() => {
  const out = [];
  const seen = (el) => el && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})
    && el.getClientRects().length > 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.nodeValue.trim();
    const el = n.parentElement;
    if (!text || !el || el.closest("script, style, svg title")) continue;
    if (seen(el)) out.push(text);
  }
  for (const el of document.querySelectorAll("input[placeholder], textarea[placeholder]")) {
    if (seen(el) && el.placeholder.trim()) out.push(el.placeholder.trim());
  }
  return out;
}"""


def latin_only(texts: list[str], names: list[str]) -> list[str]:
    """The texts with Latin letters left once model names and allowed words are removed,
    that hold no Japanese at all."""
    japanese = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
    bad = []
    for text in texts:
        if japanese.search(text):
            continue
        rest = text
        for word in sorted([*names, *ALLOWED_LATIN], key=len, reverse=True):
            rest = re.sub(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", " ", rest)
        if re.search(r"[A-Za-z]", rest):
            bad.append(text)
    return bad


def board_config() -> str:
    """The loopback models on a closed port (never called here), no provisional runs:
    the tests store every run themselves."""
    return loopback_config("http://127.0.0.1:9/v1", ANCHOR).replace(
        "[arena]\n", "[arena]\nprovisional_every_minutes = 0\n", 1
    )


@pytest.fixture(scope="module")
def states_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = RunningApp(tmp_path_factory.mktemp("ui-states"), board_config())
    yield app
    app.stop()


@pytest.fixture(scope="module")
def empty_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """An app on which no run is ever stored: the board before the first recomputation."""
    app = RunningApp(tmp_path_factory.mktemp("ui-empty"), board_config())
    yield app
    app.stop()


def new_state(app: RunningApp, battles: list[tuple[str, str, Winner, int]]) -> None:
    """Void every vote so far, add ``battles`` and store a run (unless there are none)."""
    engine = make_engine(app.database_url)
    try:
        with session_factory(engine)() as s, s.begin():
            s.execute(update(Vote).values(voided=True))
        for a, b, winner, n in battles:
            add_battles(engine, a, b, winner, n)
        if battles:
            recompute(engine, anchor=ANCHOR, min_votes=20)
    finally:
        engine.dispose()


def goto_leaderboard(page: Page, url: str, *, tap: bool = False) -> None:
    """Load the page and open the leaderboard tab, through the overflow menu where a
    narrow screen folds the tabs into one (with a tap on a touch screen)."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
    button = page.locator("#tab-leaderboard-button")
    if not button.is_visible():
        page.locator(".overflow-menu button, button.overflow-menu").first.click()
    if tap:
        button.tap()
    else:
        button.click()


def open_board(page: Page, url: str) -> None:
    goto_leaderboard(page, url)
    expect(page.locator("#leaderboard-info")).to_contain_text(
        re.compile("集計|Computed|No ratings"), timeout=15_000
    )
    expect(
        page.locator("#leaderboard-info .eta-bar, #leaderboard-info .progress-text")
    ).to_have_count(0)


def rows(page: Page) -> dict[str, str]:
    """Model -> the table row's cells joined by " | "."""
    out = {}
    for row in page.locator("#leaderboard-table .virtual-row[role=row]").all():
        cells = row.locator("[role=gridcell]").all_inner_texts()
        out[cells[1].strip()] = " | ".join(c.strip() for c in cells)
    return out


def check_clean(page: Page, app: RunningApp) -> None:
    """No toast, no error in the tab, no traceback in the server's log."""
    settle(page)  # whatever the last event shows (a toast included) has been drawn
    assert page.locator(".toast-body, [data-testid='toast-body']").count() == 0
    tab = page.inner_text("#tab-leaderboard")
    assert "エラー" not in tab and "Error" not in tab, tab
    log = app.log.read_text(errors="replace")
    assert "Traceback" not in log and "infinity" not in log, log[-3000:]


def each_language(browser, app: RunningApp, check, shot: str, artifacts: Path) -> None:
    for lang, locale in (("ja", "ja-JP"), ("en", "en-US")):
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        open_board(page, app.url)
        check(page, lang)
        check_clean(page, app)
        page.screenshot(path=str(artifacts / f"leaderboard-{shot}-{lang}.png"), full_page=True)
        context.close()


def test_empty_state(browser, empty_app: RunningApp, artifacts: Path) -> None:
    # no votes: no run yet; the next run is announced; no stray table, no search box
    def empty(page: Page, lang: str) -> None:
        info = page.inner_text("#leaderboard-info")
        said = "まだレーティングが計算されていません" if lang == "ja" else "No ratings"
        assert said in info, info
        assert re.search(r"(次回の集計|Next recomputation).*03:00.*JST", info), info
        expect(page.locator("#leaderboard-table")).to_be_hidden()
        assert page.locator("input.search-input:visible").count() == 0
        assert "1 2 3" not in page.inner_text("#tab-leaderboard")
        if lang == "ja":
            page.screenshot(path=str(artifacts / "leaderboard-empty.png"), full_page=True)

    each_language(browser, empty_app, empty, "empty", artifacts)


def test_every_state(browser, states_app: RunningApp, artifacts: Path) -> None:
    # 2. one vote: nobody is rated; both models listed with their battle
    new_state(states_app, [(Q, M, A, 1)])

    def one_vote(page: Page, lang: str) -> None:
        info = page.inner_text("#leaderboard-info")
        assert ("使用した投票数：0" if lang == "ja" else "from 0 votes") in info, info
        assert ("まだレーティングを付けられる" if lang == "ja" else "No model has enough") in info
        unrated = page.inner_text("#leaderboard-unrated")
        assert ("まだ評価できないモデル" if lang == "ja" else "Not rated yet") in unrated
        for name in (Q, M):
            assert re.search(rf"{name}\s+1\s+", unrated), unrated
        assert ("20 票以上" if lang == "ja" else "20 or more votes") in unrated
        expect(page.locator("#leaderboard-table")).to_be_hidden()
        assert page.inner_text("#leaderboard-chart").strip() == ""

    each_language(browser, states_app, one_vote, "one-vote", artifacts)

    # 3. Quokkanova never lost, Marmotix never won: open ends, "—" and arrows
    new_state(
        states_app,
        [(Q, Z, A, 10), (Q, P, A, 10), (M, Q, B, 10), (Z, M, A, 10), (P, M, A, 10),
         (Z, P, A, 8), (P, Z, A, 7), (Z, P, TIE, 3)],
    )  # fmt: skip

    def open_ends(page: Page, lang: str) -> None:
        expect(page.locator("#leaderboard-table")).to_contain_text(Q, timeout=15_000)
        table = rows(page)
        assert set(table) == {Z, Q, M, P}
        assert "+—/-" in table[Q] and re.search(r"\+\d+/-—", table[M]), table
        assert "—" not in table[Z] and "—" not in table[P]
        chart = page.locator("#chart-ratings")
        assert chart.locator(f"li[aria-label^='{Q}'] .ta-iv-open-high").count() == 1
        assert chart.locator(f"li[aria-label^='{M}'] .ta-iv-open-low").count() == 1
        label = chart.locator(f"li[aria-label^='{Q}']").get_attribute("aria-label")
        assert ("上限なし" if lang == "ja" else "no upper bound") in label
        assert "使用した投票数：68" in page.inner_text("#leaderboard-info") or lang == "en"

    each_language(browser, states_app, open_ends, "open-ends", artifacts)

    # 4. two pieces never compared: the anchor's piece is rated, the other listed
    new_state(states_app, [(Z, Q, A, 14), (Q, Z, A, 11), (M, P, A, 13), (P, M, A, 12)])

    def pieces(page: Page, lang: str) -> None:
        expect(page.locator("#leaderboard-table")).to_contain_text(Z, timeout=15_000)
        assert set(rows(page)) == {Z, Q}
        info = page.inner_text("#leaderboard-info")
        assert ("使用した投票数：25" if lang == "ja" else "from 25 votes") in info, info
        unrated = page.inner_text("#leaderboard-unrated")
        why = "評価済みのモデルとまだ対戦していません" if lang == "ja" else "not yet compared"
        for name in (M, P):
            assert re.search(rf"{name}\s+25\s+{why}", unrated), unrated

    each_language(browser, states_app, pieces, "pieces", artifacts)

    # 5. the anchor has no votes: the field's mean is put at 1000
    new_state(
        states_app,
        [(Q, M, A, 12), (M, Q, A, 9), (M, P, A, 11), (P, M, A, 10), (P, Q, A, 10),
         (Q, P, A, 8)],
    )  # fmt: skip

    def no_anchor(page: Page, lang: str) -> None:
        expect(page.locator("#leaderboard-table")).to_contain_text(Q, timeout=15_000)
        table = rows(page)
        assert set(table) == {Q, M, P}
        ratings = [int(re.split(r" \| ", table[m])[2]) for m in (Q, M, P)]
        assert abs(sum(ratings) / 3 - 1000) <= 1, ratings
        assert Z not in page.inner_text("#leaderboard-unrated")

    each_language(browser, states_app, no_anchor, "no-anchor", artifacts)


def test_japanese_page_has_no_latin_only_text(
    browser, states_app: RunningApp, artifacts: Path
) -> None:
    new_state(
        states_app,
        [(Q, Z, A, 10), (Q, P, A, 10), (M, Q, B, 10), (Z, M, A, 10), (P, M, A, 10),
         (Z, P, A, 8), (P, Z, A, 7), (Z, P, TIE, 3)],
    )  # fmt: skip
    new_state(  # a second run, so the history chart shows
        states_app,
        [(Q, Z, A, 9), (Q, P, A, 11), (M, Q, B, 10), (Z, M, A, 10), (P, M, A, 10),
         (Z, P, A, 9), (P, Z, A, 7), (Z, P, TIE, 3), (M, Z, A, 2)],
    )  # fmt: skip
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(states_app.url, wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
    names = list(MODELS)
    bad = latin_only(page.evaluate(VISIBLE_TEXT_JS), names)
    assert bad == [], f"Latin-only text on the Japanese arena tab: {bad}"
    page.click("#tab-leaderboard-button")
    expect(page.locator("#leaderboard-table")).to_contain_text(Q, timeout=15_000)
    expect(page.locator("#chart-history")).to_be_visible()
    page.wait_for_selector("input.search-input", timeout=10_000)
    assert page.get_attribute("input.search-input", "placeholder") == "表を検索…"
    texts = page.evaluate(VISIBLE_TEXT_JS)
    bad = latin_only(texts, names)
    assert bad == [], f"Latin-only text on the Japanese leaderboard: {bad}"
    info = page.inner_text("#leaderboard-info")
    assert "サンドイッチ推定" in info and "sandwich" not in info
    assert re.search(r"集計日時：\d{4}-\d\d-\d\d \d\d:\d\d（JST）", info), info
    axis = page.inner_text("#chart-history")
    assert re.search(r"\d\d/\d\d", axis) and re.search(r"\b\d\d:\d\d\b", axis)
    assert "集計日時（JST）" in axis and not re.search(r"(^|\s):\d\d", axis)
    # one font for Latin letters and Japanese: the page's font stack starts with Noto Sans
    for selector in ("#arena-vote-a, #vote-a, button", "h1", "#leaderboard-info"):
        family = page.eval_on_selector(selector, "el => getComputedStyle(el).fontFamily")
        assert family.startswith('"Noto Sans JP", "Noto Sans CJK JP"'), (selector, family)
    page.screenshot(path=str(artifacts / "leaderboard-ja-latin-check.png"), full_page=True)
    # the English page keeps its own search words
    page.goto(states_app.url + "/?lang=en", wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
    page.click("#tab-leaderboard-button")
    page.wait_for_selector("input.search-input", timeout=15_000)
    expect(page.locator("input.search-input")).to_have_attribute("placeholder", "Search the table…")
    context.close()
    assert "Traceback" not in states_app.log.read_text(errors="replace")


def test_latin_check_catches_english() -> None:
    # The check itself must be able to fail.
    assert latin_only(["Search...", "Warning", f"{Q}", "モデルA", "Tanuki Arena"], [Q]) == [
        "Search...",
        "Warning",
    ]
