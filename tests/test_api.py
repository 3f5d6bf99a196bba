"""The HTTP surface of the running app: health, security headers, routes that must be
off in a blind arena, spoofed client addresses, and votes forged through Gradio's API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from arena.api import create_api
from arena.battles import Arena
from arena.config import Settings
from arena.db import make_engine, migrate, session_factory
from arena.db.models import Voter, Winner
from arena.model_config import demo_models
from arena.recompute import recompute
from tests.test_recompute import add_battles

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes


def call(app, name: str, data: list) -> list[tuple[str, str]]:
    """Run a Gradio endpoint through its public call API; return (event, data) pairs."""
    with httpx.Client(base_url=app.url, timeout=60) as client:
        r = client.post(
            f"/gradio_api/call/{name}",
            json={"data": data},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        r.raise_for_status()
        events, event = [], ""
        with client.stream("GET", f"/gradio_api/call/{name}/{r.json()['event_id']}") as resp:
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    events.append((event, line[5:].strip()))
        return events


def test_health_reports_database_and_demo_mode(app_server) -> None:
    r = httpx.get(app_server.url + "/api/health")
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("status", "database", "demo")} == {
        "status": "ok", "database": "ok", "demo": True,
    }  # fmt: skip
    assert set(body["models"]) == {"Demo-Echo", "Demo-Haiku", "Demo-Lister"}
    assert all(m["healthy"] for m in body["models"].values())


def test_security_headers_block_remote_images(app_server) -> None:
    r = httpx.get(app_server.url + "/")
    csp = r.headers["content-security-policy"]
    assert "img-src 'self' data: blob:" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_monitoring_route_is_off(app_server) -> None:
    for path in ("/monitoring", "/gradio_api/monitoring"):
        r = httpx.get(app_server.url + path, follow_redirects=True)
        assert r.status_code in (403, 404), (path, r.status_code)
        assert "metrics" not in r.text.lower() and "<html" not in r.text.lower()


def test_page_config_has_no_share_button_and_no_run_history(app_server) -> None:
    config = httpx.get(app_server.url + "/config").json()
    chatbots = [c for c in config["components"] if c.get("type") == "chatbot"]
    assert chatbots
    for c in chatbots:
        assert "share" not in (c["props"].get("buttons") or [])
    # Gradio's run history would keep every call (prompts, answers) in the browser.
    assert config["run_history"] is False


def new_voter(app, **headers: str) -> str:
    """A voter token issued by the app (``POST /api/voters``)."""
    r = httpx.post(app.url + "/api/voters", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["voter"]


def test_spoofed_forwarded_for_is_ignored(app_server) -> None:
    token = new_voter(app_server, **{"X-Forwarded-For": "203.0.113.9"})
    engine = create_engine(app_server.database_url)
    with Session(engine) as s:
        voter = s.scalar(select(Voter).where(Voter.token == token))
    engine.dispose()
    secret = app_server.env["ARENA_SECRET"]
    assert voter.ip_hash == hashlib.sha256(f"{secret}:127.0.0.1".encode()).hexdigest()
    assert voter.ip_hash != hashlib.sha256(f"{secret}:203.0.113.9".encode()).hexdigest()


def test_vote_through_the_hidden_api_without_a_battle_is_rejected(app_server) -> None:
    events = call(app_server, "arena_vote_model_a", ["6" * 32])
    assert events[-1][0] == "complete"
    payload = json.dumps([json.loads(d) for _, d in events], ensure_ascii=False)
    assert "Demo-" not in payload  # nothing revealed


def test_battle_api_streams_blind_then_reveals_once(app_server) -> None:
    voter = new_voter(app_server)
    with httpx.Client(base_url=app_server.url, timeout=60) as client:
        with client.stream(
            "POST", "/api/battles", json={"voter": voter, "prompt": "<b>hi</b>"}
        ) as r:
            assert r.status_code == 200
            raw = r.read().decode()
        assert "Demo-" not in raw and '"demo"' not in raw
        lines = [ln for ln in raw.splitlines() if ln.startswith(("event:", "data:"))]
        kinds = [ln[6:].strip() for ln in lines if ln.startswith("event:")]
        assert kinds[0] == "turn" and kinds[-1] == "done" and "delta" in kinds
        first = json.loads(lines[1][5:])
        done = json.loads(lines[-1][5:])
        assert done == {"errors": {"a": None, "b": None}, "votable": True}
        battle_id = first["battle_id"]
        text_a = "".join(
            json.loads(d[5:]).get("a", "")
            for k, d in zip(lines[::2], lines[1::2], strict=True)
            if k == "event: delta"
        )
        assert "<b>hi</b>" in text_a  # the demo echoes the prompt, verbatim

        other = client.post(
            f"/api/battles/{battle_id}/vote",
            json={"voter": new_voter(app_server), "winner": "model_a"},
        )
        assert other.status_code == 404 and "Demo-" not in other.text
        bad = client.post(f"/api/battles/{battle_id}/vote", json={"voter": voter, "winner": "A"})
        assert bad.status_code == 400 and bad.json()["error"] == "vote_invalid"
        ok = client.post(f"/api/battles/{battle_id}/vote", json={"voter": voter, "winner": "tie"})
        assert ok.status_code == 200
        names = ok.json()
        assert names["model_a"].startswith("Demo-") and names["model_b"].startswith("Demo-")
        assert names["model_a"] != names["model_b"]
        again = client.post(
            f"/api/battles/{battle_id}/vote", json={"voter": voter, "winner": "tie"}
        )
        assert again.status_code == 409 and again.json()["error"] == "vote_repeat"
        empty = client.post("/api/battles", json={"voter": voter, "prompt": "  "})
        assert empty.status_code == 400 and empty.json()["error"] == "prompt_empty"
        short = client.post("/api/battles", json={"voter": "x", "prompt": "hi"})
        assert short.status_code == 400 and short.json()["error"] == "invalid_request"


@contextmanager
def api_on(database_url: str) -> Iterator[tuple[TestClient, Engine]]:
    """The JSON API in-process on a migrated database (no model is called), and its engine.

    The leaderboard's routes only read the database: a launched app (``app_server``, once
    per session) adds its start-up and nothing these tests look at.
    """
    engine = make_engine(database_url)
    try:
        migrate(engine)
        settings = Settings(database_url=database_url, secret="s", models=demo_models())
        arena = Arena(settings, session_factory(engine), {})  # registers the demo models
        with TestClient(create_api(arena)) as client:
            yield client, engine
    finally:
        engine.dispose()


def test_leaderboard_json_before_any_run(app_db_url) -> None:
    with api_on(app_db_url) as (client, engine):
        r = client.get("/api/leaderboard")
        assert r.status_code == 200 and r.json() == {"run": None, "models": [], "not_rated": []}
        # One vote: a run with no rated model; both listed with their battle, no rating.
        add_battles(engine, "Demo-Echo", "Demo-Haiku", Winner.MODEL_A, 1)
        recompute(engine, anchor="Demo-Echo", min_votes=20)
        body = client.get("/api/leaderboard").json()
    assert body["models"] == [] and body["run"]["votes"] == 0
    assert body["run"]["min_votes"] == 20 and body["run"]["provisional"] is False
    assert sorted(body["not_rated"], key=lambda u: u["model"]) == [
        {"model": "Demo-Echo", "battles": 1, "reason": "few_votes"},
        {"model": "Demo-Haiku", "battles": 1, "reason": "few_votes"},
    ]


def test_admin_routes_of_the_launched_app_refuse_without_credentials(app_server) -> None:
    for path in ("/api/admin/today", "/api/admin/battles", "/api/admin/export?format=jsonl"):
        r = httpx.get(app_server.url + path)
        assert r.status_code == 401, path
        assert "Demo-" not in r.text
    r = httpx.post(app_server.url + "/api/admin/recompute")
    assert r.status_code == 401


def test_a_battle_records_how_its_first_prompt_came(app_server) -> None:
    from arena.db.models import Battle

    voter = new_voter(app_server)
    with httpx.Client(base_url=app_server.url, timeout=60) as client:
        for source in ("<script>", "example:Email", "typed " * 10, 5):
            body = {"voter": voter, "prompt": "例から", "source": source}
            r = client.post("/api/battles", json=body)
            assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        ids = []
        for source in ("example:email", "typed", None):
            r = client.post("/api/battles", json={"voter": voter, "prompt": "例", "source": source})
            assert r.status_code == 200
            ids.append(json.loads(r.text.split("data: ", 1)[1].split("\n", 1)[0])["battle_id"])
    engine = create_engine(app_server.database_url)
    with Session(engine) as s:
        stored = [s.get(Battle, i).prompt_source for i in ids]
    engine.dispose()
    assert stored == ["example:email", "typed", None]


def test_leaderboard_json_says_votes_until_neighbours_separate(app_db_url) -> None:
    with api_on(app_db_url) as (client, engine):
        for a, b, winner, n in (  # Echo well ahead of Haiku and Lister, who are level
            ("Demo-Echo", "Demo-Haiku", Winner.MODEL_A, 40),
            ("Demo-Echo", "Demo-Haiku", Winner.MODEL_B, 2),
            ("Demo-Echo", "Demo-Lister", Winner.MODEL_A, 40),
            ("Demo-Echo", "Demo-Lister", Winner.MODEL_B, 2),
            ("Demo-Haiku", "Demo-Lister", Winner.MODEL_A, 15),
            ("Demo-Haiku", "Demo-Lister", Winner.MODEL_B, 15),
        ):
            add_battles(engine, a, b, winner, n)
        recompute(engine, anchor="Demo-Echo", min_votes=20)
        body = client.get("/api/leaderboard").json()
    models = [m["model"] for m in body["models"]]
    assert models[0] == "Demo-Echo"
    pairs = body["neighbours"]
    assert [(p["upper"], p["lower"]) for p in pairs] == list(pairwise(models))
    assert pairs[0]["votes"] == 0  # Echo's interval is clear of the next one's
    second = pairs[1]  # Haiku and Lister, 15 to 15: no gap to separate
    assert second["gap"] < 1 and second["votes"] is None
