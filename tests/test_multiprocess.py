"""Two app processes on one PostgreSQL database behind a reverse proxy, as deployed.

``deploy/nginx/tanuki-arena.conf`` sends the battle API to any process and everything
else (the Gradio page, whose queue and ``gr.State`` live in one process) to the process
named by a route cookie. :class:`Proxy` routes the same way on a loopback port, so a
battle started on one process is voted on through the other, and one voter's limits are
counted across both. The models are the loopback vLLM-protocol server.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, aliased

from arena.db.models import Battle, Model, Vote, Voter
from tests.conftest import RunningApp, ThreadServer, _create_pg_database, _drop_pg_database

#: Launches app processes: scheduled early in a parallel run (conftest).
pytestmark = [pytest.mark.postgres, pytest.mark.processes]

MODELS = ("loop-a", "loop-b", "loop-c")
ROUTE_COOKIE = "tanuki_route"  # the cookie deploy/nginx/tanuki-arena.conf hashes on
SECRET = "replicas-share-this-secret"
IP_SALT = "replicas-share-this-salt"
VOTERS_PER_ADDRESS = 20
BATTLES_PER_VOTER = 3
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer",
              "proxy-authorization", "proxy-authenticate", "host"}  # fmt: skip


class Proxy:
    """A reverse proxy on a loopback port, routed like the nginx config in ``deploy/``.

    ``/api/`` goes round-robin over the backends. Everything else is sticky: a client
    without the route cookie gets a new random route, which the response sets as the
    cookie, and the backend is the route's hash. ``X-Forwarded-For`` is overwritten with
    the connection's address (what a client sends is dropped), as nginx does with
    ``$remote_addr``. Each response says which backend served it (``x-test-backend``).
    """

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self._turn = itertools.count()
        self._client: httpx.AsyncClient | None = None
        self.served = ThreadServer(self, timeout=20, proxy_headers=False, lifespan="on")
        self.url = self.served.url

    def stop(self) -> None:
        self.served.stop()

    def route(self, path: str, cookie_header: str) -> tuple[int, str | None]:
        """The backend for a request, and a new route cookie to set (or None)."""
        if path.startswith("/api/"):
            return next(self._turn) % len(self.backends), None
        cookies = SimpleCookie(cookie_header)
        new = None
        if ROUTE_COOKIE in cookies and cookies[ROUTE_COOKIE].value:
            key = cookies[ROUTE_COOKIE].value
        else:
            key = new = uuid.uuid4().hex
        return int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(self.backends), new

    async def __call__(self, scope, receive, send) -> None:  # an ASGI app
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._client = httpx.AsyncClient(timeout=httpx.Timeout(60, read=120))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self._client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = [(k.decode("latin1").lower(), v.decode("latin1")) for k, v in scope["headers"]]
        cookie = "; ".join(v for k, v in headers if k == "cookie")
        host = next((v for k, v in headers if k == "host"), "")
        backend, new_route = self.route(scope["path"], cookie)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        upstream_headers = [(k, v) for k, v in headers if k not in HOP_BY_HOP
                            and not k.startswith("x-forwarded-")]  # fmt: skip
        upstream_headers += [("x-forwarded-for", scope["client"][0]),
                             ("x-forwarded-proto", "http"), ("x-forwarded-host", host)]  # fmt: skip
        url = self.backends[backend] + scope["raw_path"].decode()
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode()
        request = self._client.build_request(
            scope["method"], url, headers=upstream_headers, content=body
        )
        response = await self._client.send(request, stream=True)
        try:
            out = [(k.encode(), v.encode()) for k, v in response.headers.multi_items()
                   if k.lower() not in HOP_BY_HOP]  # fmt: skip
            out.append((b"x-test-backend", str(backend).encode()))
            if new_route:
                out.append((b"set-cookie", f"{ROUTE_COOKIE}={new_route}; Path=/".encode()))
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": out})  # fmt: skip
            async for chunk in response.aiter_raw():  # unbuffered: SSE passes as it comes
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()


class Cluster:
    def __init__(self, apps: list[RunningApp], proxy: Proxy, database_url: str) -> None:
        self.apps, self.proxy, self.database_url = apps, proxy, database_url

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        """A client of the proxy connecting from ``source`` (any 127.x address is local)."""
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(base_url=self.proxy.url, transport=transport, timeout=60)

    def rows(self, model: type, *where) -> list:
        engine = create_engine(self.database_url)
        try:
            with Session(engine) as s:
                return list(s.scalars(select(model).where(*where)))
        finally:
            engine.dispose()

    def names(self, battle_ids: list[str]) -> dict[str, tuple[str, str]]:
        """The stored models of each battle: id -> (model A, model B)."""
        a, b = aliased(Model), aliased(Model)
        query = (
            select(Battle.id, a.name, b.name)
            .join(a, Battle.model_a_id == a.id)
            .join(b, Battle.model_b_id == b.id)
            .where(Battle.id.in_(battle_ids))
        )
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return {id_: (na, nb) for id_, na, nb in conn.execute(query)}
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def cluster(pg_admin, loopback, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    loopback.reset()
    url = _create_pg_database(pg_admin)
    config = "\n".join(
        f'[[models]]\nname = "{name}"\nprovider = "vllm"\nbase_url = "{loopback.base_url}"\n'
        for name in MODELS
    )
    # As deployed: the replicas share the database, the secrets (addresses are limited by
    # salted hash) and believe X-Forwarded-For from the proxy's address only.
    env = {
        "DATABASE_URL": url,
        "ARENA_SECRET": SECRET,
        "ARENA_IP_SALT": IP_SALT,
        "ARENA_TRUSTED_PROXIES": "127.0.0.1",
        "ARENA_RATE_VOTERS_PER_ADDRESS": f"{VOTERS_PER_ADDRESS}/hour",
        "ARENA_RATE_BATTLES_PER_VOTER": f"{BATTLES_PER_VOTER}/10 minutes",
    }
    apps: list[RunningApp] = []
    proxy = None
    try:
        # One after the other: the first start migrates the empty database (two
        # processes migrating one empty database at once can collide; see deploy/README).
        for k in range(2):
            tmp = tmp_path_factory.mktemp(f"replica{k}")
            apps.append(RunningApp(tmp, config, env=env, database_url=url))
        proxy = Proxy([app.url for app in apps])
        yield Cluster(apps, proxy, url)
    finally:
        if proxy is not None:
            proxy.stop()
        for app in apps:
            app.stop()
        _drop_pg_database(pg_admin, url)


def events(raw: str) -> list[tuple[str, dict]]:
    """Server-sent events as (event, data) pairs."""
    out = []
    for block in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def new_voter(client: httpx.Client) -> str:
    r = client.post("/api/voters")
    assert r.status_code == 200, r.text
    return r.json()["voter"]


def start_battle(client: httpx.Client, voter: str, prompt: str) -> tuple[str, int]:
    """A finished first turn: the battle id and the backend that streamed it."""
    with client.stream("POST", "/api/battles", json={"voter": voter, "prompt": prompt}) as r:
        assert r.status_code == 200, r.read()
        backend = int(r.headers["x-test-backend"])
        got = events(r.read().decode())
    assert got[0][0] == "turn" and got[-1] == ("done", {"errors": {"a": None, "b": None},
                                                        "votable": True})  # fmt: skip
    assert not any(name in json.dumps(got) for name in MODELS)  # blind while streaming
    return got[0][1]["battle_id"], backend


def hash_ip(ip: str) -> str:
    return hashlib.sha256(f"{IP_SALT}:{ip}".encode()).hexdigest()


def test_battles_and_votes_through_both_processes_are_stored_once(cluster: Cluster) -> None:
    winners = ("model_a", "model_b", "tie", "tie (bothbad)")
    acked: dict[str, tuple[str, dict]] = {}  # battle id -> (winner sent, names revealed)
    crossings = set()
    with cluster.client() as client:
        for k in range(4):  # three API calls per voter: the round-robin turns both ways
            voter = new_voter(client)
            battle_id, started_on = start_battle(client, voter, f"質問 {k}")
            winner = winners[k]
            v = client.post(f"/api/battles/{battle_id}/vote",
                            json={"voter": voter, "winner": winner})  # fmt: skip
            assert v.status_code == 200, v.text
            crossings.add((started_on, int(v.headers["x-test-backend"])))
            acked[battle_id] = (winner, v.json())
    assert {(0, 1), (1, 0)} <= crossings  # started on one process, voted through the other

    def play(k: int) -> tuple[str, str, httpx.Response]:
        with cluster.client() as client:
            voter = new_voter(client)
            battle_id, _ = start_battle(client, voter, f"同時の質問 {k}")
            winner = winners[k % 4]
            vote = client.post(f"/api/battles/{battle_id}/vote",
                               json={"voter": voter, "winner": winner})  # fmt: skip
            return battle_id, winner, vote

    with ThreadPoolExecutor(8) as pool:
        for battle_id, winner, vote in pool.map(play, range(8)):
            assert vote.status_code == 200, vote.text
            acked[battle_id] = (winner, vote.json())

    # Every acknowledged vote is stored exactly once, with its verdict and the names shown.
    votes = cluster.rows(Vote)
    assert sorted(v.battle_id for v in votes) == sorted(acked)
    battles = {b.id: b for b in cluster.rows(Battle, Battle.id.in_(list(acked)))}
    stored_names = cluster.names(list(acked))
    for vote in votes:
        winner, reveal = acked[vote.battle_id]
        assert vote.winner.value == winner
        assert (reveal["model_a"], reveal["model_b"]) == stored_names[vote.battle_id]
        assert reveal["model_a"] != reveal["model_b"] and reveal["counted"] is True
        assert vote.ip_hash == hash_ip("127.0.0.1")

    # After the vote, both processes give the same answer for the battle: it is voted.
    voter_of = {b.id: b.voter_id for b in battles.values()}
    tokens = {v.id: v.token for v in cluster.rows(Voter)}
    some = next(iter(acked))
    for app in cluster.apps:
        again = httpx.post(f"{app.url}/api/battles/{some}/vote", timeout=30,
                           json={"voter": tokens[voter_of[some]], "winner": "tie"})  # fmt: skip
        assert again.status_code == 409 and again.json()["error"] == "vote_repeat"
        assert not any(name in again.text for name in MODELS)


def test_limits_are_counted_across_both_processes(cluster: Cluster) -> None:
    # New voters per client address: the proxy's X-Forwarded-For names the client; what
    # the client writes there itself is dropped, so spoofing buys no new address.
    statuses, served = [], set()
    with cluster.client("127.0.0.2") as client:
        for k in range(VOTERS_PER_ADDRESS + 10):
            r = client.post("/api/voters", headers={"X-Forwarded-For": f"198.51.100.{k}"})
            statuses.append(r.status_code)
            served.add(int(r.headers["x-test-backend"]))
            if r.status_code == 429:
                assert 1 <= int(r.headers["Retry-After"]) <= 3600
    assert served == {0, 1}
    assert statuses.count(200) == VOTERS_PER_ADDRESS and statuses.count(429) == 10
    stored = cluster.rows(Voter, Voter.ip_hash == hash_ip("127.0.0.2"))
    assert len(stored) == VOTERS_PER_ADDRESS
    assert not cluster.rows(Voter, Voter.ip_hash == hash_ip("198.51.100.0"))

    # New battles per voter, one voter through both processes.
    with cluster.client("127.0.0.3") as client:
        voter = new_voter(client)  # another address: its own budget
        results = []
        for k in range(BATTLES_PER_VOTER + 2):
            with client.stream(
                "POST", "/api/battles", json={"voter": voter, "prompt": f"上限 {k}"}
            ) as r:
                r.read()
                results.append((r.status_code, int(r.headers["x-test-backend"])))
    assert [s for s, _ in results].count(200) == BATTLES_PER_VOTER
    assert [s for s, _ in results].count(429) == 2
    assert {b for s, b in results if s == 200} == {0, 1}
    (owner,) = cluster.rows(Voter, Voter.token == voter)
    assert len(cluster.rows(Battle, Battle.voter_id == owner.id)) == BATTLES_PER_VOTER


def test_the_page_stays_on_one_process_through_the_proxy(cluster: Cluster) -> None:
    with cluster.client("127.0.0.4") as client:
        page = client.get("/")
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert ROUTE_COOKIE in client.cookies
        home = int(page.headers["x-test-backend"])
        config = client.get("/config")
        assert config.status_code == 200 and int(config.headers["x-test-backend"]) == home
        assert config.json()["root"].rstrip("/") == cluster.proxy.url  # X-Forwarded-Host
        voter = new_voter(client)

        # The page streams the turn from the battle API (any process: the battle lives in
        # the database), then a Gradio event draws it from there.
        turn = client.post("/api/battles", json={"voter": voter, "prompt": "ページから"})
        assert turn.status_code == 200
        battle_id = json.loads(turn.text.split("data: ", 1)[1].split("\n", 1)[0])["battle_id"]
        # A Gradio event is two requests (start, then read the stream): the queue that
        # holds it is in one process, so both must reach that process.
        outcome = json.dumps({"battle_id": battle_id, "started": True})
        start = client.post("/gradio_api/call/arena_streamed", json={"data": [outcome, voter]})
        assert start.status_code == 200 and int(start.headers["x-test-backend"]) == home
        event_id = start.json()["event_id"]
        stream = client.get(f"/gradio_api/call/arena_streamed/{event_id}")
        assert int(stream.headers["x-test-backend"]) == home
        assert "event: complete" in stream.text
        drawn = json.dumps(json.loads(stream.text.split("data: ", 1)[1]), ensure_ascii=False)
        assert "ページから" in drawn and battle_id in drawn
        assert not any(name in stream.text for name in MODELS)
    other = cluster.apps[1 - home]
    try:  # the other process never saw the event: Gradio cuts that stream off
        elsewhere = httpx.get(f"{other.url}/gradio_api/call/arena_streamed/{event_id}", timeout=30)
        assert "event: complete" not in elsewhere.text
    except httpx.RemoteProtocolError:
        pass
    (owner,) = cluster.rows(Voter, Voter.token == voter)
    (battle,) = cluster.rows(Battle, Battle.voter_id == owner.id)
    assert battle.turns == 1 and owner.ip_hash == hash_ip("127.0.0.4")
