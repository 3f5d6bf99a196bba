"""Nothing stays streaming: a client that goes away, a killed process, the start-up sweep.

The app runs as users launch it (``python app.py``) against the loopback model server.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import RunningApp, _create_pg_database, _drop_pg_database
from tests.loopback import Behaviour

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


def _wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


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
            ready = _wait_for(lambda: _statuses(app.database_url)[battle_id] == "ready")
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
