"""The admin area: credentials (PBKDF2 and SHA-256 hashes), the rate limit on wrong
passwords, refusal without credentials (JSON routes, the admin Gradio page and its API,
Chromium), the console actions through HTTP and the CLI, and their audit rows.

The app is built as app.py builds it (the arena's FastAPI app, :func:`mount_admin`, a
page mounted at ``/`` standing in for the volunteer page) and served by uvicorn in a
thread, on SQLite and on PostgreSQL; uvicorn believes X-Forwarded-For from 127.0.0.1, so
tests can come from several client addresses.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arena.admin import AdminUsers, ExportStore, RateLimited, RateLimiter, hash_password
from arena.cli import main as cli_main
from arena.db.models import (
    AuditLog,
    Battle,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Side,
    Vote,
    Voter,
)
from arena.errors import ConfigError
from arena.export import pseudonym
from tests.conftest import ThreadServer, _create_pg_database, _drop_pg_database, wait_until
from tests.test_export import ANCHOR, SALT, seed

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]
ROOT_PW, SECOND_PW, THIRD_PW = "root-pass-1", "second-pass-2", "third-pass-3"
ADMINS = ",".join(
    [
        f"root:{hash_password(ROOT_PW, iterations=1000)}",
        f"second:{hashlib.sha256(SECOND_PW.encode()).hexdigest()}",
        f"third:{hash_password(THIRD_PW, iterations=1000)}",
    ]
)
ROOT_AUTH = ("root", ROOT_PW)
#: The seeded arena has four counted votes and a model with only one of them: every model
#: with a vote must be rated for ``votes_used`` to count each counted vote (the default
#: ``rating_min_votes``, 20, would rate none). The console's recompute takes no minimum
#: today; the setting keeps these tests meaning the same if it applies the setting.
MIN_VOTES = 1


# -- credentials and the rate limiter ------------------------------------------------


def test_password_hashes() -> None:
    hashed = hash_password("correct horse")
    assert re.fullmatch(r"pbkdf2_sha256\$600000\$[0-9a-f]{32}\$[0-9a-f]{64}", hashed)
    users = AdminUsers(f"ann:{hashed}, bob:{hashlib.sha256(b'pw').hexdigest()}")
    assert users.verify("ann", "correct horse") and users.verify("ann", "correct horse")
    assert not users.verify("ann", "wrong") and not users.verify("ann", "")
    assert users.verify("bob", "pw") and not users.verify("bob", "pw ")
    assert not users.verify("carol", "pw") and "carol" not in users and "ann" in users
    assert hash_password("x") != hash_password("x")  # salted
    assert not AdminUsers("")
    for bad in ("ann", "ann:", "ann:abc", "ann:pbkdf2_sha256$x$s$00", ":" + "0" * 64):
        with pytest.raises(ConfigError, match="ARENA_ADMIN_USERS"):
            AdminUsers(bad)


def test_rate_limiter_slots() -> None:
    limiter = RateLimiter(max_failures=5, window=300)
    slots = [limiter.reserve("a", "x") for _ in range(4)]
    assert limiter.retry_after("a", "x") == 0
    slots.append(limiter.reserve("a", "x"))
    assert 299 <= limiter.retry_after("a", "x") <= 300
    # Locked per address (any user) and per user (any address); nothing counted when refused.
    for ip, user in (("a", "y"), ("b", "x"), ("a", "x")):
        with pytest.raises(RateLimited) as refused:
            limiter.reserve(ip, user)
        assert 299 <= refused.value.retry_after <= 300
    assert limiter.retry_after("b", "y") == 0
    # A check that succeeded gives its slot back, for its address and its user.
    limiter.release(slots.pop())
    assert limiter.retry_after("a", "x") == 0
    limiter.reserve("b", "x")
    assert limiter.retry_after("c", "x") > 0 and limiter.retry_after("a", "z") == 0


def test_rate_limiter_window_passes() -> None:
    limiter = RateLimiter(max_failures=2, window=1)
    limiter.reserve("a", "x"), limiter.reserve("a", "x")
    with pytest.raises(RateLimited) as refused:
        limiter.reserve("a", "x")
    assert refused.value.retry_after == 1
    started = time.monotonic()
    wait_until(lambda: limiter.retry_after("a", "x") == 0, 5, "the window to end")
    assert time.monotonic() - started <= 1.5  # the window was one second
    limiter.reserve("a", "x")


def test_cli_hash_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process (arena.cli.main): tests/test_cli.py launches the command line for real.
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret\n"))  # piped, not a terminal
    code = cli_main(["hash-password", "--user", "ann", "--iterations", "5000"])
    out = capsys.readouterr()
    assert code == 0, out.err
    line = out.out.strip()
    assert line.startswith("ann:pbkdf2_sha256$5000$") and "s3cret" not in line
    assert AdminUsers(line).verify("ann", "s3cret")


def test_admin_api_imports_neither_gradio_nor_the_ui() -> None:
    """The API layer does not import the UI (issue 16): the admin page is mounted apart."""
    probe = (
        "import sys, arena.admin_api; "
        "print(sorted(m for m in sys.modules if m == 'gradio' or m.startswith('arena.ui')))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=root, timeout=120)  # fmt: skip
    assert out.stdout.strip() == "[]"


# -- the app, served --------------------------------------------------------------------


class Served:
    """The app with the admin area, on uvicorn in a thread."""

    def __init__(self, engine: Engine, exports: Path) -> None:
        import gradio as gr

        from arena.api import create_api
        from arena.backends import Timeouts, build_backends, make_client
        from arena.battles import Arena
        from arena.config import Settings, demo_models
        from arena.db import session_factory
        from arena.ui.admin_mount import mount_admin

        self.engine = engine
        settings = Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            admin_users=ADMINS, export_salt=SALT, models=demo_models(), secret="s" * 32,
            rating_min_votes=MIN_VOTES,
        )  # fmt: skip
        backends = build_backends(settings.models, make_client(Timeouts(5, 5)))
        self.arena = Arena(settings, session_factory(engine), backends)
        app = create_api(self.arena)
        self.area = mount_admin(app, self.arena, engine, exports=ExportStore(exports))
        with gr.Blocks() as volunteer:
            gr.Markdown("volunteer page", elem_id="volunteer")
        gr.mount_gradio_app(app, volunteer, path="/", footer_links=[])
        # uvicorn believes X-Forwarded-For from 127.0.0.1: the tests speak as other addresses.
        self.served = ThreadServer(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1")
        self.url = self.served.url

    def stop(self) -> None:
        self.served.stop()

    def client(self, ip: str | None = None, **kw: object) -> httpx.Client:
        headers = {"X-Forwarded-For": ip} if ip else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)

    def audit(self) -> list[AuditLog]:
        with Session(self.engine) as s:
            return list(s.scalars(select(AuditLog).order_by(AuditLog.id)))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from arena.db import make_engine, migrate

    if request.param == "sqlite":
        url, admin = f"sqlite:///{tmp_path_factory.mktemp('admin') / 'arena.db'}", None
    else:
        admin = request.getfixturevalue("pg_admin")
        url = _create_pg_database(admin)
    engine = make_engine(url)
    migrate(engine)
    seeded = seed(engine)
    app = Served(engine, tmp_path_factory.mktemp("exports"))
    app.seeded = seeded  # type: ignore[attr-defined]
    yield app
    app.stop()
    engine.dispose()
    if admin:
        _drop_pg_database(admin, url)


JSON_ROUTES = [
    ("GET", "/api/admin/battles"),
    ("GET", "/api/admin/battles/" + "0" * 32),
    ("POST", "/api/admin/battles/" + "0" * 32 + "/void"),
    ("POST", "/api/admin/battles/" + "0" * 32 + "/unvoid"),
    ("GET", "/api/admin/models"),
    ("POST", "/api/admin/models/enable"),
    ("POST", "/api/admin/models/disable"),
    ("GET", "/api/admin/today"),
    ("POST", "/api/admin/voters/delete"),
    ("POST", "/api/admin/recompute"),
    ("GET", "/api/admin/audit"),
    ("GET", "/api/admin/export"),
]


def test_everything_refused_without_credentials(served: Served) -> None:
    with served.client() as c:
        for method, path in JSON_ROUTES:
            r = c.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["www-authenticate"].startswith("Basic")
            assert "model_a" not in r.text
        for path in ("/admin/config", "/admin/gradio_api/info", "/admin/gradio_api/queue/data"):
            assert c.get(path).status_code == 401, path
        for name in ("list_battles", "show_battle", "delete", "run"):
            r = c.post(f"/admin/gradio_api/call/{name}", json={"data": []})
            assert r.status_code == 401, name
        r = c.post("/admin/gradio_api/queue/join", json={"data": [], "fn_index": 0})
        assert r.status_code == 401
        page = c.get("/admin/", follow_redirects=True)
        assert page.status_code == 200
        assert "admin-battles" not in page.text and "auth_required" in page.text
        # The volunteer page is still served at / and does not know the admin page.
        config = c.get("/config").json()
        assert "admin" not in json.dumps(config).lower()


def test_wrong_passwords_are_rate_limited(served: Served) -> None:
    ip = "10.9.0.1"
    with served.client(ip) as c:
        for _ in range(5):
            assert c.get("/api/admin/models", auth=("third", "nope")).status_code == 401
        r = c.get("/api/admin/models", auth=("third", "nope"))
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 300
        # Blocked even with the right password, from this address and for this user.
        assert c.get("/api/admin/models", auth=("third", THIRD_PW)).status_code == 429
        assert c.get("/api/admin/models", auth=ROOT_AUTH).status_code == 429
    with served.client("10.9.0.2") as c:
        assert c.get("/api/admin/models", auth=("third", THIRD_PW)).status_code == 429
        assert c.get("/api/admin/models", auth=ROOT_AUTH).status_code == 200
    failed = [a for a in served.audit() if a.action == "login_failed" and a.actor == "third"]
    assert len(failed) == 5 and all("ip=10.9.0.1" in a.detail for a in failed)
    # The Gradio login form is limited the same way.
    with served.client("10.9.0.3") as c:
        for _ in range(5):
            r = c.post("/admin/login", data={"username": "nobody", "password": "x"})
            assert r.status_code == 400
        r = c.post("/admin/login", data={"username": "nobody", "password": "x"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_gradio_login_gives_the_console(served: Served) -> None:
    with served.client("10.9.1.1") as c:
        r = c.post("/admin/login", data={"username": "root", "password": ROOT_PW})
        assert r.status_code == 200, r.text
        config = c.get("/admin/config")
        assert config.status_code == 200
        ids = {x["props"].get("elem_id") for x in config.json()["components"]}
        assert {"admin-battles", "admin-export", "admin-recompute", "admin-delete"} <= ids
    logins = [a for a in served.audit() if a.action == "login" and a.actor == "root"]
    assert logins and "ip=10.9.1.1" in logins[-1].detail


def test_handlers_check_the_user_again(served: Served) -> None:
    import gradio as gr

    from arena.admin import AdminAuth, AdminConsole
    from arena.ui.admin import require_admin

    auth = AdminAuth(AdminUsers(ADMINS), AdminConsole(served.arena.settings, served.engine),
                     RateLimiter())  # fmt: skip
    for user in (None, "mallory", ""):
        with pytest.raises(gr.Error):
            require_admin(auth, gr.Request(username=user))
    with pytest.raises(gr.Error):
        require_admin(auth, None)
    assert require_admin(auth, gr.Request(username="root")) == "root"


def _today_battle(engine: Engine, token: str, status: BattleStatus, winner: str | None) -> str:
    bid = uuid.uuid4().hex
    with Session(engine) as s, s.begin():
        voter = Voter(token=token, ip_hash="f" * 64)
        s.add(voter)
        names = ("Demo-Echo", "Demo-Haiku")
        a, b = (s.scalar(select(Model).where(Model.name == n)) for n in names)
        s.flush()
        s.add(Battle(id=bid, voter_id=voter.id, model_a_id=a.id, model_b_id=b.id,
                     mode=BattleMode.ANONY, status=status, turns=1))  # fmt: skip
        s.add(Message(battle_id=bid, side=Side.A, turn=1, role="user", content="今日の質問"))
        if winner:
            s.add(Vote(battle_id=bid, voter_id=voter.id, winner=winner))
    return bid


def test_console_through_json(served: Served) -> None:
    seeded = served.seeded  # type: ignore[attr-defined]
    with served.client(auth=ROOT_AUTH) as c:
        rows = c.get("/api/admin/battles", params={"limit": 500}).json()
        assert len(rows) >= 10 and all("token" not in r and "ip_hash" not in r for r in rows)
        assert {r["voter"] for r in rows} >= {pseudonym(t, SALT) for t in seeded.tokens}
        failed = c.get("/api/admin/battles", params={"failed": "yes"}).json()
        assert failed and {r["status"] for r in failed} == {"failed"}
        flagged = c.get("/api/admin/battles", params={"flagged": "yes"}).json()
        assert {r["id"] for r in flagged} == seeded.flagged
        unvoted = c.get("/api/admin/battles", params={"voted": "no"}).json()
        assert all(r["winner"] is None for r in unvoted) and len(unvoted) >= 3
        by_model = c.get("/api/admin/battles", params={"model": "@Evil-Model"}).json()
        assert by_model and all("@Evil-Model" in (r["model_a"], r["model_b"]) for r in by_model)
        dated = c.get("/api/admin/battles", params={"since": "2026-11-02", "until": "2026-11-02"})
        assert len(dated.json()) == 1
        assert c.get("/api/admin/battles", params={"voted": "perhaps"}).status_code == 400

        bid = next(iter(seeded.counted))
        shown = c.get(f"/api/admin/battles/{bid}").json()
        assert shown["winner"] == "model_a" and len(shown["messages"]) == 8
        assert shown["messages"][0]["content"].startswith("質問 1")
        assert c.get("/api/admin/battles/" + "f" * 32).status_code == 404

        # Void (a reason is required), then the recomputation leaves the vote out. The vote
        # voided is the second between its two models, so the fit's comparison graph stays
        # connected without it (``votes_used`` counts only the fitted piece's votes).
        def pair(b: str) -> frozenset[str]:
            return frozenset((seeded.counted[b]["model_a"], seeded.counted[b]["model_b"]))

        bid = list(seeded.counted)[3]
        assert [pair(b) for b in seeded.counted].count(pair(bid)) == 2
        assert c.post(f"/api/admin/battles/{bid}/void", json={"reason": " "}).status_code == 400
        r = c.post(f"/api/admin/battles/{bid}/void", json={"reason": "same prompt 40 times"})
        assert r.json() == {"battle": bid, "voided": True, "void_reason": "same prompt 40 times"}
        assert c.post(f"/api/admin/battles/{bid}/void", json={"reason": "x"}).status_code == 400
        run = c.post("/api/admin/recompute").json()
        assert run == {"run": run["run"], "votes_used": len(seeded.counted) - 1, "models": 4}
        assert c.post(f"/api/admin/battles/{bid}/unvoid").json()["voided"] is False
        run = c.post("/api/admin/recompute").json()
        assert run == {"run": run["run"], "votes_used": len(seeded.counted), "models": 4}

        # Models: disabled in the database, left out of the arena's next battle.
        assert c.post("/api/admin/models/disable", json={"model": "Demo-Lister"}).json() == {
            "name": "Demo-Lister", "enabled": False,
        }  # fmt: skip
        from arena.db import repo

        with served.arena.sessions() as s:
            assert "Demo-Lister" not in repo.enabled_models(s)
        c.post("/api/admin/models/enable", json={"model": "Demo-Lister"})
        with served.arena.sessions() as s:
            assert "Demo-Lister" in repo.enabled_models(s)
        models = {m["name"]: m["enabled"] for m in c.get("/api/admin/models").json()}
        assert models["Demo-Lister"] is True and ANCHOR in models
        assert c.post("/api/admin/models/enable", json={"model": "nope"}).status_code == 404

        # Today's figures.
        before = c.get("/api/admin/today").json()
        _today_battle(served.engine, uuid.uuid4().hex, BattleStatus.VOTED, "model_b")
        _today_battle(served.engine, uuid.uuid4().hex, BattleStatus.FAILED, None)
        today = c.get("/api/admin/today").json()
        assert today["battles"] == before["battles"] + 2
        assert today["failed"] == before["failed"] + 1
        assert today["votes"] == before["votes"] + 1
        echo = today["per_model"]["Demo-Echo"]
        assert echo["battles"] >= 2 and echo["failed"] >= 1 and echo["votes"] >= 1

        # Export download: the file, its checksum, nothing private.
        r = c.get("/api/admin/export", params={"format": "jsonl", "include_named": "true"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndj")
        assert r.headers["x-export-sha256"] == hashlib.sha256(r.content).hexdigest()
        rows = len(seeded.counted) + len(seeded.named) + 1  # and the vote cast today
        assert int(r.headers["x-export-rows"]) == len(r.text.splitlines()) == rows
        for secret in seeded.tokens + seeded.ip_hashes:
            assert secret not in r.text
        assert not list(served.area.exports.root.iterdir())  # the temporary folder is gone
        assert c.get("/api/admin/export", params={"format": "xls"}).status_code == 400
        r = c.get("/api/admin/export", params={"format": "csv", "models": "nope"})
        assert r.status_code == 400 and "unknown model" in r.text

    actions = [(a.actor, a.action) for a in served.audit()]
    for action in ("view_battle", "void_vote", "unvoid_vote", "recompute", "disable_model",
                   "enable_model", "export"):  # fmt: skip
        assert ("root", action) in actions, action


def test_delete_voter_by_pseudonym_and_by_token(served: Served) -> None:
    token_a, token_b = uuid.uuid4().hex, uuid.uuid4().hex
    mine = [_today_battle(served.engine, token_a, BattleStatus.VOTED, "tie")]
    mine.append(_today_battle(served.engine, token_b, BattleStatus.VOTED, "tie"))
    with served.client(auth=ROOT_AUTH) as c:
        r = c.post("/api/admin/voters/delete", json={"voter": pseudonym(token_a, SALT)})
        assert r.status_code == 200
        assert r.json() == {"voter": pseudonym(token_a, SALT), "messages": 1, "votes": 1,
                            "battles": 1}  # fmt: skip
        r = c.post("/api/admin/voters/delete", json={"voter": token_b})
        assert r.json()["battles"] == 1
        again = c.post("/api/admin/voters/delete", json={"voter": token_b})
        assert again.status_code == 404
    with Session(served.engine) as s:
        assert not s.scalars(select(Battle).where(Battle.id.in_(mine))).all()
        assert not s.scalars(select(Voter).where(Voter.token.in_([token_a, token_b]))).all()
        assert not s.scalars(select(Message).where(Message.battle_id.in_(mine))).all()
    deletions = [a for a in served.audit() if a.action == "delete_voter"]
    assert [d.target for d in deletions[-2:]] == [pseudonym(t, SALT) for t in (token_a, token_b)]
    assert all(token_a not in a.detail + a.target for a in served.audit())


def test_cli_console_commands(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process (arena.cli.main, what `python -m arena` runs): ten interpreter launches
    # added only their start-up; tests/test_cli.py launches the command line for real.
    url = served.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ARENA_EXPORT_SALT", SALT)
    monkeypatch.setenv("ARENA_RATING_MIN_VOTES", str(MIN_VOTES))
    monkeypatch.delenv("ARENA_CONFIG", raising=False)
    monkeypatch.chdir(ROOT)

    def cli(*args: str) -> subprocess.CompletedProcess:
        code = cli_main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    bid = list(served.seeded.counted)[1]  # type: ignore[attr-defined]
    r = cli("void", bid, "--reason", "duplicate account")
    assert r.returncode == 0 and json.loads(r.stdout)["voided"] is True
    assert json.loads(cli("show", bid).stdout)["void_reason"] == "duplicate account"
    assert json.loads(cli("unvoid", bid).stdout)["voided"] is False
    assert cli("unvoid", bid).returncode == 2
    assert json.loads(cli("disable-model", "Plain-7B").stdout)["enabled"] is False
    assert json.loads(cli("enable-model", "Plain-7B").stdout)["enabled"] is True
    assert json.loads(cli("battles", "--failed", "yes").stdout)
    assert "per_model" in json.loads(cli("today").stdout)
    recomputed = cli("recompute", "--seed", "1")  # arena.recompute's command: a text report
    assert recomputed.returncode == 0, recomputed.stderr
    assert int(re.search(r"^rating run #\d+: (\d+) votes used", recomputed.stdout)[1]) >= 4
    token = uuid.uuid4().hex
    _today_battle(served.engine, token, BattleStatus.READY, None)
    assert json.loads(cli("delete-voter", token).stdout)["battles"] == 1
    cli_rows = [a for a in served.audit() if a.actor.startswith("cli:")]
    assert {a.action for a in cli_rows} >= {
        "void_vote", "unvoid_vote", "view_battle", "disable_model", "enable_model",
        "delete_voter",
    }  # fmt: skip


# -- the browser --------------------------------------------------------------------


def test_browser_sees_a_login_then_the_console(served: Served, page, artifacts) -> None:
    page.goto(served.url + "/admin/", wait_until="domcontentloaded")
    page.wait_for_selector("input[type=password]", timeout=30_000)
    assert page.query_selector("#admin-battles") is None
    assert page.query_selector("#admin-title") is None
    assert "model_a" not in page.content()
    page.screenshot(path=str(artifacts / "admin-login.png"))
    page.locator("input").first.fill("root")
    page.fill("input[type=password]", ROOT_PW)
    page.keyboard.press("Enter")
    page.wait_for_selector("#admin-title", timeout=30_000)
    page.click("#admin-search")
    page.wait_for_function(
        "() => document.querySelector('#admin-battles').innerText.includes('voted')",
        timeout=30_000,
    )
    page.screenshot(path=str(artifacts / "admin-console.png"))
    # Export from the page: a link to one download, for this admin only.
    page.get_by_role("tab", name="Export").click()
    page.click("#admin-export")
    page.wait_for_selector("#admin-export-link", timeout=30_000)
    href = page.eval_on_selector("#admin-export-link", "a => a.href")
    assert href.startswith(served.url + "/admin/exports/")
    data = page.request.get(href)
    assert data.status == 200 and data.headers["cache-control"] == "no-store"
    assert len(data.text().splitlines()) >= 4 and '"judge":"arena_user_' in data.text()
    assert data.headers["x-export-sha256"] == hashlib.sha256(data.body()).hexdigest()
    assert page.request.get(href).status == 404  # one download
    assert not list(served.area.exports.root.iterdir())
    page.screenshot(path=str(artifacts / "admin-export.png"))


# -- the app as users launch it -------------------------------------------------------


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory):
    """``python app.py`` with admins configured (the wiring of app.py, not this test's)."""
    from tests.conftest import RunningApp

    env = {"ARENA_ADMIN_USERS": ADMINS, "ARENA_EXPORT_SALT": SALT}
    app = RunningApp(tmp_path_factory.mktemp("launched"), "", env=env)
    yield app
    app.stop()


def test_launched_app_keeps_an_idle_connection_past_uvicorns_default(launched) -> None:
    """app.py keeps an idle kept-alive connection open longer than uvicorn's default 5 s
    (app.KEEP_ALIVE_S), so that the proxy or browser, whose own limit is shorter, closes
    it first: a request it sends meanwhile is answered on the same connection."""
    conn = http.client.HTTPConnection("127.0.0.1", launched.port, timeout=30)
    try:
        conn.request("GET", "/api/health")
        first = conn.getresponse()
        first.read()
        kept = conn.sock
        time.sleep(6)  # idle past uvicorn's default, which would have closed it
        conn.request("GET", "/api/health")  # on a closed one: RemoteDisconnected
        again = conn.getresponse()
        again.read()
        assert (first.status, again.status) == (200, 200) and conn.sock is kept
    finally:
        conn.close()


def test_launched_app_guards_the_admin_area(launched, page) -> None:
    with httpx.Client(base_url=launched.url, timeout=30) as c:
        assert c.get("/api/admin/today").status_code == 401
        assert c.get("/admin/config").status_code == 401
        assert c.get("/api/admin/today", auth=ROOT_AUTH).json()["battles"] == 0
        assert "admin" not in json.dumps(c.get("/config").json()).lower()
    page.goto(launched.url + "/admin/", wait_until="domcontentloaded")
    page.wait_for_selector("input[type=password]", timeout=30_000)
    assert page.query_selector("#admin-title") is None
