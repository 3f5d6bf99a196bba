"""The HTTP surface of the running app: health, security headers, routes that must be
off in a blind arena, spoofed client addresses, and votes forged through Gradio's API."""

from __future__ import annotations

import hashlib
import json

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from arena.db.models import Voter


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
    assert r.json() == {"status": "ok", "database": "ok", "models": 3, "demo": True}


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


def test_spoofed_forwarded_for_is_ignored(app_server) -> None:
    token = "5" * 32
    events = call(app_server, "arena_send", ["こんにちは", token])
    assert events[-1][0] == "complete"
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
