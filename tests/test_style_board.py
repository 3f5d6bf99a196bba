"""The style-controlled leaderboard (issue 15 item 1): arena.style_board on votes whose
winner depends on answer length, its rank changes against the plain board, the filter by
category, the cache per run, the page's toggle and ``/api/leaderboard?style=1``; SQLite
and PostgreSQL.

The votes are drawn (seeded) from the style-control model itself: three models whose
strengths run opposite to their answers' lengths, and voters who favour the longer
answer. Plainly the wordiest model wins; with length held equal the most concise one
does. Every third battle is stored as the arena stored them before ``battles.meta`` kept
the counts, so its counts come from its messages.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from arena.api import create_api
from arena.battles import Arena
from arena.config import Settings
from arena.dataset import with_conv_metadata
from arena.db import make_engine, migrate, session_factory, stats
from arena.db.models import (
    Battle,
    BattleCategory,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Side,
    Vote,
    Voter,
    Winner,
)
from arena.recompute import recompute
from arena.style_board import ALL, style_board
from arena.ui.board_views import rank_change
from arena.ui.i18n import gr_i18n
from arena.ui.leaderboard import LeaderboardTab
from ratings import WINNER_CODES, fit_style
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.test_browser_board_states import goto_leaderboard

ANCHOR = "Middling"
#: True strengths (log-odds), typical answer lengths (tokens), and the voters' taste for
#: length: log-odds per unit of the normalised length difference (a - b) / (a + b + 1).
STRENGTH = {"Concise": 1.6, "Middling": 0.8, "Wordy": 0.0}
LENGTH = {"Concise": 200, "Middling": 500, "Wordy": 1200}
TASTE = 5.0
PER_PAIR = 300
CODING = "Write a Python function that reverses a list."


def _design(seed: int) -> list[tuple[str, str, int, int, Winner, bool]]:
    """(model_a, model_b, tokens_a, tokens_b, winner, coding) per battle, seeded."""
    rng = np.random.default_rng(seed)
    names = list(STRENGTH)
    out = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            for k in range(PER_PAIR):
                a, b = (first, second) if k % 2 else (second, first)
                la, lb = (round(LENGTH[m] * np.exp(rng.normal(0, 0.6))) for m in (a, b))
                x = (la - lb) / (la + lb + 1)
                p = 1 / (1 + np.exp(-(STRENGTH[a] - STRENGTH[b] + TASTE * x)))
                winner = Winner.MODEL_A if rng.random() < p else Winner.MODEL_B
                out.append((a, b, la, lb, winner, k % 4 < 2))
    return out


def _store(engine: Engine, design, at: datetime, *, meta_every: int = 3) -> int:
    """Store ``design`` as voted blind battles (each its own voter); every ``meta_every``-th
    without ``battles.meta``. Returns how many were stored without it."""
    without = 0
    with session_factory(engine)() as s, s.begin():
        ids = dict(s.execute(select(Model.name, Model.id)).all())
        voters = s.scalars(
            insert(Voter).returning(Voter.id, sort_by_parameter_order=True),
            [{"token": "voter-" + secrets.token_hex(12)} for _ in design],
        ).all()
        battles, messages, votes, tags = [], [], [], []
        for k, (row, voter) in enumerate(zip(design, voters, strict=True)):
            a, b, la, lb, winner, coding = row
            bid = secrets.token_hex(16)
            prompt = CODING if coding else "日本の城について教えて"
            turn = [
                dict(battle_id=bid, side=side, turn=1, role=role, content=text,
                     completion_tokens=tokens if role == "assistant" else None)
                for side, tokens in ((Side.A, la), (Side.B, lb))
                for role, text in (("user", prompt), ("assistant", "答え"))
            ]  # fmt: skip
            meta = None
            if k % meta_every:
                meta = with_conv_metadata(None, [Message(**m) for m in turn])
            else:
                without += 1
            battles.append(
                dict(id=bid, voter_id=voter, model_a_id=ids[a], model_b_id=ids[b],
                     mode=BattleMode.ANONY, status=BattleStatus.VOTED, turns=1, meta=meta,
                     prompt_language="en" if coding else "ja", created_at=at)
            )  # fmt: skip
            messages += turn
            votes.append(dict(battle_id=bid, voter_id=voter, winner=winner, created_at=at,
                              seconds_to_vote=30.0))  # fmt: skip
            if coding:
                tags.append(dict(battle_id=bid, category="coding"))
        s.execute(insert(Battle), battles)
        s.execute(insert(Message), messages)
        s.execute(insert(Vote), votes)
        if tags:
            s.execute(insert(BattleCategory), tags)
    return without


#: A fourth model with too few votes to be rated (the run's threshold is 20).
RARE = [("Rare", "Middling", 300, 300, Winner.MODEL_A, False)] * 5


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def played(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, list, int]]:
    """A database with the design's votes and one run (threshold 20 votes), then votes
    cast after the run; yields the engine, the design and the battles stored without
    their counts."""
    if request.param == "sqlite":
        url, admin = f"sqlite:///{tmp_path_factory.mktemp('style') / 'arena.db'}", None
    else:
        admin = request.getfixturevalue("pg_admin")
        url = _create_pg_database(admin)
    engine = make_engine(url)
    try:
        migrate(engine)
        with session_factory(engine)() as s, s.begin():
            s.add_all(Model(name=n, provider="openai", weights="open") for n in (*STRENGTH, "Rare"))
        design = _design(seed=7)
        before = datetime.now(UTC) - timedelta(minutes=5)
        without = _store(engine, design + RARE, before)
        recompute(engine, anchor=ANCHOR, min_votes=20)
        later = [(a, b, la, lb, Winner.MODEL_B, c) for a, b, la, lb, _, c in design[:50]]
        _store(engine, later, datetime.now(UTC) + timedelta(days=1))  # after the run
        yield engine, design, without
    finally:
        engine.dispose()
        if admin is not None:
            _drop_pg_database(admin, url)


def _expected(design, keep=lambda coding: True) -> dict[str, tuple[float, float, float]]:
    """The style fit on the design's own numbers: (rating, lower, upper) per model."""
    rows = [d for d in design if keep(d[5])]
    names = sorted(STRENGTH)
    a = np.array([names.index(r[0]) for r in rows])
    b = np.array([names.index(r[1]) for r in rows])
    outcome = np.array([WINNER_CODES[r[4].value] for r in rows])
    la, lb = np.array([r[2] for r in rows], float), np.array([r[3] for r in rows], float)
    features = np.zeros((len(rows), 4))
    features[:, 0] = (la - lb) / (la + lb + 1)  # the other three never vary here
    fit = fit_style(a, b, outcome, features, n_models=3, anchor=names.index(ANCHOR))
    r = fit.ratings
    return {names[i]: (r.rating[k], r.ci_lower[k], r.ci_upper[k]) for k, i in enumerate(r.models)}


def test_style_control_reverses_the_length_driven_order(played) -> None:
    engine, design, without = played
    with session_factory(engine)() as s:
        run = stats.latest_run(s)
        plain = {r.model: r.rank for r in stats.board(s, run.id)}
        board = style_board(s, run)
    # Plainly, the longer the answers the higher the model; with length held equal the
    # true order (Concise > Middling > Wordy) comes back, every interval apart.
    assert plain == {"Wordy": 1, "Middling": 2, "Concise": 3}
    assert [r.model for r in board.rows] == ["Concise", "Middling", "Wordy"]
    assert [r.rank for r in board.rows] == [1, 2, 3]
    assert {m: p.rank for m, p in board.plain.items()} == plain  # the same votes as the run
    # Rank changes by hand: Concise 3 -> 1 (up 2), Middling 2 -> 2, Wordy 1 -> 3 (down 2).
    assert {r.model: board.change(r.model) for r in board.rows} == {
        "Concise": 2,
        "Middling": 0,
        "Wordy": -2,
    }
    assert board.votes == len(design) + len(RARE)  # the later votes are not in this run
    assert board.from_messages == without > 0
    assert [(u.model, u.battles, u.reason) for u in board.unrated] == [("Rare", 5, "few_votes")]
    want = _expected(design)
    got = {r.model: (r.rating, r.ci_lower, r.ci_upper) for r in board.rows}
    for model, values in want.items():
        assert got[model] == pytest.approx(values, abs=1e-6)
    assert got["Middling"][0] == pytest.approx(1000)  # the run's anchor
    length = board.coefficient("length")
    assert length.points > 0 and length.lower > 0  # the longer answer is favoured
    assert board.coefficient("headers").points is None  # never varied: no coefficient
    assert board.pairs.models == ["Concise", "Middling", "Wordy"]
    assert board.pairs.battles[0, 2] == PER_PAIR


def test_the_style_board_of_a_category(played) -> None:
    engine, design, _ = played
    with session_factory(engine)() as s:
        run = stats.latest_run(s)
        coding = style_board(s, run, "coding")
        with pytest.raises(ValueError):
            style_board(s, run, "poetry")
    assert coding.category == "coding"
    assert coding.votes == sum(1 for d in design if d[5])
    want = _expected(design, keep=lambda is_coding: is_coding)
    got = {r.model: (r.rating, r.ci_lower, r.ci_upper) for r in coding.rows}
    assert set(got) == set(want)
    for model, values in want.items():
        assert got[model] == pytest.approx(values, abs=1e-6)


def test_boards_are_kept_per_run(engine: Engine) -> None:
    with session_factory(engine)() as s, s.begin():
        s.add_all(Model(name=n, provider="openai", weights="open") for n in STRENGTH)
    design = _design(seed=3)
    _store(engine, design[::5], datetime.now(UTC) - timedelta(minutes=5))
    recompute(engine, anchor=ANCHOR)
    with session_factory(engine)() as s:
        run = stats.latest_run(s)
        first = style_board(s, run)
        assert style_board(s, run) is first
        assert style_board(s, run, "coding") is not first
    assert first.votes == len(design[::5])
    # A new run (taking the votes cast since) gets its own board; the old one stays.
    _store(engine, design[1::25], datetime.now(UTC) - timedelta(seconds=1))
    newer = recompute(engine, anchor=ANCHOR)
    with session_factory(engine)() as s:
        latest = stats.latest_run(s)
        assert latest.id == newer.id != run.id
        again = style_board(s, latest)
        assert again is not first and again.votes == first.votes + len(design[1::25])
        assert style_board(s, run) is first


def test_rank_change_marks() -> None:
    up, down, same = rank_change(2, "en"), rank_change(-1, "ja"), rank_change(0, "en")
    assert '<span aria-hidden="true" style="color:#007a55">▲2</span>' in up
    assert '<span class="sr-only">2 places higher than plain</span>' in up
    assert "▼1</span>" in down and '<span class="sr-only">通常より1つ下</span>' in down
    assert "–</span>" in same and "same rank as plain" in same
    assert rank_change(None, "en") == "—"


@pytest.fixture(scope="module")
def i18n() -> gr.I18n:
    return gr_i18n(turns=5, chars=4000)


def test_the_leaderboard_toggle(played, i18n: gr.I18n) -> None:
    engine, *_ = played
    tab = LeaderboardTab(session_factory(engine), Settings())
    with gr.Blocks():
        tab.build(i18n)
    assert tab.controls == [tab.category, tab.style]
    plain = tab.load("en")
    assert plain[tab.style_table] == "" and plain[tab.table]["visible"] is True
    assert [key for _, key in plain[tab.style]["choices"]] == ["plain", "style"]
    styled = tab.load("en", ALL, "style")
    assert styled[tab.table]["visible"] is False
    html = styled[tab.style_table]
    order = re.findall(r'<tr data-model="([^"]+)" data-change="(-?\d+)"', html)
    assert order == [("Concise", "2"), ("Middling", "0"), ("Wordy", "-2")]
    assert "2 places higher than plain" in html and "2 places lower than plain" in html
    info = styled[tab.info]
    assert "Style-controlled ratings" in info and "an answer longer than the other" in info
    points = re.search(r"was worth \+(\d+) rating points \(95% interval \+(\d+) to", info)
    assert points and int(points.group(2)) > 0
    assert "stored without their style counts" in info
    coding = tab.load("ja", "coding", "style")
    assert "「プログラミング」の対戦" in coding[tab.info] and "▲2" in coding[tab.style_table]
    assert tab.load("en", ALL, "<b>")[tab.style_table] == ""  # unknown: plain


def test_the_api_parameter(played) -> None:
    engine, design, _ = played
    settings = Settings(database_url=str(engine.url), secret="s")
    client = TestClient(create_api(Arena(settings, session_factory(engine), {})))
    main = client.get("/api/leaderboard").json()
    styled = client.get("/api/leaderboard", params={"style": "1"}).json()
    coding = client.get("/api/leaderboard", params={"style": "1", "category": "coding"}).json()
    bad = client.get("/api/leaderboard", params={"style": "1", "category": "poetry"})
    assert "style" not in main and "rank_change" not in main["models"][0]
    assert styled["run"] == main["run"] and styled["category"] == "all"
    assert styled["category_votes"] == len(design) + len(RARE)
    rows = {m["model"]: m for m in styled["models"]}
    assert [m["model"] for m in styled["models"]] == ["Concise", "Middling", "Wordy"]
    assert {m: (r["rank"], r["plain_rank"], r["rank_change"]) for m, r in rows.items()} == {
        "Concise": (1, 3, 2),
        "Middling": (2, 2, 0),
        "Wordy": (3, 1, -2),
    }
    assert rows["Middling"]["rating"] == pytest.approx(1000)
    coefs = {c["feature"]: c for c in styled["style"]["coefficients"]}
    assert list(coefs) == ["length", "headers", "lists", "bold"]
    assert coefs["length"]["ci_lower"] > 0 and coefs["headers"]["rating_points"] is None
    assert styled["not_rated"] == [{"model": "Rare", "battles": 5, "reason": "few_votes"}]
    assert coding["category"] == "coding" and coding["style"]["from_messages"] > 0
    assert coding["category_votes"] == sum(1 for d in design if d[5])
    assert bad.status_code == 400 and bad.json()["error"] == "unknown_category"


def test_a_board_without_votes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'arena.db'}")
    migrate(engine)
    with session_factory(engine)() as s, s.begin():
        s.add_all(Model(name=n, provider="openai", weights="open") for n in STRENGTH)
    _store(engine, _design(seed=1)[:30], datetime.now(UTC) - timedelta(minutes=5))
    recompute(engine, anchor=ANCHOR)
    with session_factory(engine)() as s:
        run = stats.latest_run(s)
        board = style_board(s, run, "math")
    assert board.votes == 0 and board.too_few and not board.coefficients
    engine.dispose()


@pytest.mark.browser
def test_the_toggle_in_chromium_on_a_phone(
    browser, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> None:
    """The switch on a phone-sized page: the style table with its arrows and their words,
    nothing wider than the screen."""
    from playwright.sync_api import expect

    from tests.conftest import RunningApp, loopback_config

    served = {name: name.lower() for name in STRENGTH}
    config = loopback_config("http://127.0.0.1:9/v1", served, f'rating_anchor = "{ANCHOR}"\n')
    app = RunningApp(tmp_path_factory.mktemp("style-ui"), config)
    try:
        engine = make_engine(app.database_url)
        _store(engine, _design(seed=7), datetime.now(UTC) - timedelta(minutes=5))
        recompute(engine, anchor=ANCHOR, min_votes=20)
        engine.dispose()
        context = browser.new_context(
            locale="en-US", viewport={"width": 375, "height": 812}, is_mobile=True,
            has_touch=True,
        )  # fmt: skip
        page = context.new_page()
        goto_leaderboard(page, app.url)
        expect(page.locator("#leaderboard-table")).to_contain_text("Wordy", timeout=15_000)
        page.locator("#leaderboard-style").get_by_text("Style-controlled").click()
        rows = page.locator("#leaderboard-style-table tbody tr")
        expect(rows.first).to_contain_text("Concise", timeout=15_000)
        shown = page.locator("#leaderboard-style-table .st-change [aria-hidden=true]")
        assert shown.all_inner_texts() == ["▲2", "–", "▼2"]  # Concise, Middling, Wordy
        words = page.locator("#leaderboard-style-table .sr-only").all_inner_texts()
        assert words == ["2 places higher than plain", "same rank as plain",
                         "2 places lower than plain"]  # fmt: skip
        expect(page.locator("#leaderboard-table")).to_be_hidden()
        expect(page.locator("#leaderboard-info")).to_contain_text("rating points")
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth + 1")
        page.screenshot(path=str(artifacts / "leaderboard-style-en-phone.png"), full_page=True)
        context.close()
    finally:
        app.stop()
