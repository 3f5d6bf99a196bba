"""The leaderboard's category filter in Chromium (issue 15 item 2), in Japanese and English.

One app on a SQLite file, with three kinds of blind battles stored in the tagging columns
the arena fills (``battles.prompt_language`` and ``battle_categories``): coding battles
(English prompts, tagged ``coding``), general ones (Japanese prompts, untagged) and a
handful tagged ``math``. Each kind is a balanced round robin with its own strength order,
so the coding board runs opposite to the whole one; a balanced round robin's
Bradley-Terry order is the order of its wins, so the test knows each board's order,
battles and win rates from the seeded rows alone. The page is driven through the radio
(``#leaderboard-category``), with the style switch, to a category with too few votes and
back to "all"; then on a phone-sized screen. Handler and API tests:
tests/test_categories.py.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PageTimeout
from sqlalchemy import insert, select

from arena.db import make_engine, session_factory
from arena.db.models import Battle, BattleCategory, RatingRun, Winner
from arena.recompute import recompute
from tests.conftest import RunningApp
from tests.test_browser_board_states import (
    ANCHOR,
    M,
    P,
    Q,
    Z,
    board_config,
    goto_leaderboard,
    open_board,
    rows,
)
from tests.test_style_board import _store

pytestmark = pytest.mark.browser

A, B = Winner.MODEL_A, Winner.MODEL_B
MIN_VOTES = 20
#: Best first, per kind of battle: coding runs opposite to the general battles.
CODING_ORDER, GENERAL_ORDER, MATH_ORDER = (M, P, Z, Q), (Q, Z, P, M), (M, P, Z, Q)
TIMEOUT = 15_000

#: Each table row's model and battles cells (the columns after rank), read in the page.
TABLE_JS = """() => [...document.querySelectorAll("#leaderboard-table .virtual-row[role=row]")]
  .map((r) => [...r.querySelectorAll("[role=gridcell]")].map((c) => c.innerText.trim()))
  .map((cells) => [cells[1], cells[5]])"""


def round_robin(order: tuple[str, ...], per_pair: int, wins: int, coding: bool) -> list[tuple]:
    """Every pair of ``order`` meets ``per_pair`` times, sides alternating; the better of
    the two (earlier in ``order``) wins ``wins`` of them. Rows as tests.test_style_board's
    ``_store`` takes them: (model_a, model_b, tokens_a, tokens_b, winner, coding)."""
    out = []
    for i, better in enumerate(order):
        for worse in order[i + 1 :]:
            for k in range(per_pair):
                a, b = (better, worse) if k % 2 == 0 else (worse, better)
                better_won = k < wins
                winner = A if (a == better) == better_won else B
                # lengths that vary, so the style fit has something to fit
                out.append((a, b, 250 + 40 * (k % 7), 250 + 40 * ((k + 3) % 7), winner, coding))
    return out


CODING = round_robin(CODING_ORDER, 24, 16, coding=True)
GENERAL = round_robin(GENERAL_ORDER, 60, 42, coding=False)
MATH = round_robin(MATH_ORDER, 1, 1, coding=False)  # 6 votes, 3 a model: too few


def expected(design: list[tuple]) -> list[tuple[str, int, float]]:
    """(model, battles, win rate) best first: by wins, as a balanced round robin ranks."""
    battles, wins = Counter(), Counter()
    for a, b, _, _, winner, _ in design:
        battles[a] += 1
        battles[b] += 1
        wins[a if winner == A else b] += 1
    assert len(set(wins.values())) == len(wins), "the design must not tie on wins"
    order = sorted(battles, key=lambda m: -wins[m])
    return [(m, battles[m], wins[m] / battles[m]) for m in order]


@pytest.fixture(scope="module")
def cat_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = RunningApp(tmp_path_factory.mktemp("ui-categories"), board_config())
    yield app
    app.stop()


@pytest.fixture(scope="module")
def run(cat_app: RunningApp) -> RatingRun:
    """The battles stored and tagged, and one rating run over them."""
    engine = make_engine(cat_app.database_url)
    try:
        at = datetime.now(UTC) - timedelta(minutes=5)
        _store(engine, CODING + GENERAL, at)  # coding: "en" + tag; general: "ja", no tag
        with session_factory(engine)() as s:
            before = set(s.scalars(select(Battle.id)))
        _store(engine, MATH, at)
        with session_factory(engine)() as s, s.begin():
            new = set(s.scalars(select(Battle.id))) - before
            assert len(new) == len(MATH)
            s.execute(insert(BattleCategory), [{"battle_id": i, "category": "math"} for i in new])
        stored = recompute(engine, anchor=ANCHOR, min_votes=MIN_VOTES)
    finally:
        engine.dispose()
    # Nothing screened out: the whole board is every seeded vote.
    assert stored.votes_used == len(CODING + GENERAL + MATH)
    return stored


# -- driving the page -----------------------------------------------------------------


def pick(page: Page, control: str, label: str, *, tap: bool = False) -> None:
    """Choose ``label`` in the radio ``control`` (``category`` or ``style``), as a volunteer:
    a click, or on a phone a tap."""
    option = page.locator(f"#leaderboard-{control}").get_by_label(label, exact=True)
    expect(option).to_be_enabled(timeout=TIMEOUT)
    if tap:
        option.tap()
    else:
        option.click()
    expect(option).to_be_checked(timeout=TIMEOUT)


def wait_table(page: Page, want: list[tuple[str, int, float]]) -> None:
    """Wait until the sortable table shows ``want``'s models, in order, with their
    battles; then check every row's win rate."""
    cells = [[m, str(n)] for m, n, _ in want]
    same = f"(want) => JSON.stringify(({TABLE_JS})()) === JSON.stringify(want)"
    with contextlib.suppress(PageTimeout):  # the assertion below says what it shows instead
        page.wait_for_function(same, arg=cells, timeout=TIMEOUT)
    assert page.evaluate(TABLE_JS) == cells
    shown = rows(page)
    for model, _, win_rate in want:
        assert shown[model].split(" | ")[4] == f"{win_rate:.2f}", shown[model]


def wait_info(page: Page, text: str) -> str:
    """Wait until the board's info line holds ``text``; return the whole line."""
    expect(page.locator("#leaderboard-info")).to_contain_text(text, timeout=TIMEOUT)
    return page.inner_text("#leaderboard-info")


def assert_clean(page: Page, app: RunningApp) -> None:
    """No error toast, no error in the tab, no traceback in the server's log."""
    assert page.locator(".toast-body, [data-testid='toast-body']").count() == 0
    tab = page.inner_text("#tab-leaderboard")
    assert "エラー" not in tab and "Error" not in tab, tab
    log = app.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= innerWidth + 1")


#: The words the page uses, per language.
WORDS = {
    "ja": {
        "all": "すべて", "coding": "プログラミング", "math": "数学", "lang": "日本語のプロンプト",
        "plain": "通常", "style": "スタイル制御", "run": "使用した投票数：{n}",
        "cat": "「{c}」の対戦だけで計算したレーティングです：使用した投票数 {n}",
        "style_scope": "「{c}」の対戦の投票 {n} 票",
        "too_few": "「{c}」の対戦の投票はまだ {n} 票で、レーティングを付けるには足りません"
        "（1モデルあたり {k} 票以上が必要です）",
        "few": "投票数がまだ足りません", "failed": "計算できませんでした",
    },
    "en": {
        "all": "All", "coding": "Coding", "math": "Math", "lang": "English prompts",
        "plain": "Plain", "style": "Style-controlled", "run": "from {n} votes",
        "cat": "Ratings fitted on the “{c}” battles alone: {n} votes",
        "style_scope": "{n} votes of the “{c}” battles",
        "too_few": "Too few votes in “{c}” so far: {n} votes, and a model needs {k} to be rated",
        "few": "not enough votes yet", "failed": "could not be fitted",
    },
}  # fmt: skip


def check_category(page: Page, w: dict[str, str], label: str, design: list[tuple]) -> None:
    """Pick the category ``label`` whose battles are ``design``: its own votes and table."""
    pick(page, "category", label)
    wait_info(page, w["cat"].format(c=label, n=len(design)))
    wait_table(page, expected(design))
    assert page.inner_text("#leaderboard-history").strip() == ""  # the main board's only


def check_style(page: Page, w: dict[str, str], design: list[tuple]) -> None:
    """With the coding category picked, the style switch shows the style-controlled board
    of the coding battles: their votes, every model with its coding battles, the plain
    ratings on the same votes in the coding board's order."""
    pick(page, "style", w["style"])
    wait_info(page, w["style_scope"].format(c=w["coding"], n=len(design)))
    want = expected(design)
    body = page.locator("#leaderboard-style-table tbody tr")
    expect(body).to_have_count(len(want), timeout=TIMEOUT)
    expect(page.locator("#leaderboard-table")).to_be_hidden()
    cells = [body.nth(k).locator("td, th").all_inner_texts() for k in range(len(want))]
    by_model = {c[2]: c for c in cells}
    assert set(by_model) == {m for m, _, _ in want}
    for model, battles, _ in want:
        assert by_model[model][8] == str(battles), by_model[model]
    plain = sorted(by_model, key=lambda m: -int(by_model[m][6]))  # plain rating, best first
    assert plain == [m for m, _, _ in want], cells
    assert w["failed"] not in page.inner_text("#leaderboard-info")
    pick(page, "style", w["plain"])
    wait_info(page, w["cat"].format(c=w["coding"], n=len(design)))
    wait_table(page, want)


def check_too_few(page: Page, w: dict[str, str], app: RunningApp) -> None:
    """A category with too few votes: the page's own message, no table, each model listed
    as not rated yet with its battles in that category; no error."""
    pick(page, "category", w["math"])
    info = wait_info(page, w["too_few"].format(c=w["math"], n=len(MATH), k=MIN_VOTES))
    assert w["cat"].format(c=w["math"], n=len(MATH)) in info
    expect(page.locator("#leaderboard-table")).to_be_hidden()
    unrated = page.inner_text("#leaderboard-unrated")
    for model, battles, _ in expected(MATH):
        assert re.search(rf"{model}\s+{battles}\s+{w['few']}", unrated), unrated
    assert page.inner_text("#leaderboard-chart").strip() == ""
    assert_clean(page, app)


def test_the_filter_in_japanese_and_english(
    browser, cat_app: RunningApp, run: RatingRun, artifacts: Path
) -> None:
    everything = expected(CODING + GENERAL + MATH)
    assert [m for m, _, _ in everything] == [Q, Z, P, M]
    assert [m for m, _, _ in expected(CODING)] == [M, P, Z, Q]  # the reverse
    for lang, locale in (("ja", "ja-JP"), ("en", "en-US")):
        w = WORDS[lang]
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        open_board(page, cat_app.url)
        wait_info(page, w["run"].format(n=run.votes_used))
        wait_table(page, everything)
        expect(
            page.locator("#leaderboard-category").get_by_label(w["all"], exact=True)
        ).to_be_checked()

        check_category(page, w, w["coding"], CODING)
        page.screenshot(path=str(artifacts / f"leaderboard-coding-{lang}.png"), full_page=True)
        check_style(page, w, CODING)
        # a prompt language: Japanese prompts are the general and math battles, English
        # prompts the coding ones
        check_category(page, w, w["lang"], GENERAL + MATH if lang == "ja" else CODING)
        check_too_few(page, w, cat_app)
        if lang == "en":  # the style switch on a category with too few votes
            pick(page, "style", w["style"])
            info = wait_info(page, w["style_scope"].format(c=w["math"], n=len(MATH)))
            assert w["too_few"].format(c=w["math"], n=len(MATH), k=MIN_VOTES) in info, info
            expect(page.locator("#leaderboard-style-table")).not_to_contain_text(M)
            pick(page, "style", w["plain"])
            wait_info(page, w["cat"].format(c=w["math"], n=len(MATH)))
        page.screenshot(path=str(artifacts / f"leaderboard-too-few-{lang}.png"), full_page=True)

        pick(page, "category", w["all"])  # back to the whole board
        info = wait_info(page, w["run"].format(n=run.votes_used))
        assert w["cat"].format(c=w["math"], n=len(MATH)) not in info
        wait_table(page, everything)
        assert_clean(page, cat_app)
        context.close()


def test_the_filter_on_a_phone(
    browser, cat_app: RunningApp, run: RatingRun, artifacts: Path
) -> None:
    w = WORDS["ja"]
    width = 390
    context = browser.new_context(
        locale="ja-JP", viewport={"width": width, "height": 844}, is_mobile=True,
        has_touch=True, device_scale_factor=2,
    )  # fmt: skip
    page = context.new_page()
    goto_leaderboard(page, cat_app.url, tap=True)
    wait_info(page, w["run"].format(n=run.votes_used))
    wait_table(page, expected(CODING + GENERAL + MATH))
    # every choice on the screen, none cut off at the side
    radio = page.locator("#leaderboard-category")
    options = radio.locator("label")
    assert options.count() >= 9  # all, two languages, six categories
    for k in range(options.count()):
        box = options.nth(k).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (k, box)
    assert no_sideways_scroll(page)

    pick(page, "category", w["math"], tap=True)
    wait_info(page, w["too_few"].format(c=w["math"], n=len(MATH), k=MIN_VOTES))
    assert no_sideways_scroll(page)
    pick(page, "category", w["coding"], tap=True)
    wait_info(page, w["cat"].format(c=w["coding"], n=len(CODING)))
    wait_table(page, expected(CODING))
    assert no_sideways_scroll(page)
    page.screenshot(path=str(artifacts / "leaderboard-coding-ja-phone.png"), full_page=True)
    pick(page, "category", w["all"], tap=True)
    wait_table(page, expected(CODING + GENERAL + MATH))
    assert no_sideways_scroll(page)
    assert_clean(page, cat_app)
    context.close()
