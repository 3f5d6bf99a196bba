"""The nightly recomputation on real SQLite and PostgreSQL databases.

Votes are inserted directly (in bulk) with known outcomes; the stored run must equal
what :mod:`ratings` gives on the counts of only the votes that should be used, and
the excluded votes must be counted by reason. The lock is tested with a held row,
with two threads and with two ``python -m arena recompute`` processes at once.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, delete, func, insert, make_url, select
from sqlalchemy.orm import Session

from arena.db import session_factory, stats
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    JobLock,
    Model,
    RatingRun,
    RunPairCount,
    Vote,
    Voter,
    Winner,
)
from arena.joblock import LockBusy, job_lock
from arena.recompute import LOCK_NAME, NoVotes, recompute
from arena.votecounts import count_votes
from ratings import WINNER_CODES, leaderboard_from_counts
from tests.conftest import python, wait_until

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["Tanuki-8B-dpo-v1.0", "Model-B", "Model-C", "Model-D", "Model-E"]
ANCHOR = MODELS[0]
RATING_TOL = 1e-6

# (model_a, model_b, winner) -> votes: the votes that must be used.
USED = {
    (0, 1, Winner.MODEL_A): 30, (0, 1, Winner.MODEL_B): 20, (1, 0, Winner.TIE): 7,
    (0, 2, Winner.MODEL_A): 25, (2, 0, Winner.MODEL_A): 12, (0, 2, Winner.BOTHBAD): 4,
    (1, 2, Winner.MODEL_B): 18, (2, 1, Winner.MODEL_B): 15, (1, 2, Winner.TIE): 5,
    (3, 0, Winner.MODEL_B): 22, (3, 0, Winner.MODEL_A): 9, (3, 4, Winner.MODEL_A): 14,
    (4, 3, Winner.MODEL_A): 11, (4, 1, Winner.BOTHBAD): 6, (1, 4, Winner.MODEL_A): 10,
    (4, 2, Winner.MODEL_B): 8, (2, 4, Winner.TIE): 3,
}  # fmt: skip


# -- helpers ------------------------------------------------------------------------


def add_models(engine: Engine, names: list[str] = MODELS) -> dict[str, int]:
    """Insert the models and one voter; return name -> id."""
    with session_factory(engine)() as s, s.begin():
        s.add_all([Model(name=n, provider="openai") for n in names])
        s.add(Voter(token="voter-" + uuid.uuid4().hex))
    with session_factory(engine)() as s:
        return dict(s.execute(select(Model.name, Model.id)).all())


def add_battles(
    engine: Engine,
    a: str,
    b: str,
    winner: Winner | None,
    n: int,
    *,
    mode: BattleMode = BattleMode.ANONY,
    status: BattleStatus = BattleStatus.VOTED,
    flag_identity: bool = False,
    flag_moderation: bool = False,
    voided: bool = False,
) -> None:
    """Insert ``n`` battles between ``a`` and ``b`` (and their votes, unless winner is None).

    Each battle has its own voter, as in a real arena with many volunteers (one voter
    casting every vote would, rightly, meet the daily cap).
    """
    with session_factory(engine)() as s, s.begin():
        ids = dict(s.execute(select(Model.name, Model.id)).all())
        voters = s.scalars(
            insert(Voter).returning(Voter.id, sort_by_parameter_order=True),
            [{"token": "voter-" + uuid.uuid4().hex} for _ in range(n)],
        ).all()
        battle_ids = [uuid.uuid4().hex for _ in range(n)]
        s.execute(
            insert(Battle),
            [
                dict(
                    id=bid, voter_id=voter, model_a_id=ids[a], model_b_id=ids[b], mode=mode,
                    status=status, turns=1, flag_identity=flag_identity,
                    flag_moderation=flag_moderation,
                )
                for bid, voter in zip(battle_ids, voters, strict=True)
            ],
        )  # fmt: skip
        if winner is not None:
            s.execute(
                insert(Vote),
                [
                    dict(battle_id=bid, voter_id=voter, winner=winner, voided=voided,
                         void_reason="spam" if voided else None)
                    for bid, voter in zip(battle_ids, voters, strict=True)
                ],
            )  # fmt: skip


def add_used_votes(engine: Engine) -> None:
    for (i, j, winner), n in USED.items():
        add_battles(engine, MODELS[i], MODELS[j], winner, n)


def add_excluded_votes(engine: Engine) -> dict[str, int]:
    """Votes of every excluded kind (and some overlapping); return the expected counts."""
    a, b, c = MODELS[:3]
    add_battles(engine, a, b, Winner.MODEL_B, 9, status=BattleStatus.FAILED)
    add_battles(engine, b, c, Winner.MODEL_A, 4, flag_identity=True)
    add_battles(engine, c, a, Winner.TIE, 3, flag_moderation=True)
    add_battles(engine, a, c, Winner.MODEL_B, 8, mode=BattleMode.NAMED)
    add_battles(engine, b, a, Winner.MODEL_A, 5, voided=True)
    # Overlaps count once, under the first reason: voided, failed, named, flagged.
    add_battles(engine, a, b, Winner.MODEL_A, 2, voided=True, status=BattleStatus.FAILED)
    add_battles(engine, a, b, Winner.MODEL_A, 3, mode=BattleMode.NAMED, flag_identity=True)
    # Battles without a vote are not votes at all.
    add_battles(engine, a, b, None, 6, status=BattleStatus.READY)
    add_battles(engine, a, b, None, 2, mode=BattleMode.DIRECT, status=BattleStatus.READY)
    return {"voided": 7, "failed": 9, "named": 11, "flagged": 7}


def expected_board(used: dict[tuple[int, int, Winner], int], **kwargs: object):
    """What ratings/ gives on exactly these counts (models in name order, as stored)."""
    keys = list(used)
    names = sorted(MODELS)
    position = [names.index(name) for name in MODELS]
    return leaderboard_from_counts(
        names,
        [position[i] for i, _, _ in keys],
        [position[j] for _, j, _ in keys],
        [WINNER_CODES[w.value] for _, _, w in keys],
        [used[k] for k in keys],
        on_disconnected="largest",
        **kwargs,
    )


def assert_same(run: RatingRun, board) -> None:
    stored = {r.model: r for r in run.ratings}
    assert set(stored) == {row.model for row in board.rows}
    for row in board.rows:
        got = stored[row.model]
        for name in ("rating", "ci_lower", "ci_upper", "win_rate"):
            assert math.isclose(getattr(got, name), getattr(row, name), abs_tol=RATING_TOL), name
        assert (got.rank, got.battles, got.wins, got.losses) == (
            row.rank, row.battles, row.wins, row.losses,
        )  # fmt: skip
        assert (got.ties, got.ties_bothbad) == (row.ties_plain, row.ties_bothbad)


def cli(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m arena recompute ARGS`` on ``database_url`` (its ``main(argv)``, here)."""
    env = {k: v for k, v in os.environ.items() if k != "ARENA_CONFIG"}
    return python(["-m", "arena", "recompute", *args], cwd=cwd,
                  env={**env, "DATABASE_URL": database_url})  # fmt: skip


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def latest_run(session: Session) -> RatingRun | None:
    """The newest stored run with its ratings, best first (read here, not by the app)."""
    run = session.scalars(
        select(RatingRun).order_by(RatingRun.created_at.desc(), RatingRun.id.desc()).limit(1)
    ).first()
    if run is not None:
        run.ratings.sort(key=lambda r: (-r.rating, r.model))
    return run


def count_runs(engine: Engine) -> int:
    with session_factory(engine)() as s:
        return s.scalar(select(func.count()).select_from(RatingRun)) or 0


# -- what a run stores --------------------------------------------------------------


def test_stored_run_agrees_with_an_independent_fit_and_hand_counts(engine: Engine) -> None:
    """Not the ratings package's word for it: without a prior, the stored ratings are
    FastChat's maximum-likelihood Elo as its description says (written in
    tests/test_interop.py with scipy), anchored here, and the stored counts are those of
    USED, added up here; the votes that must not count are in the database too."""
    import pandas as pd

    from tests.test_interop import AGREE, fastchat_mle_elo

    add_models(engine)
    add_used_votes(engine)
    add_excluded_votes(engine)
    run = recompute(engine, anchor=ANCHOR, prior=0)
    stored = {r.model: r for r in run.ratings}

    battles = pd.DataFrame(
        [(MODELS[a], MODELS[b], w.value) for (a, b, w), n in USED.items() for _ in range(n)],
        columns=["model_a", "model_b", "winner"],
    )
    theirs = fastchat_mle_elo(battles)
    for model, row in stored.items():
        want = 1000 + theirs[model] - theirs[ANCHOR]
        assert row.rating == pytest.approx(want, abs=AGREE), model

    counts = {m: Counter() for m in MODELS}
    for (a, b, winner), n in USED.items():
        for side, model in (("model_a", MODELS[a]), ("model_b", MODELS[b])):
            counts[model]["battles"] += n
            if winner.value in ("model_a", "model_b"):
                counts[model]["wins" if winner.value == side else "losses"] += n
            else:
                counts[model]["ties" if winner is Winner.TIE else "ties_bothbad"] += n
    for model, row in stored.items():
        got = {k: getattr(row, k) for k in ("battles", "wins", "losses", "ties", "ties_bothbad")}
        assert got == {k: counts[model][k] for k in got}, model
        assert row.win_rate == pytest.approx(counts[model]["wins"] / counts[model]["battles"])


def test_run_matches_the_fit_of_only_the_used_votes(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    excluded = add_excluded_votes(engine)

    run = recompute(engine, anchor=ANCHOR, method="sandwich")

    assert_same(run, expected_board(USED, anchor=ANCHOR))
    assert run.votes_used == sum(USED.values())
    got = {
        "voided": run.excluded_voided, "failed": run.excluded_failed,
        "named": run.excluded_named, "flagged": run.excluded_flagged,
    }  # fmt: skip
    assert got == excluded
    assert (run.method, run.anchor, run.level, run.rounds, run.seed) == (
        "sandwich", ANCHOR, 0.95, None, None,
    )  # fmt: skip
    assert next(r for r in run.ratings if r.model == ANCHOR).rating == 1000.0
    with session_factory(engine)() as s:  # and it is really in the database
        stored = latest_run(s)
        assert stored is not None and stored.id == run.id
        last_vote = s.scalar(select(func.max(Vote.created_at)))
        assert aware(last_vote) <= aware(stored.created_at) <= datetime.now(UTC)
        assert_same(stored, expected_board(USED, anchor=ANCHOR))
        assert s.scalar(select(func.count()).select_from(JobLock)) == 0


def test_two_models_give_the_bradley_terry_closed_form(engine: Engine) -> None:
    """Worked out by hand, not by the fit the run calls: with two models the maximum
    likelihood is P(A beats B) = A's score / battles, the default prior adding
    0.1 / (2 (2 - 1)) = 0.05 virtual wins to each side (ratings/bt.py). A tie and a
    both-bad are half a win each; voided and named votes are left out."""
    a, b = MODELS[:2]
    add_models(engine, [a, b])
    add_battles(engine, a, b, Winner.MODEL_A, 26)
    add_battles(engine, b, a, Winner.MODEL_B, 2)  # A wins from the right-hand seat too
    add_battles(engine, a, b, Winner.MODEL_B, 8)
    add_battles(engine, b, a, Winner.TIE, 3)
    add_battles(engine, a, b, Winner.BOTHBAD, 1)
    add_battles(engine, a, b, Winner.MODEL_B, 5, voided=True)
    add_battles(engine, a, b, Winner.MODEL_B, 4, mode=BattleMode.NAMED)

    run = recompute(engine, anchor=a)

    # A's score: 26 + 2 wins + (3 + 1) / 2 ties = 30 of 40 battles; B's: 8 + 2 = 10.
    rating_b = 1000 + 400 * math.log10((10 + 0.05) / (30 + 0.05))  # 809.73...
    stored = {r.model: r for r in run.ratings}
    assert set(stored) == {a, b}
    assert stored[a].rating == 1000.0
    assert math.isclose(stored[b].rating, rating_b, abs_tol=1e-3)
    assert round(stored[b].rating, 2) == 809.73
    assert (stored[a].battles, stored[a].wins, stored[a].losses) == (40, 28, 8)
    assert (stored[b].battles, stored[b].wins, stored[b].losses) == (40, 8, 28)
    # the win rate counts wins only: 28 and 8 of 40
    assert math.isclose(stored[a].win_rate, 0.7) and math.isclose(stored[b].win_rate, 0.2)
    assert run.votes_used == 40
    assert (run.excluded_voided, run.excluded_named) == (5, 4)


def test_aggregation_is_one_row_per_pair_and_outcome(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    add_excluded_votes(engine)
    with session_factory(engine)() as s:
        counts = count_votes(s)
    assert counts.used == sum(USED.values())
    assert len(counts.count) == len(USED)
    got = {
        (MODELS.index(counts.names[a]), MODELS.index(counts.names[b]), int(o)): int(n)
        for a, b, o, n in zip(counts.a_idx, counts.b_idx, counts.outcome, counts.count, strict=True)
    }
    assert got == {(i, j, int(WINNER_CODES[w.value])): n for (i, j, w), n in USED.items()}


def stored_pairs(engine: Engine, run_id: int) -> dict[tuple[int, int, Winner], int]:
    """The run's pair rows as (index in MODELS of a, of b, winner) -> count."""
    with session_factory(engine)() as s:
        rows = s.execute(
            select(RunPairCount.model_a, RunPairCount.model_b, RunPairCount.winner,
                   RunPairCount.count).where(RunPairCount.run_id == run_id)
        ).all()  # fmt: skip
    got = {(MODELS.index(a), MODELS.index(b), w): n for a, b, w, n in rows}
    assert len(got) == len(rows)
    return got


def test_run_stores_its_pair_counts(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    add_excluded_votes(engine)
    run = recompute(engine, anchor=ANCHOR)
    assert stored_pairs(engine, run.id) == USED
    with session_factory(engine)() as s:  # the same groups the fit got
        counts = count_votes(s)
    aggregated = {
        (MODELS.index(counts.names[a]), MODELS.index(counts.names[b]), int(o)): int(n)
        for a, b, o, n in zip(counts.a_idx, counts.b_idx, counts.outcome, counts.count, strict=True)
    }
    stored = {(i, j, int(WINNER_CODES[w.value])): n for (i, j, w), n in USED.items()}
    assert aggregated == stored
    named = recompute(engine, anchor=ANCHOR, include_named=True)
    used = Counter(USED)
    used[(0, 2, Winner.MODEL_B)] += 8
    assert stored_pairs(engine, named.id) == dict(used)
    assert stored_pairs(engine, run.id) == USED  # an earlier run keeps its own counts


def test_deleting_a_run_deletes_its_pair_counts(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    first = recompute(engine, anchor=ANCHOR)
    second = recompute(engine, anchor=ANCHOR)
    with session_factory(engine)() as s, s.begin():
        s.delete(s.get(RatingRun, first.id))  # the ORM cascade
        s.execute(delete(RatingRun).where(RatingRun.id == second.id))  # the foreign key's
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(RunPairCount)) == 0


def test_bootstrap_is_reproducible_and_stores_rounds_and_seed(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    run = recompute(engine, anchor=ANCHOR, method="bootstrap", rounds=200, seed=7, level=0.9)
    board = expected_board(
        USED, anchor=ANCHOR, ci="bootstrap", rounds=200, level=0.9, rng=np.random.default_rng(7)
    )
    assert_same(run, board)
    assert (run.method, run.rounds, run.seed, run.level) == ("bootstrap", 200, 7, 0.9)


def test_include_named_counts_named_battles(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    excluded = add_excluded_votes(engine)
    run = recompute(engine, anchor=ANCHOR, include_named=True)
    used = Counter(USED)
    used[(0, 2, Winner.MODEL_B)] += 8  # the plain named battles; the flagged ones stay out
    assert_same(run, expected_board(dict(used), anchor=ANCHOR))
    assert run.excluded_named == 0
    assert run.excluded_flagged == excluded["flagged"] + 3
    assert "named-mode battles included" in run.note


def test_absent_anchor_falls_back_and_says_so(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    run = recompute(engine, anchor="No-Such-Model")
    assert_same(run, expected_board(USED, anchor="No-Such-Model"))
    assert "anchor 'No-Such-Model' has no votes" in run.note
    assert math.isclose(np.mean([r.rating for r in run.ratings]), 1000.0, abs_tol=1e-6)


def test_unbounded_interval_is_stored_as_infinity(engine: Engine) -> None:
    add_models(engine, MODELS[:3])
    add_battles(engine, MODELS[0], MODELS[1], Winner.MODEL_A, 10)
    add_battles(engine, MODELS[1], MODELS[2], Winner.MODEL_A, 6)
    add_battles(engine, MODELS[2], MODELS[1], Winner.MODEL_A, 4)
    recompute(engine, anchor=MODELS[1])
    with session_factory(engine)() as s:
        run = latest_run(s)
    assert run is not None
    top = next(r for r in run.ratings if r.model == MODELS[0])
    assert top.ci_upper == math.inf and math.isfinite(top.ci_lower)


def test_models_with_too_few_votes_are_not_rated(engine: Engine) -> None:
    # Model-E has 52 votes, Model-D 56; at 55, Model-E goes, which leaves Model-D 31.
    add_models(engine)
    add_used_votes(engine)
    run = recompute(engine, anchor=ANCHOR, min_votes=55)
    kept = {k: n for k, n in USED.items() if k[0] < 3 and k[1] < 3}
    assert_same(run, expected_board(kept, anchor=ANCHOR))
    assert {r.model for r in run.ratings} == set(MODELS[:3])
    assert run.votes_used == sum(kept.values()) == 136
    assert "min votes per rated model: 55" in run.note
    assert "not enough votes yet (fewer than 55): Model-D, Model-E" in run.note
    # The pair counts keep every usable vote, so the leaderboard can count their battles.
    assert stored_pairs(engine, run.id) == {(a, b, w): n for (a, b, w), n in USED.items()}
    assert all(r.battles >= 55 for r in run.ratings)


def test_votes_used_leaves_out_a_piece_that_is_not_rated(engine: Engine) -> None:
    add_models(engine)
    add_battles(engine, MODELS[0], MODELS[1], Winner.MODEL_A, 12)
    add_battles(engine, MODELS[1], MODELS[0], Winner.MODEL_A, 9)
    add_battles(engine, MODELS[3], MODELS[4], Winner.MODEL_A, 5)  # never met the others
    add_battles(engine, MODELS[4], MODELS[3], Winner.MODEL_A, 4)
    run = recompute(engine, anchor=ANCHOR)
    assert {r.model for r in run.ratings} == set(MODELS[:2])
    assert run.votes_used == 21
    assert "left out (never compared with the rated models): Model-D, Model-E" in run.note


def test_no_model_with_enough_votes_stores_a_run_without_ratings(engine: Engine) -> None:
    add_models(engine)
    add_battles(engine, MODELS[0], MODELS[1], Winner.MODEL_A, 1)
    run = recompute(engine, anchor=ANCHOR, min_votes=20)
    assert run.ratings == [] and run.votes_used == 0
    assert "not enough votes yet (fewer than 20): Model-B, Tanuki-8B-dpo-v1.0" in run.note
    with session_factory(engine)() as s:
        assert s.scalar(select(func.sum(RunPairCount.count))) == 1


def test_no_votes_stores_no_run(engine: Engine) -> None:
    add_models(engine)
    with pytest.raises(NoVotes, match="no usable votes"):
        recompute(engine, anchor=ANCHOR)
    add_battles(engine, MODELS[0], MODELS[1], Winner.MODEL_A, 5, voided=True)
    with pytest.raises(NoVotes, match="5 voided"):
        recompute(engine, anchor=ANCHOR)
    assert count_runs(engine) == 0
    with session_factory(engine)() as s:
        assert latest_run(s) is None and stats.latest_run(s) is None
        assert stats.history(s, MODELS) == []


def test_latest_run_and_history(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    first = recompute(engine, anchor=ANCHOR)
    add_battles(engine, MODELS[1], MODELS[0], Winner.MODEL_A, 40)
    second = recompute(engine, anchor=ANCHOR)
    third = recompute(engine, anchor=ANCHOR, method="bootstrap", rounds=50)
    with session_factory(engine)() as s:
        newest = stats.latest_run(s)
        history = stats.history(s, MODELS)
        last_two = stats.history(s, MODELS, runs=2)
    assert newest is not None and newest.id == third.id and newest.method == "bootstrap"
    expected = [(run.created_at, r.model, r.rating) for run in (first, second, third)
                for r in sorted(run.ratings, key=lambda r: r.model)]  # fmt: skip
    assert [(at, m, pytest.approx(v)) for at, m, v in history] == expected
    assert all(at.tzinfo is not None for at, _, _ in history)
    rating_of = {(at, m): v for at, m, v in history}
    assert rating_of[(second.created_at, MODELS[1])] > rating_of[(first.created_at, MODELS[1])]
    assert last_two == [row for row in history if row[0] != first.created_at]


# -- the lock -----------------------------------------------------------------------


def hold_lock(engine: Engine, age: timedelta, holder: str = "other-host:1:abc") -> None:
    with session_factory(engine)() as s, s.begin():
        s.add(JobLock(name=LOCK_NAME, holder=holder, acquired_at=datetime.now(UTC) - age))


def lock_holders(engine: Engine) -> list[str]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(JobLock.holder)))


def test_a_held_lock_refuses_the_run(engine: Engine) -> None:
    add_models(engine)
    add_used_votes(engine)
    hold_lock(engine, timedelta(minutes=5))
    with pytest.raises(LockBusy, match=r"another recomputation is running.*other-host:1:abc"):
        recompute(engine, anchor=ANCHOR)
    assert count_runs(engine) == 0
    assert lock_holders(engine) == ["other-host:1:abc"]  # not released by the refused run


def test_a_stale_lock_is_taken_over_and_noted(engine: Engine, caplog) -> None:
    add_models(engine)
    add_used_votes(engine)
    hold_lock(engine, timedelta(hours=2))
    with caplog.at_level(logging.WARNING, logger="arena.recompute"):
        run = recompute(engine, anchor=ANCHOR)
    assert "took over a stale lock held by other-host:1:abc" in run.note
    assert "took over a stale lock" in caplog.text
    assert lock_holders(engine) == []


def test_the_lock_is_not_released_for_its_successor(engine: Engine) -> None:
    factory = session_factory(engine)
    with job_lock(factory, LOCK_NAME) as lock:
        assert lock_holders(engine) == [lock.holder]
        with factory() as s, s.begin():  # another run took it over meanwhile
            s.get(JobLock, LOCK_NAME).holder = "successor:2:def"
    assert lock_holders(engine) == ["successor:2:def"]


def test_two_threads_at_once_only_one_writes(engine: Engine) -> None:
    """Two runs started together: one takes the lock and, holding it (its ``precheck``
    waits), lets the other be refused; then it stores the only run."""
    add_models(engine)
    add_used_votes(engine)
    start, refused = threading.Barrier(2), threading.Event()
    outcomes: list[object] = []

    def hold(session: Session) -> None:  # under the lock: until the other is refused
        if not refused.wait(60):
            raise AssertionError("the other run was not refused while the lock was held")

    def run() -> None:
        start.wait(60)
        try:
            outcomes.append(recompute(engine, anchor=ANCHOR, precheck=hold))
        except LockBusy as exc:
            outcomes.append(exc)
            refused.set()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(type(o).__name__ for o in outcomes) == ["LockBusy", "RatingRun"]
    assert count_runs(engine) == 1
    assert lock_holders(engine) == []


#: Another process holding the recompute lock until a line arrives on its stdin.
HOLDER = """
import sys
from arena.db import make_engine, session_factory
from arena.joblock import job_lock
from arena.recompute import LOCK_NAME
with job_lock(session_factory(make_engine(sys.argv[1])), LOCK_NAME):
    sys.stdin.readline()
"""


def test_a_run_in_another_process_keeps_the_command_out(
    engine: Engine, db_url: str, tmp_path
) -> None:
    """While another process holds the lock, ``arena recompute`` is refused (exit 3,
    naming the holder) and stores nothing; once that process ends, the command runs."""
    add_models(engine)
    add_used_votes(engine)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db_url], cwd=ROOT,
                              stdin=subprocess.PIPE, text=True)  # fmt: skip
    try:
        held = wait_until(lambda: lock_holders(engine), 60, "the other process to take the lock")
        refused = cli(db_url, cwd=tmp_path)
        assert refused.returncode == 3, refused.stderr
        assert "another recomputation is running" in refused.stderr
        assert held[0] in refused.stderr and count_runs(engine) == 0
    finally:
        holder.communicate("release\n", timeout=60)
    assert holder.returncode == 0 and lock_holders(engine) == []
    assert cli(db_url, cwd=tmp_path).returncode == 0
    assert count_runs(engine) == 1


# -- the command line ---------------------------------------------------------------


def test_cli_end_to_end(engine: Engine, db_url: str, tmp_path) -> None:
    add_models(engine)
    add_used_votes(engine)
    add_excluded_votes(engine)
    proc = cli(db_url, "--anchor", MODELS[1], "--level", "0.9", cwd=tmp_path)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0, err
    assert f"{sum(USED.values())} votes used; excluded 7 voided, 9 failed" in out
    with session_factory(engine)() as s:
        run = latest_run(s)
    assert run is not None and (run.anchor, run.level) == (MODELS[1], 0.9)
    assert_same(run, expected_board(USED, anchor=MODELS[1], level=0.9))


def test_cli_without_votes_or_tables(db_url: str, tmp_path) -> None:
    if db_url.startswith("sqlite"):
        # A missing SQLite file is not opened as a new, empty database: refused as a
        # database the command cannot use (exit 1), and nothing created.
        path = Path(make_url(db_url).database or "")
        proc = cli(db_url, cwd=tmp_path)
        out, err = proc.stdout, proc.stderr
        assert proc.returncode == 1 and "no such SQLite file" in err and not out
        assert not path.exists()
        sqlite3.connect(path).close()  # an empty file: a database with no tables
        assert path.is_file()
    proc = cli(db_url, cwd=tmp_path)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 2 and "no arena tables" in err

    from arena.db import make_engine, migrate

    eng = make_engine(db_url)
    migrate(eng)
    eng.dispose()
    proc = cli(db_url, cwd=tmp_path)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0 and "no usable votes" in err and not out


def test_every_combination_of_reasons_is_left_out_once_under_its_first(engine: Engine) -> None:
    """arena.db.counted: the filters partition the votes, in the order of EXCLUSIONS."""
    import itertools

    from arena.db.counted import EXCLUSIONS, counted, excluded_for, reason_code

    add_models(engine)
    expected: Counter[str] = Counter()
    for voided, failed, named, ident, moder in itertools.product((False, True), repeat=5):
        add_battles(engine, MODELS[0], MODELS[1], Winner.MODEL_A, 1, voided=voided,
                    status=BattleStatus.FAILED if failed else BattleStatus.VOTED,
                    mode=BattleMode.NAMED if named else BattleMode.ANONY,
                    flag_identity=ident, flag_moderation=moder)  # fmt: skip
        first = next((why for why, hit in zip(
            ("voided", "failed", "named", "flagged"),
            (voided, failed, named, ident or moder), strict=True) if hit), "used")  # fmt: skip
        expected[first] += 1
    assert expected == {"used": 1, "voided": 16, "failed": 8, "named": 4, "flagged": 3}
    joined = select(func.count()).select_from(Vote).join(Battle, Vote.battle_id == Battle.id)
    with session_factory(engine)() as s:
        filters = excluded_for()
        assert {name: s.scalar(joined.where(cond)) for name, cond in filters.items()} == expected
        assert s.scalar(joined.where(counted())) == 1
        codes = Counter(s.scalars(select(reason_code()).select_from(Vote)
                                  .join(Battle, Vote.battle_id == Battle.id)))  # fmt: skip
        assert {("used", *EXCLUSIONS)[k]: n for k, n in codes.items()} == expected
        # With named battles included, the named ones fall to the next reason or count.
        assert s.scalar(joined.where(counted(include_named=True))) == 2
