"""Scripted stuffing against the app as users launch it, and limits shared by two app
processes on one PostgreSQL database.

The first module app runs on the embedded defaults (no limit relaxed): what a script
on one address gets is what an attacker would get.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from arena.db.models import Battle, Vote, Voter
from tests.conftest import RunningApp, _create_pg_database, _drop_pg_database

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def default_app(
    tmp_path_factory: pytest.TempPathFactory, module_app_db_url: str
) -> Iterator[RunningApp]:
    """On SQLite (limits in memory), then on PostgreSQL (limits in the database)."""
    app = RunningApp(tmp_path_factory.mktemp("integrity"), database_url=module_app_db_url)
    yield app
    app.stop()


def count(app: RunningApp, model: type) -> int:
    engine = create_engine(app.database_url)
    with Session(engine) as s:
        n = s.scalar(select(func.count()).select_from(model))
    engine.dispose()
    return n or 0


def battle_and_vote(client: httpx.Client, voter: str, prompt: str) -> int:
    """One scripted battle and vote; the status of the refusal, or 200 when it voted."""
    with client.stream("POST", "/api/battles", json={"voter": voter, "prompt": prompt}) as r:
        if r.status_code != 200:
            r.read()
            return r.status_code
        raw = r.read().decode()
    battle_id = json.loads(raw.split("data: ", 1)[1].split("\n", 1)[0])["battle_id"]
    v = client.post(f"/api/battles/{battle_id}/vote", json={"voter": voter, "winner": "model_a"})
    return v.status_code


def test_scripted_voters_from_one_address_are_capped(default_app: RunningApp) -> None:
    statuses, retry_after = [], []
    with httpx.Client(base_url=default_app.url, timeout=60) as client:
        for _ in range(60):
            r = client.post("/api/voters", headers={"X-Forwarded-For": "198.51.100.7"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                retry_after.append(int(r.headers["Retry-After"]))
                assert r.json()["error"] == "rate_limited"
    issued = statuses.count(200)
    assert issued == 20 and statuses.count(429) == 40  # the default: 20 new voters an hour
    assert all(1 <= s <= 3600 for s in retry_after)
    engine = create_engine(default_app.database_url)
    with Session(engine) as s:
        tokens = list(s.scalars(select(Voter.token)))
    engine.dispose()

    def play(token: str) -> int:
        with httpx.Client(base_url=default_app.url, timeout=60) as client:
            return battle_and_vote(client, token, "投票の水増し")

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(play, tokens))
    assert results.count(200) == len(tokens) <= 20
    assert count(default_app, Vote) <= 20


def test_invented_tokens_store_nothing(default_app: RunningApp) -> None:
    before = (count(default_app, Battle), count(default_app, Vote), count(default_app, Voter))
    with httpx.Client(base_url=default_app.url, timeout=60) as client:
        for token in ("", "f" * 32, "anonymous", "x" * 5000):
            r = client.post("/api/battles", json={"voter": token, "prompt": "こんにちは"})
            assert r.status_code in (400, 401)
            assert r.json()["error"] in ("unknown_voter", "invalid_request")
            assert token[:64] not in r.text or not token  # never echoed
            v = client.post("/api/battles/" + "0" * 32 + "/vote",
                            json={"voter": token, "winner": "model_a"})  # fmt: skip
            assert v.status_code in (400, 401)
        # the page's own endpoints, called by a script with an invented token (the
        # page streams a turn from /api/battles, then asks for it: arena_streamed)
        outcome = json.dumps({"battle_id": "0" * 32, "started": True})
        for name, data in (
            ("arena_streamed", [outcome, "e" * 32]),
            ("named_send", ["こんにちは", "e" * 32]),
            ("arena_vote_model_a", ["e" * 32]),
        ):
            r = client.post(f"/gradio_api/call/{name}", json={"data": data})
            assert r.status_code == 200
            event = r.json()["event_id"]
            body = client.get(f"/gradio_api/call/{name}/{event}").text
            assert "Demo-" not in body
    after = (count(default_app, Battle), count(default_app, Vote), count(default_app, Voter))
    assert after == before


def test_a_scripted_voter_is_limited_through_the_page_endpoints(tmp_path, app_db_url) -> None:
    """Stuffing through the page's calls with one issued voter hits the battle limit.

    The page streams blind turns from the battle API and then asks ``arena_streamed``
    for the stored turn; the named mode sends through a Gradio event. Both count.
    """
    env = {"ARENA_RATE_BATTLES_PER_VOTER": "3/10 minutes"}
    app = RunningApp(tmp_path, env=env, database_url=app_db_url)
    try:
        with httpx.Client(base_url=app.url, timeout=60) as client:
            token = client.post("/api/voters").json()["voter"]
            stored, refused = [], []
            for k in range(4):
                r = client.post("/api/battles", json={"voter": token, "prompt": f"質問 {k}"})
                refused.append(r.status_code == 429 and "Retry-After" in r.headers)
                battle_id = re.search(r'"battle_id": "(\w+)"', r.text)
                outcome = json.dumps({"battle_id": battle_id and battle_id[1], "started": True})
                r = client.post("/gradio_api/call/arena_streamed", json={"data": [outcome, token]})
                body = client.get(f"/gradio_api/call/arena_streamed/{r.json()['event_id']}").text
                assert "Demo-" not in body
                stored.append(count(app, Battle))
            for k in range(2):
                data = [f"名前つき {k}", token, "Demo-Echo", "Demo-Haiku"]
                r = client.post("/gradio_api/call/named_send", json={"data": data})
                client.get(f"/gradio_api/call/named_send/{r.json()['event_id']}")
                stored.append(count(app, Battle))
        assert stored == [1, 2, 3, 3, 3, 3]  # three battles, then refused on both paths
        assert refused == [False, False, False, True]
    finally:
        app.stop()


@pytest.mark.postgres
def test_two_app_processes_share_the_limits_through_postgresql(pg_admin, tmp_path) -> None:
    url = _create_pg_database(pg_admin)
    # Replicas share their secrets (the address hash is salted with them), as deployed.
    env = {"DATABASE_URL": url, "ARENA_RATE_VOTERS_PER_ADDRESS": "7/hour",
           "ARENA_SECRET": "replicas-share-this-secret"}  # fmt: skip
    apps = []
    try:
        for k in range(2):
            (tmp_path / f"app{k}").mkdir()
            apps.append(RunningApp(tmp_path / f"app{k}", env=env))

        def issue(k: int) -> int:
            return httpx.post(apps[k % 2].url + "/api/voters", timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(issue, range(30)))
        assert statuses.count(200) == 7 and statuses.count(429) == 23
    finally:
        for app in apps:
            app.stop()
        _drop_pg_database(pg_admin, url)
