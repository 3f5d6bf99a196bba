"""/metrics after battles through the loopback server, and per-model health in /api/health."""

from __future__ import annotations

import random

import httpx
import pytest

from arena.api import create_api
from arena.backends import build_backends, make_client
from arena.backends.base import Timeouts
from arena.battles import Arena, VoterRef
from arena.config import ModelSpec, Settings
from arena.db import make_engine, migrate, session_factory
from arena.db.models import Voter
from tests.loopback import Behaviour

ALICE = VoterRef("a" * 32, "192.0.2.1")
NAMES = ("Alpha-7B", "Beta-13B")


@pytest.fixture
async def arena(tmp_path, llm):
    engine = make_engine(f"sqlite:///{tmp_path / 'arena.db'}")
    migrate(engine)
    models = tuple(
        ModelSpec(name=n, provider="vllm", model=f"served/{n}", base_urls=(llm.base_url,))
        for n in NAMES
    )
    settings = Settings(database_url=str(engine.url), models=models, secret="s", retries=0,
                        first_token_timeout=2.0, total_timeout=10.0)  # fmt: skip
    client = make_client(Timeouts(connect=2, first_token=2))
    a = Arena(settings, session_factory(engine), build_backends(models, client),
              rng=random.Random(1))  # fmt: skip
    with a.sessions.begin() as s:
        s.add(Voter(token=ALICE.token))
    yield a
    await client.aclose()
    engine.dispose()


def api_client(arena: Arena, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_api(arena), client=(host, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://arena")


def sample(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    head = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(head + " "):
            return float(line.split()[-1])
    return None


async def test_metrics_count_a_battle_its_vote_and_a_failed_side(arena, llm) -> None:
    llm.set("served/Beta-13B", Behaviour(mode="status_500"))
    last = None
    async for state in arena.send(ALICE, "こんにちは"):
        last = state
    assert last is not None and last.finished

    async with api_client(arena) as client:
        r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert sample(text, "battles_total", mode="anony") == 1
    assert sample(text, "votes_total") == 0
    assert sample(text, "model_errors_total", model="Beta-13B", kind="http_500") == 1
    assert sample(text, "time_to_first_token_seconds_count", model="Alpha-7B") == 1
    assert sample(text, "tokens_per_second_count", model="Alpha-7B") == 1
    assert sample(text, "time_to_first_token_seconds_count", model="Beta-13B") is None
    assert sample(text, "streams_in_flight") == 0


async def test_metrics_are_refused_to_remote_and_proxied_clients(arena) -> None:
    async with api_client(arena, host="192.0.2.9") as client:
        assert (await client.get("/metrics")).status_code == 404
    async with api_client(arena) as client:
        proxied = await client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.9"})
        assert proxied.status_code == 404


async def test_health_lists_each_model_and_its_back_off(arena) -> None:
    for _ in range(3):
        arena.health.record("Beta-13B", ok=False)
    async with api_client(arena) as client:
        body = (await client.get("/api/health")).json()
    assert body["status"] == "ok"
    assert body["models"]["Alpha-7B"] == {"healthy": True, "failures": 0, "retry_in": 0.0}
    beta = body["models"]["Beta-13B"]
    assert beta["healthy"] is False and beta["failures"] == 3 and 0 < beta["retry_in"] <= 10
