"""The leaderboard in Chromium: every model with the computed figures.

Votes go straight into the launched app's SQLite file; ``arena.recompute`` stores rating
runs (a fixture, once per module, for whichever test asks first); the tab, once selected,
shows the latest run's table and charts. The board before any run:
tests/test_browser_board_states.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from arena.db import make_engine
from arena.db.models import RatingRun
from arena.recompute import recompute
from tests.conftest import RunningApp
from tests.test_browser_anonymity import MODELS, loopback_config
from tests.test_browser_board_states import goto_leaderboard
from tests.test_ui_stats import seed_votes

pytestmark = pytest.mark.browser

STRENGTHS = dict(zip(MODELS, (1000, 1150, 900, 1060), strict=True))
ANCHOR = "Zephyrine-Alpha-7B"


@pytest.fixture(scope="module")
def board_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    # The models are never called here: a closed port stands in for the server.
    app = RunningApp(
        tmp_path_factory.mktemp("ui-board"), loopback_config("http://127.0.0.1:9/v1", ANCHOR)
    )
    yield app
    app.stop()


@pytest.fixture(scope="module")
def latest_run(board_app: RunningApp) -> RatingRun:
    """Three nightly runs stored (for the history chart): the last one."""
    engine = make_engine(board_app.database_url)
    try:
        for k in range(3):
            with Session(engine) as s:
                seed_votes(s, STRENGTHS, 400, seed=k)
                s.commit()
            run = recompute(engine, anchor=ANCHOR)
    finally:
        engine.dispose()
    return run


#: The heatmap cells drawn on the page, and the texts of those laid out on more than one
#: line (a Range over a cell's text has one client rectangle per line).
WRAPPED_CELLS_JS = """() => {
  const cells = [...document.querySelectorAll('.ta-heat td')].filter(td => td.textContent.trim());
  const lines = td => { const r = document.createRange(); r.selectNodeContents(td);
                        return r.getClientRects().length; };
  const shown = cells.filter(td => lines(td) > 0);
  const wrapped = shown.filter(td => lines(td) > 1).map(td => td.textContent);
  return {shown: shown.length, wrapped};
}"""


#: The board table's column headers laid out on more than one line (one client rectangle
#: top per line of a Range over the header's text), and any cut short.
WRAPPED_HEADERS_JS = """() => [...document.querySelectorAll('#leaderboard-table th .header')]
  .filter(h => { const r = document.createRange(); r.selectNodeContents(h);
                 const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
                 return lines.size > 1 || h.scrollWidth > h.clientWidth + 1; })
  .map(h => h.textContent.trim())"""


def open_board(page: Page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#arena-prompt textarea:enabled", timeout=30_000)
    page.click("#tab-leaderboard-button")


def test_table_and_charts_show_the_latest_run(
    browser, board_app: RunningApp, latest_run: RatingRun, artifacts: Path
) -> None:
    run = latest_run
    ratings = {r.model: r for r in run.ratings}
    assert set(ratings) == set(MODELS)

    for lang, locale in (("ja", "ja-JP"), ("en", "en-US")):
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        open_board(page, board_app.url)
        table = page.locator("#leaderboard-table")
        expect(table).to_contain_text(ANCHOR, timeout=15_000)
        info = page.inner_text("#leaderboard-info")
        assert f"{run.votes_used:,}" in info
        for name, r in ratings.items():
            row = table.locator(".virtual-row[role=row]", has_text=name)
            cells = row.locator("[role=gridcell]").all_inner_texts()
            text = " | ".join(cells)
            assert str(round(r.rating)) in text, text
            assert f"+{r.ci_upper - r.rating:.0f}/-{r.rating - r.ci_lower:.0f}" in text, text
            assert str(r.battles) in text and f"{r.win_rate:.2f}" in text, text
            assert ("オープン" if lang == "ja" else "open") in text or (
                "非公開" if lang == "ja" else "closed"
            ) in text
            chart = page.locator("#chart-ratings li", has_text=name)
            assert chart.get_attribute("aria-label").startswith(f"{name}: {r.rating:.0f}")
            for heat in ("#leaderboard-winfrac", "#leaderboard-counts"):
                expect(page.locator(heat)).to_contain_text(name)
        assert table.locator(".virtual-row[role=row]").count() == len(MODELS)
        expect(page.locator("#leaderboard-history")).to_be_visible()
        headers = " ".join(table.locator("[role=columnheader]").all_inner_texts())
        for word in ("順位", "勝率", "対戦回数") if lang == "ja" else ("Rank", "Win rate"):
            assert word in headers
        assert "Japanese MT-Bench" in headers and "Nejumi" in headers
        page.screenshot(path=str(artifacts / f"leaderboard-{lang}-desktop.png"), full_page=True)
        # sortable: the column menu's "ascending" puts the fewest battles first
        header = table.locator(
            "[role=columnheader]", has_text="対戦回数" if lang == "ja" else "Battles"
        )
        header.hover()
        header.locator("button").click()
        page.locator("[role=menu]").get_by_text(re.compile("昇順|ascending", re.I)).click()
        fewest = min(ratings.values(), key=lambda r: r.battles).model
        expect(table.locator(".virtual-row[role=row]").first).to_contain_text(fewest)
        context.close()


@pytest.mark.parametrize("width, height", [(375, 812), (390, 844)])
def test_leaderboard_on_a_phone(
    browser, board_app: RunningApp, latest_run: RatingRun, artifacts: Path, width: int, height: int
) -> None:
    context = browser.new_context(
        locale="ja-JP",
        viewport={"width": width, "height": height},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    goto_leaderboard(page, board_app.url)
    expect(page.locator("#leaderboard-table")).to_contain_text(ANCHOR, timeout=15_000)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    # Each column's header on one line ("順位(UB)" broke after every character): the
    # table scrolls sideways in its box instead.
    headers = page.locator("#leaderboard-table th .header")
    expect(headers.first).to_contain_text("順位")
    assert headers.count() >= 6 and page.evaluate(WRAPPED_HEADERS_JS) == []
    # The run's info wraps above the reload button: not a narrow column beside it.
    info = page.locator("#leaderboard-info").bounding_box()
    reload = page.locator("#leaderboard-refresh").bounding_box()
    assert info is not None and reload is not None
    assert info["width"] >= 0.8 * width, (info, width)
    assert reload["y"] >= info["y"] + info["height"] - 1, (info, reload)
    # The heatmaps' numbers stay on one line each ("0.33" once broke after "0."): the
    # table scrolls sideways inside its box instead.
    expect(page.locator("#leaderboard-winfrac .ta-heat td").first).to_be_attached()
    cells = page.evaluate(WRAPPED_CELLS_JS)
    assert cells["shown"] >= 2 * len(MODELS) * (len(MODELS) - 1), cells
    assert cells["wrapped"] == [], cells
    # ... and the two heatmaps stand one under the other, each the screen's width.
    heats = [
        page.locator(h).bounding_box() for h in ("#leaderboard-winfrac", "#leaderboard-counts")
    ]
    assert all(h is not None and h["width"] >= 0.8 * width for h in heats), (heats, width)
    assert heats[1]["y"] >= heats[0]["y"] + heats[0]["height"] - 1, heats
    name = "leaderboard-ja-phone.png" if width == 375 else f"leaderboard-ja-phone-{width}.png"
    page.screenshot(path=str(artifacts / name), full_page=True)
    context.close()
