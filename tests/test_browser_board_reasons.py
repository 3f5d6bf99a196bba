"""The leaderboard's reasons and then-and-now views in Chromium (ja, en; desktop, phone).

The app runs on four loopback models, three of them named as in the seed report. Votes,
reasons and thumbs go straight into its SQLite file (one reasoned vote then voided, so
its reasons must not show), ``arena.recompute`` stores a run, and the page must show the
counts worked out here from the inserted rows, and the report's places beside today's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from arena.db import make_engine
from arena.db.models import Battle, Model, Reaction, Side, Vote, VoteReason
from arena.feedback import BAD, GOOD
from arena.recompute import recompute
from arena.seed_report import REPORT
from tests.conftest import RunningApp
from tests.test_browser_anonymity import PROVIDER
from tests.test_browser_board_states import VISIBLE_TEXT_JS, goto_leaderboard, latin_only
from tests.test_ui_stats import seed_votes

pytestmark = pytest.mark.browser

ANCHOR = "Tanuki-8B-dpo-v1.0"
STRENGTHS = {
    "Tanuki-8B-dpo-v1.0": 1000,  # the report's 9th
    "Tanuki-8x8B-dpo-v1.0": 1100,  # 4th
    "Calm3-22b-chat": 1200,  # 7th
    "Newcomer-Q-9B": 1050,  # not in the report
}
REPORT_PLACE = {"Tanuki-8B-dpo-v1.0": 9, "Tanuki-8x8B-dpo-v1.0": 4, "Calm3-22b-chat": 7}
REPORT_RATING = {"Tanuki-8B-dpo-v1.0": 1000, "Tanuki-8x8B-dpo-v1.0": 1099, "Calm3-22b-chat": 1067}
WORDS = {
    "ja": {"natural_japanese": "自然な日本語", "mixed_languages": "英語や中国語が混ざる",
           "new": "新規", "gone": "今回は評価なし", "unpublished": "未公表",
           "reasons": "理由", "then_now": "報告時と現在"},
    "en": {"natural_japanese": "Natural Japanese", "mixed_languages": "English or Chinese mixed in",
           "new": "new", "gone": "not rated now", "unpublished": "not published",
           "reasons": "Reasons", "then_now": "Then and now"},
}  # fmt: skip


def config() -> str:
    parts = [f'[arena]\nrating_anchor = "{ANCHOR}"\nretries = 0\nprovisional_every_minutes = 0\n']
    for i, name in enumerate(STRENGTHS):  # never called: a closed port stands in
        parts.append(
            f'[[models]]\nname = "{name}"\nprovider = "{PROVIDER}"\nmodel = "m{i}"\n'
            f'base_url = "http://127.0.0.1:9/v1"\nweights = "open"\n'
        )
    return "\n".join(parts)


@pytest.fixture(scope="module")
def reasons_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = RunningApp(tmp_path_factory.mktemp("ui-board-reasons"), config())
    yield app
    app.stop()


@pytest.fixture(scope="module")
def filled(reasons_app: RunningApp) -> tuple[dict, object]:
    """Votes, reasons and thumbs; the expected figures per model and the stored run."""
    app = reasons_app
    expected = {m: {"with": 0, "tags": Counter(), "up": 0, "down": 0} for m in STRENGTHS}
    engine = make_engine(app.database_url)
    try:
        with Session(engine) as s:
            seed_votes(s, STRENGTHS, 600, seed=5)
            s.commit()
            ma, mb = aliased(Model), aliased(Model)
            battles = s.execute(
                select(Battle.id, ma.name, mb.name)
                .join(ma, ma.id == Battle.model_a_id)
                .join(mb, mb.id == Battle.model_b_id)
                .order_by(Battle.id)
            ).all()
            for k, (bid, a, b) in enumerate(battles):
                tags = []
                if k % 3 == 0:  # one vote in three with reasons, on either side or both
                    tags += [(Side.A, GOOD[k % 5], a), (Side.B, BAD[k % 7], b)]
                if k % 6 == 0:
                    tags.append((Side.A, BAD[(k // 6) % 8], a))
                if k % 7 == 0:  # reasons for B alone on some of these
                    tags.append((Side.B, GOOD[(k // 7) % 6], b))
                thumbs = [(Side.A, 1, a), (Side.B, -1, b)] if k % 5 == 0 else []
                s.add_all(VoteReason(battle_id=bid, side=side, tag=tag) for side, tag, _ in tags)
                s.add_all(Reaction(battle_id=bid, turn=1, side=side, value=v)
                          for side, v, _ in thumbs)  # fmt: skip
                if k == 0:  # reasons and thumbs of a vote voided later: never shown
                    s.execute(update(Vote).where(Vote.battle_id == bid).values(voided=True))
                    continue
                if tags:
                    expected[a]["with"] += 1
                    expected[b]["with"] += 1
                for _, tag, model in tags:
                    expected[model]["tags"][tag] += 1
                for _, v, model in thumbs:
                    expected[model]["up" if v > 0 else "down"] += 1
            s.commit()
        run = recompute(engine, anchor=ANCHOR)
    finally:
        engine.dispose()
    return expected, run


def open_sub_tab(page: Page, url: str, which: str) -> None:
    goto_leaderboard(page, url)
    expect(page.locator("#leaderboard-info")).to_contain_text("2", timeout=15_000)
    page.click(f"#leaderboard-{which}-tab-button")


def check_reasons(page: Page, expected: dict, lang: str) -> None:
    expect(page.locator("#reasons-good")).to_be_visible(timeout=15_000)
    words = WORDS[lang]
    for kind, tags in (("good", GOOD), ("bad", BAD)):
        table = page.locator(f"#reasons-{kind}")
        expect(table.locator("thead")).to_contain_text(words["natural_japanese" if kind == "good"
                                                             else "mixed_languages"])  # fmt: skip
        for model, want in expected.items():
            row = table.locator(f'tr[data-model="{model}"]')
            assert row.locator("td.rs-n").inner_text() == f"{want['with']:,}"
            thumbs = want["up"] if kind == "good" else want["down"]
            assert row.locator("td.rs-thumbs").inner_text() == f"{thumbs:,}"
            shown = row.locator("td[data-tag]").all_inner_texts()
            assert len(shown) == len(tags)
            for tag, text in zip(tags, shown, strict=True):
                n = want["tags"][tag]
                assert text.split() == [f"{n / want['with']:.0%}", f"{n:,}"], (model, tag)
    # the leaderboard's order: best-rated first
    assert page.locator("#reasons-good tbody tr").first.get_attribute("data-model") == (
        "Calm3-22b-chat"
    )


def check_then_now(page: Page, run: object, lang: str) -> None:
    expect(page.locator("#then-now-figure")).to_be_visible(timeout=15_000)
    words = WORDS[lang]
    rated = sorted(run.ratings, key=lambda r: -r.rating)
    for r in rated:
        place = 1 + sum(o.rating > r.rating for o in rated)
        cells = page.locator(f'#then-now-figure tr[data-model="{r.model}"] td').all_inner_texts()
        ci = f"+{r.ci_upper - r.rating:.0f}/-{r.rating - r.ci_lower:.0f}"
        assert cells[3:6] == [str(place), f"{r.rating:.0f}", ci]
        if r.model in REPORT_PLACE:
            gained = REPORT_PLACE[r.model] - place
            change = "±0" if not gained else f"{'↑' if gained > 0 else '↓'}{abs(gained)}"
            assert cells[:3] == [str(REPORT_PLACE[r.model]), str(REPORT_RATING[r.model]),
                                 words["unpublished"]]  # fmt: skip
            assert cells[6] == change, (r.model, cells)
        else:
            assert cells[:3] == ["—", "—", "—"] and cells[6] == words["new"]
    gone = page.locator('#then-now-figure tr[data-model="GPT-4o-2024-05-13"] td').all_inner_texts()
    assert gone[:2] == ["1", "1178"] and gone[3:6] == ["—"] * 3 and gone[6] == words["gone"]


def test_reasons_and_then_now_on_desktop(
    browser, reasons_app: RunningApp, filled: tuple, artifacts: Path
) -> None:
    expected, run = filled
    assert {r.model for r in run.ratings} == set(STRENGTHS)
    for lang, locale in (("ja", "ja-JP"), ("en", "en-US")):
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        open_sub_tab(page, reasons_app.url, "reasons")
        expect(page.locator("#leaderboard-reasons-tab-button")).to_have_text(WORDS[lang]["reasons"])
        check_reasons(page, expected, lang)
        if lang == "ja":
            bad = latin_only(page.evaluate(VISIBLE_TEXT_JS), list(STRENGTHS))
            assert bad == [], f"Latin-only text in the Japanese reasons view: {bad}"
        page.screenshot(path=str(artifacts / f"leaderboard-reasons-{lang}.png"), full_page=True)
        page.click("#leaderboard-then-now-tab-button")
        check_then_now(page, run, lang)
        if lang == "ja":
            names = [*STRENGTHS, *(row.model for row in REPORT)]
            bad = latin_only(page.evaluate(VISIBLE_TEXT_JS), names)
            assert bad == [], f"Latin-only text in the Japanese then-and-now view: {bad}"
        page.screenshot(path=str(artifacts / f"leaderboard-then-now-{lang}.png"), full_page=True)
        context.close()


def test_reasons_and_then_now_on_a_phone(
    browser, reasons_app: RunningApp, filled: tuple, artifacts: Path
) -> None:
    expected, run = filled
    for lang, locale in (("ja", "ja-JP"), ("en", "en-US")):
        context = browser.new_context(
            locale=locale, viewport={"width": 375, "height": 812}, is_mobile=True,
            has_touch=True, device_scale_factor=2,
        )  # fmt: skip
        page = context.new_page()
        open_sub_tab(page, reasons_app.url, "reasons")
        check_reasons(page, expected, lang)
        # wide tables scroll inside their box; the page itself does not
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth + 1")
        page.screenshot(
            path=str(artifacts / f"leaderboard-reasons-{lang}-phone.png"), full_page=True
        )
        page.click("#leaderboard-then-now-tab-button")
        check_then_now(page, run, lang)
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth + 1")
        page.screenshot(
            path=str(artifacts / f"leaderboard-then-now-{lang}-phone.png"), full_page=True
        )
        context.close()
