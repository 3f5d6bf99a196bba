"""The recomputation's rigging defences on a real database: each exclusion reason has a
case that triggers it and one that must not; flags keep their evidence and an admin's
decision wins over the statistics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, insert, select

from arena.admin import AdminConsole, AdminError
from arena.config import Settings
from arena.db import session_factory
from arena.db.models import (
    AuditLog,
    Battle,
    BattleMode,
    BattleStatus,
    FlagStatus,
    Model,
    Vote,
    Voter,
    VoterFlag,
)
from arena.integrity.screen import Rules
from arena.recompute import recompute

MODELS = [f"M{k:02d}" for k in range(8)]
RATINGS = np.linspace(1150, 850, len(MODELS))
ANCHOR = MODELS[3]
DAY0 = datetime(2026, 11, 2, 8, tzinfo=UTC)


class Arena:
    """Writes battles and votes the way the app stores them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with session_factory(engine).begin() as s:
            s.add_all(Model(name=n, provider="openai") for n in MODELS)
        with session_factory(engine)() as s:
            self.ids = dict(s.execute(select(Model.name, Model.id)).all())
        self.voters: dict[str, int] = {}
        self.rng = np.random.default_rng(5)

    def voter(self, name: str) -> int:
        if name not in self.voters:
            with session_factory(self.engine).begin() as s:
                self.voters[name] = s.execute(
                    insert(Voter).values(token=f"{name}-{uuid.uuid4().hex}").returning(Voter.id)
                ).scalar_one()
        return self.voters[name]

    def battle(self, voter: str, a: int, b: int, winner: str | None, when: datetime, *,
               address: str | None = None, fast: bool = False) -> None:  # fmt: skip
        bid = uuid.uuid4().hex
        vid = self.voter(voter)
        with session_factory(self.engine).begin() as s:
            s.execute(insert(Battle).values(
                id=bid, voter_id=vid, model_a_id=self.ids[MODELS[a]],
                model_b_id=self.ids[MODELS[b]], mode=BattleMode.ANONY,
                status=BattleStatus.VOTED if winner else BattleStatus.ABANDONED, turns=1,
                created_at=when, ready_at=when,
            ))  # fmt: skip
            if winner:
                s.execute(insert(Vote).values(
                    battle_id=bid, voter_id=vid, winner=winner, created_at=when,
                    seconds_to_vote=0.5 if fast else 20.0, flag_fast=fast,
                    ip_hash=address or f"addr-{voter}", chars_a=500, chars_b=500,
                ))  # fmt: skip

    def verdict(self, a: int, b: int) -> str:
        """An honest verdict drawn from the ratings (ties included)."""
        p = 1 / (1 + 10 ** ((RATINGS[b] - RATINGS[a]) / 400))
        if self.rng.random() < 0.15:
            return "tie"
        return "model_a" if self.rng.random() < p else "model_b"

    def honest(self, voters: int, votes: int) -> None:
        """Volunteers voting from the ratings, a day at a time."""
        for v in range(voters):
            when = DAY0 + timedelta(hours=v % 24)
            for _ in range(votes):
                a, b = (int(x) for x in self.rng.choice(len(MODELS), 2, replace=False))
                when += timedelta(minutes=2)
                self.battle(f"honest{v}", a, b, self.verdict(a, b), when)


def run(engine: Engine, **rules) -> dict[str, int]:
    r = recompute(engine, anchor=ANCHOR, rules=Rules(**rules))
    reasons = ("fast", "cap_voter", "cap_address", "steering", "outlier")
    return {k: getattr(r, f"excluded_{k}") for k in reasons} | {"used": r.votes_used}


def flags(engine: Engine) -> list[VoterFlag]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(VoterFlag)))


def test_too_fast_votes_are_excluded_and_slow_ones_kept(engine) -> None:
    arena = Arena(engine)
    arena.honest(6, 8)
    for k in range(5):
        arena.battle("hasty", k % 4, 4 + k % 4, "model_a", DAY0 + timedelta(minutes=k), fast=True)
    got = run(engine)
    assert got["fast"] == 5 and got["used"] == 48


def test_daily_caps_per_voter_and_per_address(engine) -> None:
    arena = Arena(engine)
    arena.honest(6, 8)
    for k in range(12):  # 12 votes in one day: the cap of 10 leaves out the last 2
        arena.battle("keen", k % 8, (k + 1) % 8, "tie", DAY0 + timedelta(minutes=3 * k))
    for k in range(6):  # 6 more the next day: under the cap again
        arena.battle("keen", k % 8, (k + 2) % 8, "tie", DAY0 + timedelta(days=1, minutes=k))
    for v in range(4):  # four voters behind one address, 5 votes each: address cap 15
        for k in range(5):
            arena.battle(f"nat{v}", k % 8, (k + 3) % 8, "tie",
                         DAY0 + timedelta(minutes=10 * v + k), address="shared")  # fmt: skip
    got = run(engine, cap_voter_day=10, cap_address_day=15)
    assert got["cap_voter"] == 2 and got["cap_address"] == 5
    assert got["used"] == 48 + 16 + 15


def test_a_steering_voter_is_flagged_and_a_random_abandoner_is_not(engine) -> None:
    arena = Arena(engine)
    arena.honest(8, 10)
    rng = np.random.default_rng(2)
    when = DAY0
    for _ in range(60):
        a, b = (int(x) for x in rng.choice(len(MODELS), 2, replace=False))
        when += timedelta(minutes=3)
        winner = ("model_a" if a == 6 else "model_b") if 6 in (a, b) else None
        arena.battle("steerer", a, b, winner, when)
        a, b = (int(x) for x in rng.choice(len(MODELS), 2, replace=False))
        arena.battle("wanderer", a, b, None if rng.random() < 0.4 else arena.verdict(a, b), when)
    got = run(engine)
    flagged = {f.voter_id: f for f in flags(engine)}
    steerer = arena.voters["steerer"]
    assert set(flagged) == {steerer} and flagged[steerer].reason == "steering"
    assert '"model": "M06"' in flagged[steerer].evidence
    with session_factory(engine)() as s:
        assert got["steering"] == s.query(Vote).filter(Vote.voter_id == steerer).count()


def add_fan(arena: Arena) -> None:
    """A voter who always votes for the weakest model (M07) when present, tie otherwise."""
    rng = np.random.default_rng(3)
    when = DAY0
    for _ in range(40):
        a, b = (int(x) for x in rng.choice(len(MODELS), 2, replace=False))
        when += timedelta(minutes=3)
        winner = ("model_a" if a == 7 else "model_b") if 7 in (a, b) else "tie"
        arena.battle("fan", a, b, winner, when)


def test_an_outlier_voter_is_flagged_and_honest_ones_are_not(engine) -> None:
    arena = Arena(engine)
    arena.honest(30, 12)
    add_fan(arena)
    got = run(engine)
    found = flags(engine)
    assert [(f.voter_id, f.reason) for f in found] == [(arena.voters["fan"], "outlier")]
    assert '"model": "M07"' in found[0].evidence and found[0].p_value < 0.01
    assert got["outlier"] == 40 and got["used"] == 360


def test_admin_decisions_win_over_the_statistics(engine) -> None:
    arena = Arena(engine)
    arena.honest(30, 12)
    add_fan(arena)
    assert run(engine)["outlier"] == 40
    console = AdminConsole(Settings(database_url=str(engine.url)), engine)
    listed = console.flags()
    assert len(listed) == 1 and listed[0]["evidence"]["model"] == "M07"
    console.decide_flag("alice", listed[0]["id"], "clear")
    assert run(engine)["outlier"] == 0  # cleared: the votes count, the finding is not re-raised
    assert [f.status for f in flags(engine)] == [FlagStatus.CLEARED]
    console.decide_flag("alice", listed[0]["id"], "confirm")
    assert run(engine, fdr=0)["outlier"] == 40  # confirmed: out even with the tests off
    with pytest.raises(AdminError):
        console.decide_flag("alice", listed[0]["id"], "maybe")
    with session_factory(engine)() as s:
        actions = list(s.scalars(select(AuditLog.action)))
    assert actions.count("clear_flag") == 1 and actions.count("confirm_flag") == 1


def test_the_leaderboard_shows_the_votes_left_out_per_reason(engine) -> None:
    from arena.db import stats
    from arena.ui.leaderboard import excluded_line

    arena = Arena(engine)
    arena.honest(6, 8)
    for k in range(3):
        arena.battle("hasty", k, k + 4, "model_a", DAY0 + timedelta(minutes=k), fast=True)
    run(engine)
    with session_factory(engine)() as s:
        info = stats.latest_run(s)
    assert info.excluded["fast"] == 3 and info.excluded["outlier"] == 0
    assert "読む時間のない速さの投票 3" in excluded_line(info.excluded, "ja")
    assert "too fast to have read 3" in excluded_line(info.excluded, "en")
    assert "outlier" not in excluded_line(info.excluded, "en")  # reasons with none are left out
