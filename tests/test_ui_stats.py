"""The leaderboard's read-only queries and HTML charts, on SQLite and PostgreSQL.

``seed_votes`` is also used by the browser tests to fill a running app's database.
"""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from arena.db import stats
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    Model,
    ModelRating,
    RatingRun,
    Vote,
    Voter,
    Winner,
)
from arena.recompute import recompute
from arena.ui.charts import heatmap, interval_plot, overlap_groups

WINNERS = (Winner.MODEL_A, Winner.MODEL_B, Winner.TIE, Winner.BOTHBAD)


def seed_votes(
    session: Session,
    strengths: dict[str, float],
    n: int,
    seed: int = 0,
    *,
    mode: BattleMode = BattleMode.ANONY,
    when: datetime | None = None,
) -> None:
    """Insert ``n`` voted battles among existing models, won by Bradley-Terry strengths."""
    rng = random.Random(seed)
    ids = dict(session.execute(select(Model.name, Model.id)).all())
    # One volunteer per vote, as in a real arena (one voter casting them all would meet
    # the daily cap of the recomputation's defences).
    voters = [Voter(token=secrets.token_hex(16)) for _ in range(n)]
    session.add_all(voters)
    session.flush()
    names = list(strengths)
    when = when or datetime.now(UTC) - timedelta(minutes=5)
    battles, votes = [], []
    for voter in voters:
        a, b = rng.sample(names, 2)
        p = 1 / (1 + 10 ** ((strengths[b] - strengths[a]) / 400))
        r = rng.random()
        winner = WINNERS[2 if r < 0.1 else 0 if r < 0.1 + 0.9 * p else 1]
        bid = secrets.token_hex(16)
        battles.append(
            {
                "id": bid, "voter_id": voter.id, "model_a_id": ids[a], "model_b_id": ids[b],
                "mode": mode, "status": BattleStatus.VOTED, "language": "ja", "turns": 1,
                "flag_identity": False, "flag_moderation": False, "created_at": when,
                "ready_at": when,
            }
        )  # fmt: skip
        votes.append(
            {"battle_id": bid, "voter_id": voter.id, "winner": winner, "created_at": when,
             "voided": False, "seconds_to_vote": 3.0}
        )  # fmt: skip
    session.execute(insert(Battle), battles)
    session.execute(insert(Vote), votes)


def add_models(session: Session, names: list[str]) -> None:
    for i, name in enumerate(names):
        session.add(
            Model(
                name=name,
                provider="vllm",
                weights="open" if i % 2 else "closed",
                japanese_mt_bench=None if i == 0 else 6.0 + i / 10,
                nejumi_lb3=0.5 + i / 100,
            )
        )
    session.flush()


def add_run(session: Session, rows: list[tuple[str, float, float, float]], at: datetime) -> int:
    run = RatingRun(created_at=at, method="sandwich", anchor=rows[0][0], level=0.95, votes_used=100)
    run.ratings = [
        ModelRating(
            model=m, rank=k + 1, rating=r, ci_lower=lo, ci_upper=hi, battles=10, wins=5,
            ties=1, ties_bothbad=0, losses=4, win_rate=0.5,
        )
        for k, (m, r, lo, hi) in enumerate(rows)
    ]  # fmt: skip
    session.add(run)
    session.flush()
    return run.id


@pytest.fixture
def session(engine):
    with Session(engine) as s:
        yield s


def test_pair_table_counts_only_rated_votes(session: Session) -> None:
    add_models(session, ["M-a", "M-b", "M-c"])
    seed_votes(session, {"M-a": 1100, "M-b": 1000, "M-c": 900}, 300, seed=1)
    seed_votes(session, {"M-a": 1000, "M-b": 1000}, 50, seed=2, mode=BattleMode.NAMED)
    # a flagged battle and a voided vote do not count either
    seed_votes(session, {"M-a": 1000, "M-c": 1000}, 1, seed=3)
    flagged = session.scalars(select(Battle).order_by(Battle.created_at.desc())).first()
    session.execute(Battle.__table__.update().values(flag_identity=True).where(
        Battle.id == flagged.id))  # fmt: skip
    session.commit()
    table = stats.pair_table_from_votes(session, ["M-a", "M-b", "M-c"])
    assert table.battles.sum() == 2 * 300
    assert np.array_equal(table.battles, table.battles.T)
    assert np.allclose(table.wins + table.wins.T, table.battles)
    frac = table.fraction
    assert frac[0, 2] > 0.5 > frac[2, 0]
    assert np.isnan(frac[0, 0])
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    later = stats.pair_table_from_votes(session, ["M-a", "M-b"], until=hour_ago)
    assert later.battles.sum() == 0


def assert_same_table(got: stats.PairTable, want: stats.PairTable) -> None:
    assert got.models == want.models
    assert np.array_equal(got.battles, want.battles)
    assert np.array_equal(got.wins, want.wins)


def test_pair_table_reads_the_runs_stored_counts(engine, session: Session) -> None:
    names = ["M-a", "M-b", "M-c", "M-d"]
    add_models(session, names)
    seed_votes(session, dict(zip(names, (1100, 1000, 950, 900), strict=True)), 400, seed=1)
    seed_votes(session, {"M-a": 1000, "M-b": 1000}, 30, seed=2, mode=BattleMode.NAMED)
    session.commit()
    recompute(engine, anchor="M-a")
    run = stats.latest_run(session)
    assert run is not None
    stored = stats.pair_table(session, run, names)
    assert stored.battles.sum() == 2 * 400
    assert_same_table(stored, stats.pair_table_from_votes(session, names, until=run.created_at))
    top = ["M-c", "M-a"]  # a subset, in the leaderboard's order
    assert_same_table(
        stats.pair_table(session, run, top), stats.pair_table_from_votes(session, top)
    )
    # Votes recorded afterwards (even with earlier timestamps) do not change the run's table.
    seed_votes(session, {"M-a": 1000, "M-d": 1000}, 25, seed=3)
    session.commit()
    assert_same_table(stats.pair_table(session, run, names), stored)
    assert stats.pair_table_from_votes(session, names).battles.sum() == 2 * 425


def test_pair_table_of_a_run_without_stored_counts_aggregates_the_votes(
    session: Session,
) -> None:
    add_models(session, ["M-a", "M-b", "M-c"])
    seed_votes(session, {"M-a": 1100, "M-b": 1000, "M-c": 900}, 200, seed=4)
    # Runs stored before revision 0002 have no pair rows: the fallback counts their votes
    # cast up to the run's time.
    runs = {}
    for at in (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)):
        run_id = add_run(session, [("M-a", 1000, 990, 1010)], at)
        runs[at] = stats.RunInfo(run_id, at, "sandwich", "M-a", 0.95, 100)
    session.commit()
    before, after = runs.values()
    names = ["M-a", "M-b", "M-c"]
    old = stats.pair_table(session, after, names)
    assert old.battles.sum() == 2 * 200
    assert_same_table(old, stats.pair_table_from_votes(session, names))
    assert stats.pair_table(session, before, names).battles.sum() == 0


def test_board_joins_external_scores_and_history(session: Session) -> None:
    add_models(session, ["M-a", "M-b"])
    now = datetime.now(UTC)
    add_run(session, [("M-a", 1000, 990, 1010), ("M-b", 950, 930, 970)], now - timedelta(1))
    run_id = add_run(session, [("M-b", 1020, 1000, 1040), ("M-a", 1000, 990, 1010)], now)
    session.commit()
    latest = stats.latest_run(session)
    assert latest is not None and latest.id == run_id
    rows = stats.board(session, run_id)
    assert [r.model for r in rows] == ["M-b", "M-a"]
    assert rows[1].japanese_mt_bench is None and rows[0].japanese_mt_bench == pytest.approx(6.1)
    assert rows[0].weights == "open"
    hist = stats.history(session, ["M-a", "M-b"])
    assert len(hist) == 4 and hist[0][0] < hist[-1][0]


def test_empty_database_has_no_run(session: Session) -> None:
    assert stats.latest_run(session) is None


def _row(model: str, rating: float, lo: float, hi: float) -> stats.BoardRow:
    return stats.BoardRow(1, model, rating, lo, hi, 0.5, 10, "open", None, None)


def test_charts_escape_names_and_show_figures() -> None:
    rows = [_row("<b>x</b>", 1100, 1050, 1150), _row("Tanuki-8B", 1000, 980, 1020)]
    html = interval_plot(rows, "en")
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'aria-label="Tanuki-8B: 1000 (980–1020)"' in html
    table = stats.PairTable(["<i>", "b"], np.array([[0, 4], [4, 0]]), np.array([[0, 3], [1, 0]]))
    heat = heatmap(table, "winfrac", "ja", 2, "winfrac")
    assert "<i>" not in heat and "0.75" in heat and "0.25" in heat
    counts = heatmap(table, "counts", "en", 30, "counts")
    assert "Showing the top 2 of 30 models." in counts


def test_overlap_groups() -> None:
    rows = [
        _row("a", 1200, 1180, 1220),
        _row("b", 1100, 1060, 1140),
        _row("c", 1090, 1050, 1130),
        _row("d", 1080, 1040, 1120),
        _row("e", 900, 880, 920),
    ]
    assert overlap_groups(rows) == [["b", "c", "d"]]
    assert overlap_groups(rows[:2]) == []


def test_the_board_says_how_many_votes_until_each_model_separates_from_the_next(
    engine, session: Session
) -> None:
    from arena.db import session_factory
    from arena.separation import neighbours
    from arena.ui.leaderboard import PairCache, read_board, table_frame

    names = ["M-a", "M-b", "M-c", "M-d"]
    add_models(session, names)
    seed_votes(session, dict(zip(names, (1300, 1000, 990, 700), strict=True)), 600, seed=5)
    session.commit()
    recompute(engine, anchor="M-b")
    cache = PairCache()
    board = read_board(session_factory(engine), cache)
    expected = {n.upper: n.votes for n in neighbours(session, board.run, board.rows)}
    assert board.separate == expected and len(expected) == 3
    order = [r.model for r in board.rows]
    # Far apart (300 points, 600 votes): separated; 10 points apart: a positive count or
    # out of sight; the last model has nobody below it.
    assert board.separate[order[0]] == 0
    close = board.separate[order[1]] if {order[1], order[2]} == {"M-b", "M-c"} else None
    assert close is None or close > 0
    for lang, done, column in (("ja", "分離済み", "次の順位と分離まで（票）"),
                               ("en", "separated", "Votes to separate from next")):  # fmt: skip
        cells = list(table_frame(board.rows, lang, board.separate)[column])
        assert cells[0] == done and cells[-1] == ""
        assert all(c for c in cells[:-1])
    again = read_board(session_factory(engine), cache).separate
    assert again == board.separate
