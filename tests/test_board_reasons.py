"""The leaderboard's reasons per model and the seed report beside today's ratings.

Counts are checked exactly on a database built by hand (SQLite and PostgreSQL): reasons
and thumbs of counted blind votes count, those of voided votes, named battles, failed or
flagged battles and votes after a run's time do not; a vote without reasons adds to no
model's votes with reasons.
"""

from __future__ import annotations

import csv
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gradio as gr
import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from arena.db.feedback_stats import FeedbackCache, ModelFeedback, feedback_by_model
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    Model,
    ModelRating,
    RatingRun,
    Reaction,
    Side,
    Vote,
    Voter,
    VoteReason,
    Winner,
)
from arena.seed_report import REPORT, REPORT_VOTES, Today, places, then_and_now
from arena.ui.board_views import reasons_view, then_now_view
from arena.ui.leaderboard import LeaderboardTab

GOLDEN_TABLE = Path(__file__).parent / "golden" / "seed_arena_table.csv"
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def battle(
    s: Session,
    ids: dict[str, int],
    a: str,
    b: str,
    *,
    reasons: dict[Side, list[str]] | None = None,
    thumbs: list[tuple[int, Side, int]] = (),
    mode: BattleMode = BattleMode.ANONY,
    status: BattleStatus = BattleStatus.VOTED,
    voided: bool = False,
    flagged: bool = False,
    at: datetime = T0,
) -> str:
    """One voted battle with its reasons and thumbs ((turn, side, value) each)."""
    voter = Voter(token=secrets.token_hex(16))
    s.add(voter)
    s.flush()
    bid = secrets.token_hex(16)
    s.execute(insert(Battle), [{
        "id": bid, "voter_id": voter.id, "model_a_id": ids[a], "model_b_id": ids[b],
        "mode": mode, "status": status, "language": "ja", "turns": 2,
        "flag_identity": flagged, "flag_moderation": False, "created_at": at, "ready_at": at,
    }])  # fmt: skip
    s.execute(insert(Vote), [{
        "battle_id": bid, "voter_id": voter.id, "winner": Winner.MODEL_A, "created_at": at,
        "voided": voided, "seconds_to_vote": 9.0,
    }])  # fmt: skip
    for side, tags in (reasons or {}).items():
        s.add_all(VoteReason(battle_id=bid, side=side, tag=tag) for tag in tags)
    s.add_all(Reaction(battle_id=bid, turn=turn, side=side, value=value)
              for turn, side, value in thumbs)  # fmt: skip
    s.flush()
    return bid


def build(s: Session) -> None:
    """The battles whose counts the tests know by heart (see the module docstring)."""
    s.add_all(Model(name=n, provider="vllm") for n in ("M-a", "M-b", "M-c"))
    s.flush()
    ids = {m.name: m.id for m in s.query(Model)}
    A, B = Side.A, Side.B
    battle(s, ids, "M-a", "M-b", reasons={A: ["useful", "natural_japanese"], B: ["incorrect"]},
           thumbs=[(1, A, 1), (1, B, -1), (2, B, -1)])  # fmt: skip
    battle(s, ids, "M-b", "M-a", reasons={A: ["useful"]}, thumbs=[(1, A, 1)])
    battle(s, ids, "M-a", "M-c", thumbs=[(1, B, 1)])  # no reasons: thumbs only
    battle(s, ids, "M-a", "M-c", reasons={B: ["register_off"]})  # M-a got none
    battle(s, ids, "M-b", "M-c")  # nothing at all
    # None of these count.
    left_out = {A: ["useful", "mixed_languages"], B: ["incorrect"]}
    thumbs = [(1, A, 1), (1, B, -1)]
    battle(s, ids, "M-a", "M-b", reasons=left_out, thumbs=thumbs, voided=True)
    battle(s, ids, "M-a", "M-b", reasons=left_out, thumbs=thumbs, mode=BattleMode.NAMED)
    battle(s, ids, "M-a", "M-b", reasons=left_out, thumbs=thumbs, flagged=True)
    battle(s, ids, "M-a", "M-b", reasons=left_out, thumbs=thumbs, status=BattleStatus.FAILED)
    # Counted, but cast after the run of T0 + 1 hour.
    battle(s, ids, "M-c", "M-b", reasons={A: ["creative"], B: ["superficial"]},
           thumbs=[(1, A, -1)], at=T0 + timedelta(hours=2))  # fmt: skip
    s.commit()


EXPECTED_AT_RUN = {
    "M-a": ModelFeedback("M-a", 3, {"useful": 1, "natural_japanese": 1}, up=1, down=0),
    "M-b": ModelFeedback("M-b", 2, {"incorrect": 1, "useful": 1}, up=1, down=2),
    "M-c": ModelFeedback("M-c", 1, {"register_off": 1}, up=1, down=0),
}


def test_counts_are_exact_and_leave_out_what_the_ratings_leave_out(engine) -> None:
    with Session(engine) as s:
        build(s)
        at_run = {f.model: f for f in feedback_by_model(s, T0 + timedelta(hours=1))}
        everything = {f.model: f for f in feedback_by_model(s)}
    assert at_run == EXPECTED_AT_RUN
    assert at_run["M-a"].share("useful") == pytest.approx(1 / 3)
    assert at_run["M-a"].share("incorrect") == 0
    # the later battle adds to M-b and M-c only
    assert everything["M-a"] == EXPECTED_AT_RUN["M-a"]
    assert everything["M-b"] == ModelFeedback(
        "M-b", 3, {"incorrect": 1, "useful": 1, "superficial": 1}, up=1, down=2
    )
    assert everything["M-c"] == ModelFeedback(
        "M-c", 2, {"register_off": 1, "creative": 1}, up=1, down=1
    )


def test_no_votes_no_counts(engine) -> None:
    with Session(engine) as s:
        assert feedback_by_model(s) == []
    assert ModelFeedback("x").share("useful") is None


def test_the_cache_counts_a_run_once(engine) -> None:
    sessions = sessionmaker(engine)
    with sessions() as s:
        build(s)
    cache = FeedbackCache(sessions)
    until = T0 + timedelta(hours=1)
    first = cache.get(1, until, wait=30)
    assert {f.model: f for f in first} == EXPECTED_AT_RUN
    with sessions() as s:  # a vote given later changes a new run's counts, not this run's
        ids = {m.name: m.id for m in s.query(Model)}
        battle(s, ids, "M-a", "M-b", reasons={Side.A: ["creative"]}, at=T0)
        s.commit()
    assert cache.get(1, until, wait=30) is first
    again = {f.model: f for f in cache.get(2, until, wait=30)}
    assert again["M-a"].tags["creative"] == 1 and again["M-a"].with_reasons == 4


def test_the_report_rows_are_the_published_table() -> None:
    with GOLDEN_TABLE.open(encoding="utf-8") as fh:
        published = list(csv.DictReader(fh))
    assert [r.model for r in REPORT] == [p["model"] for p in published]
    for row, p in zip(REPORT, published, strict=True):
        assert (row.weights, row.rating, row.win_rate, row.battles) == (
            p["weights"], float(p["rating"]), float(p["win_rate"]), int(p["battles"])
        )  # fmt: skip
    assert sum(r.battles for r in REPORT) == 2 * REPORT_VOTES


def test_then_and_now_matches_names_and_ranks_by_rating() -> None:
    assert places([1000, 1200, 1000, 900]) == [2, 1, 2, 4]
    today = [
        Today("tanuki-8b-dpo-v1.0", 1000, 980, 1020),  # the report's 9th, case aside
        Today("Tanuki-8x8B-dpo-v1.0", 1190, 1150, 1230),  # the report's 4th
        Today("Newcomer-1", 1100, 1050, float("inf")),
    ]
    rows = {r.model: r for r in then_and_now(today)}
    assert [r.model for r in then_and_now(today)][:3] == [
        "Tanuki-8x8B-dpo-v1.0", "Newcomer-1", "tanuki-8b-dpo-v1.0"
    ]  # fmt: skip
    assert (rows["Tanuki-8x8B-dpo-v1.0"].then_rank, rows["Tanuki-8x8B-dpo-v1.0"].now_rank) == (4, 1)
    assert rows["Tanuki-8x8B-dpo-v1.0"].change == 3
    assert rows["tanuki-8b-dpo-v1.0"].change == 9 - 3
    assert rows["tanuki-8b-dpo-v1.0"].then_rating == 1000
    assert rows["Newcomer-1"].then_rank is None and rows["Newcomer-1"].change is None
    assert rows["GPT-4o-2024-05-13"].now is None and rows["GPT-4o-2024-05-13"].then_rank == 1
    assert len(rows) == len(REPORT) + 1
    alone = then_and_now([])
    assert [r.model for r in alone] == [r.model for r in REPORT]
    assert all(r.now is None and r.change is None for r in alone)


def test_views_show_the_figures_and_escape_names() -> None:
    items = [
        ModelFeedback("<b>M-x</b>", 4, {"useful": 1, "mixed_languages": 3}, up=5, down=2),
        ModelFeedback("M-y", 0, {}, up=1, down=0),
    ]
    html_ja = reasons_view(items, ["M-y"], "2026-03-01 21:00 JST", "ja")
    assert "<b>M-x</b>" not in html_ja and "&lt;b&gt;M-x&lt;/b&gt;" in html_ja
    assert "25%<br><small>1</small>" in html_ja and "75%<br><small>3</small>" in html_ja
    assert "英語や中国語が混ざる" in html_ja and "理由つきの票" in html_ja
    assert html_ja.index('data-model="M-y"') < html_ja.index('data-model="&lt;b&gt;')
    html_en = reasons_view(items, [], "2026-03-01 21:00 JST", "en")
    assert "English or Chinese mixed in" in html_en and "Votes with reasons" in html_en
    assert "being counted" in reasons_view(None, [], "x", "en")
    assert "最初のレーティング集計" in reasons_view(None, [], None, "ja")
    assert "まだありません" in reasons_view([ModelFeedback("z")], [], "x", "ja")

    rows = then_and_now([Today("Tanuki-8x8B-dpo-v1.0", 1190, 1150, 1230),
                         Today("New<i>", 1000, 950, 1050)])  # fmt: skip
    view = then_now_view(rows, "2026-03-01 21:00 JST", "Tanuki-8B-dpo-v1.0", 1234, "ja")
    assert "New&lt;i&gt;" in view and "New<i>" not in view
    assert "↑3" in view and "新規" in view and "未公表" in view and "今回は評価なし" in view
    assert "+40/-40" in view and "1,234票" in view and "注意" not in view
    other = then_now_view(rows, "t", "Zephyrine-Alpha-7B", 10, "en")
    assert "not on one scale" in other and "new" in other and "not published" in other
    assert "No run yet" in then_now_view(then_and_now([]), None, None, None, "en")


def test_the_tab_renders_before_the_first_run_and_with_one(engine) -> None:
    sessions = sessionmaker(engine)
    tab = LeaderboardTab(sessions)
    with gr.Blocks():
        tab.build(gr.I18n(ja={}, en={}))
    empty = tab.load("ja")
    assert "最初のレーティング集計" in empty[tab.reasons]
    assert "GPT-4o-2024-05-13" in empty[tab.then_now] and "まだありません" in empty[tab.then_now]
    with sessions() as s:
        build(s)
        run = RatingRun(created_at=T0 + timedelta(hours=1), method="sandwich", anchor="M-a",
                        level=0.95, votes_used=5)  # fmt: skip
        run.ratings = [
            ModelRating(model=m, rank=k + 1, rating=r, ci_lower=r - 30, ci_upper=r + 30,
                        battles=4, wins=2, ties=0, ties_bothbad=0, losses=2, win_rate=0.5)
            for k, (m, r) in enumerate((("M-b", 1050.0), ("M-a", 1000.0), ("M-c", 950.0)))
        ]  # fmt: skip
        s.add(run)
        s.commit()
    tab.feedback.wait = 30  # a test database counts at once; no "being counted" here
    out = tab.load("en")
    reasons = out[tab.reasons]
    assert reasons.index('data-model="M-b"') < reasons.index('data-model="M-a"')
    assert "33%<br><small>1</small>" in reasons  # M-a: useful in 1 of its 3 votes with reasons
    assert "Votes with reasons" in reasons and "M-c" in reasons
    assert "new" in out[tab.then_now] and "not on one scale" in out[tab.then_now]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_slow_count_leaves_the_handler_and_shows_once_done(engine) -> None:
    """A count that cannot finish (its table locked by another transaction) makes the
    tab say it is counting, within the wait; once the lock goes, the next view has it."""
    sessions = sessionmaker(engine)
    with sessions() as s:
        build(s)
        s.add(RatingRun(created_at=T0 + timedelta(hours=1), method="sandwich", anchor="M-a",
                        level=0.95, votes_used=5))  # fmt: skip
        s.commit()
    tab = LeaderboardTab(sessions)
    with gr.Blocks():
        tab.build(gr.I18n(ja={}, en={}))
    with engine.connect() as blocker:
        blocker.exec_driver_sql("LOCK TABLE vote_reasons IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        out = tab.load("ja")
        assert time.monotonic() - started < 5  # the handler did not wait for the count
        assert "集計しています" in out[tab.reasons]
        blocker.rollback()
    for _ in range(100):  # the worker's count ends once the lock is gone
        out = tab.load("ja")
        if "集計しています" not in out[tab.reasons]:
            break
    assert "33%<br><small>1</small>" in out[tab.reasons]
