"""Nothing stays streaming: a client that goes away, a killed process, the start-up sweep.

The app runs as users launch it (``python app.py``) against the loopback model server.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from arena.config import Settings
from arena.maintenance import stale_after, stale_streaming
from tests.conftest import RunningApp, _create_pg_database, _drop_pg_database, wait_until
from tests.loopback import Behaviour

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes

MODELS = ("slow-a", "slow-b")


def _config(base_url: str) -> str:
    return "\n".join(
        f'[[models]]\nname = "{name}"\nprovider = "vllm"\nbase_url = "{base_url}"\n'
        for name in MODELS
    )


def _voter(app: RunningApp, client: httpx.Client) -> str:
    return client.post(app.url + "/api/voters").json()["voter"]


def _statuses(database_url: str) -> dict[str, str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT id, status FROM battles")).all())
    finally:
        engine.dispose()


def _start_battle(app: RunningApp, client: httpx.Client, voter: str) -> str:
    """Start a battle and leave after its first event (the client disconnects)."""
    with client.stream(
        "POST", app.url + "/api/battles", json={"voter": voter, "prompt": "こんにちは"}
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                return json.loads(line[6:])["battle_id"]
    raise AssertionError("no turn event")


def test_disconnected_client_turn_finishes_and_is_stored(tmp_path: Path, llm) -> None:
    for name in MODELS:
        llm.set(name, Behaviour(tokens=30, rate=20))  # 1.5 s per answer
    app = RunningApp(tmp_path, _config(llm.base_url))
    try:
        with httpx.Client(timeout=30) as client:
            voter = _voter(app, client)
            battle_id = _start_battle(app, client, voter)
            ready = wait_until(
                lambda: _statuses(app.database_url)[battle_id] == "ready", 30, "the turn stored"
            )
            assert ready, _statuses(app.database_url)
            engine = create_engine(app.database_url)
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT role, content, error FROM messages WHERE battle_id = :b"),
                    {"b": battle_id},
                ).all()
            engine.dispose()
            answers = [r for r in rows if r.role == "assistant"]
            assert len(answers) == 2 and all(r.error is None for r in answers)
            assert all(r.content == Behaviour(tokens=30).answer() for r in answers)
            assert sum(r.role == "user" and r.content == "こんにちは" for r in rows) == 2
            vote = client.post(
                f"{app.url}/api/battles/{battle_id}/vote", json={"voter": voter, "winner": "tie"}
            )
            assert vote.status_code == 200
    finally:
        app.stop()


# -- the sweep, on its own --------------------------------------------------------------


def _add_battle(session, status, turns: int, age: float, messages: int = 0) -> str:
    from arena.db.models import Battle, BattleMode, Message, Model, Side, Voter

    model_ids = session.scalars(select(Model.id).order_by(Model.id)).all()
    if len(model_ids) < 2:
        session.add_all([Model(name="m-a", provider="vllm"), Model(name="m-b", provider="vllm")])
        session.flush()
        model_ids = session.scalars(select(Model.id).order_by(Model.id)).all()
    voter = Voter(token=os.urandom(16).hex())
    session.add(voter)
    session.flush()
    when = datetime.now(UTC) - timedelta(seconds=age)
    battle = Battle(
        id=os.urandom(16).hex(), voter_id=voter.id, model_a_id=model_ids[0],
        model_b_id=model_ids[1], mode=BattleMode.ANONY, status=status, turns=turns,
        created_at=when,
    )  # fmt: skip
    session.add(battle)
    for turn in range(1, messages + 1):
        for side in (Side.A, Side.B):
            battle.messages.append(
                Message(side=side, turn=turn, role="user", content=f"q{turn}", created_at=when)
            )
            battle.messages.append(
                Message(side=side, turn=turn, role="assistant", content=f"a{turn}", created_at=when)
            )
    session.flush()
    return battle.id


def test_sweep_closes_only_battles_that_cannot_be_streaming(engine) -> None:
    from arena.db.models import Battle, BattleStatus, Message
    from arena.maintenance import INTERRUPTED, Sweeper

    settings = Settings(total_timeout=10.0)  # stale after 20 s
    with Session(engine) as s, s.begin():
        old = _add_battle(s, BattleStatus.STREAMING, 1, age=60)
        fresh = _add_battle(s, BattleStatus.STREAMING, 1, age=1)
        later_turn = _add_battle(s, BattleStatus.STREAMING, 2, age=600, messages=1)
        ready = _add_battle(s, BattleStatus.READY, 1, age=600, messages=1)
    sweeper = Sweeper(engine, settings)
    # Running: an old battle streaming its second turn may have begun that turn just now.
    assert sweeper.sweep_once() == [old]
    assert sweeper.sweep_once() == []
    sweeper._seen = {k: v - 21 for k, v in sweeper._seen.items()}  # seen 21 s ago
    assert sweeper.sweep_once() == [later_turn]
    with Session(engine) as s:
        status = dict(s.execute(select(Battle.id, Battle.status)).all())
        assert status == {
            old: BattleStatus.FAILED, fresh: BattleStatus.STREAMING,
            later_turn: BattleStatus.FAILED, ready: BattleStatus.READY,
        }  # fmt: skip
        rows = s.scalars(select(Message).where(Message.battle_id == later_turn)).all()
        kept = sorted((m.turn, m.role, m.content, m.error) for m in rows)
        assert kept == sorted(
            [(1, "user", "q1", None)] * 2 + [(1, "assistant", "a1", None)] * 2
            + [(2, "user", "", None)] * 2 + [(2, "assistant", "", INTERRUPTED)] * 2
        )  # fmt: skip
    # At start-up every stale battle goes, whatever its turn.
    with Session(engine) as s, s.begin():
        again = _add_battle(s, BattleStatus.STREAMING, 3, age=600, messages=2)
    assert Sweeper(engine, settings).sweep_once(first=True) == [again]


# -- a killed process ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def app_env(request: pytest.FixtureRequest):
    """The app's database: its own SQLite file (None), or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield {}
        return
    admin = request.getfixturevalue("pg_admin")
    url = _create_pg_database(admin)
    try:
        yield {"DATABASE_URL": url}
    finally:
        _drop_pg_database(admin, url)


def test_sigkill_mid_stream_leaves_nothing_streaming(tmp_path: Path, llm, app_env) -> None:
    env = {"ARENA_TOTAL_TIMEOUT": "3", **app_env}
    app = RunningApp(tmp_path, _config(llm.base_url), env=env)
    database_url = env.get("DATABASE_URL", app.database_url)
    acknowledged: list[str] = []
    try:
        with httpx.Client(timeout=30) as client:
            voters = [_voter(app, client) for _ in range(6)]
            for name in MODELS:
                llm.set(name, Behaviour(tokens=3))
            finished = []
            for voter in voters:
                with client.stream(
                    "POST", app.url + "/api/battles", json={"voter": voter, "prompt": "q"}
                ) as response:
                    lines = [line for line in response.iter_lines() if line.startswith("data:")]
                finished.append((voter, json.loads(lines[0][6:])["battle_id"]))
            for name in MODELS:
                llm.set(name, Behaviour(tokens=400, rate=20))  # 20 s: killed mid-stream
            streaming = [(v, _start_battle(app, client, v)) for v, _ in finished[:3]]
            # Votes on the finished battles (of other voters) race the kill.
            assert len(streaming) == 3

            def vote_all() -> None:
                with httpx.Client(timeout=10) as voting:
                    for voter, battle_id in finished[3:]:
                        try:
                            r = voting.post(
                                f"{app.url}/api/battles/{battle_id}/vote",
                                json={"voter": voter, "winner": "model_a"},
                            )
                        except httpx.HTTPError:
                            return
                        if r.status_code == 200:
                            acknowledged.append(battle_id)

            voting = threading.Thread(target=vote_all)
            voting.start()
            wait_until(lambda: acknowledged, 10, "a first acknowledged vote")
            os.kill(app.proc.pid, signal.SIGKILL)
            app.proc.wait(10)
            voting.join(30)
        left = {b for b, st in _statuses(database_url).items() if st == "streaming"}
        assert left == {b for _, b in streaming}  # what the sweep has to close
        assert acknowledged  # at least the first vote was in before the kill
    finally:
        app.stop()
    # The restart's sweep closes battles idle for total_timeout + margin (6 s in all): wait
    # until every one left streaming is that old by the sweep's own measure.
    aged = create_engine(database_url)
    try:

        def all_stale() -> bool:
            cutoff = datetime.now(UTC) - timedelta(seconds=stale_after(Settings(total_timeout=3)))
            with Session(aged) as s:
                return set(stale_streaming(s, cutoff)) == left

        wait_until(all_stale, 30, "the battles left streaming to age past 6 s")
    finally:
        aged.dispose()
    restarted = RunningApp(tmp_path, _config(llm.base_url), env=env)
    try:
        statuses = wait_until(
            lambda: (st := _statuses(database_url)) and "streaming" not in st.values() and st,
            30,
            "the restart's sweep to close every battle left streaming",
        )
        assert statuses and "streaming" not in statuses.values(), _statuses(database_url)
        assert all(statuses[b] == "failed" for _, b in streaming)
        engine = create_engine(database_url)
        with engine.connect() as conn:
            voted = set(conn.execute(text("SELECT battle_id FROM votes")).scalars())
            errors = conn.execute(
                text("SELECT battle_id, error FROM messages WHERE role = 'assistant'")
            ).all()
        engine.dispose()
        assert set(acknowledged) <= voted
        assert all(statuses[b] == "voted" for b in acknowledged)
        interrupted = {b for b, e in errors if e == "interrupted"}
        assert interrupted == {b for _, b in streaming}
    finally:
        restarted.stop()
