"""Attacks on the admin area, replayed: concurrent password guesses against the login
limit, and the admin page's exports fetched without logging in (through Gradio's file
route of the volunteer app, or the download link itself).

The guesses go to the app launched as users launch it (``python app.py``, see
tests/conftest.py), with ``ARENA_TRUSTED_PROXIES=127.0.0.1`` so each test comes from its
own ``X-Forwarded-For`` address. Hash checks are counted without patching: every checked
wrong password is a ``login_failed`` row of the audit log, a refused one is counted in a
``login_refused`` row. The limit's window passing, its storage shared by two processes
(two limiters on one database) and the export store's expiry run in-process.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from arena.admin import (
    AdminAuth,
    AdminConsole,
    AdminUsers,
    AuthFailed,
    ExportStore,
    RateLimited,
    RateLimiter,
    RefusalLog,
    default_export_root,
    hash_password,
)
from arena.config import Settings
from arena.db.models import AuditLog
from arena.errors import ConfigError
from tests.conftest import wait_until
from tests.test_export import SALT

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes

ROOT_PW, OTHER_PW, SLOW_PW = "root-pw-1", "other-pw-2", "slow-pw-3"
GATE_PW, MEMO_PW = "gate-pw-4", "memo-pw-5"
# "slow" and "gate" have the default cost (600,000 PBKDF2 iterations, ~0.3 s a check), so
# guesses sent together overlap their checks as an attacker's would.
ADMINS = ",".join(
    [
        f"root:{hash_password(ROOT_PW, iterations=1000)}",
        f"other:{hash_password(OTHER_PW, iterations=1000)}",
        f"slow:{hash_password(SLOW_PW)}",
        f"gate:{hash_password(GATE_PW)}",
        f"memo:{hash_password(MEMO_PW, iterations=1000)}",
    ]
)
GUESSES = 100
#: The shared limiter's window (s): long enough for the 100 concurrent guesses to be
#: checked inside it on a loaded machine (3 s was not, with four test workers on 2 cores).
SHARED_WINDOW = 10


# -- the app as users launch it ----------------------------------------------------------


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory):
    from tests.conftest import RunningApp

    env = {
        "ARENA_ADMIN_USERS": ADMINS,
        "ARENA_EXPORT_SALT": SALT,
        "ARENA_TRUSTED_PROXIES": "127.0.0.1",
    }
    app = RunningApp(tmp_path_factory.mktemp("security"), "", env=env)
    app.engine = create_engine(app.database_url)  # type: ignore[attr-defined]
    yield app
    app.stop()
    app.engine.dispose()  # type: ignore[attr-defined]


def together(url: str, n: int, send: Callable[[httpx.Client, int], httpx.Response]) -> list:
    """``n`` requests sent at the same moment, each on its own connection."""
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        # Not connected beforehand: uvicorn closes a connection idle for 5 s, and waiting
        # for 100 threads to gather can take that long.
        with httpx.Client(base_url=url, timeout=120) as client:
            barrier.wait()
            return send(client, i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def audit(app, action: str, actor: str) -> list[AuditLog]:
    with Session(app.engine) as s:
        q = select(AuditLog).where(AuditLog.action == action, AuditLog.actor == actor)
        return list(s.scalars(q.order_by(AuditLog.id)))


def refused(app, actor: str, expected: int, timeout: float = 20) -> int:
    """The refusals audited for ``actor`` once they reach ``expected`` (batched writes)."""

    def total() -> int:
        rows = audit(app, "login_refused", actor)
        return sum(int(re.search(r"refused=(\d+)", r.detail).group(1)) for r in rows)

    def waited_for() -> str:
        return f"{expected} refusals audited for {actor} (so far {total()})"

    wait_until(lambda: total() >= expected, timeout, waited_for, interval=0.5)
    return total()


def xff(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


def test_concurrent_wrong_passwords_check_five(launched) -> None:
    ip = "10.20.0.1"
    responses = together(
        launched.url,
        GUESSES,
        lambda c, i: c.get("/api/admin/today", auth=("slow", f"guess-{i}"), headers=xff(ip)),
    )
    codes = Counter(r.status_code for r in responses)
    slowest = max(r.elapsed.total_seconds() for r in responses)
    print(f"\n{GUESSES} concurrent wrong passwords (JSON, HTTP Basic): {dict(codes)}, "
          f"the slowest answered in {slowest:.2f} s")  # fmt: skip
    assert codes == {401: 5, 429: GUESSES - 5}
    for r in responses:
        if r.status_code == 429:
            assert 1 <= int(r.headers["retry-after"]) <= 300
    # One hash check per 401, none per 429: five login_failed rows.
    failed = audit(launched, "login_failed", "slow")
    assert len(failed) == 5 and all(f"ip={ip}" in a.detail for a in failed)
    # The right password now gets 429 too: from this address, and (the user is locked)
    # from any other.
    with httpx.Client(base_url=launched.url, timeout=60) as c:
        for addr in (ip, "10.20.0.2"):
            r = c.get("/api/admin/today", auth=("slow", SLOW_PW), headers=xff(addr))
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        # Another admin from another address is not affected.
        r = c.get("/api/admin/today", auth=("root", ROOT_PW), headers=xff("10.20.0.3"))
        assert r.status_code == 200
    assert len(audit(launched, "login_failed", "slow")) == 5
    # Every refusal is audited, in a few batched rows rather than one row each.
    assert refused(launched, "slow", GUESSES - 5 + 2) == GUESSES - 5 + 2
    assert len(audit(launched, "login_refused", "slow")) <= 6


def test_correct_password_among_concurrent_guesses(launched) -> None:
    """The attack that got in: the right password at position 30 of 39 guesses sent at once
    to the page's login form, after the limit was reached."""
    ip = "10.20.1.1"

    def login(password: str) -> Callable[[httpx.Client, int], httpx.Response]:
        def send(c: httpx.Client, i: int) -> httpx.Response:
            pw = password if i == 29 else f"guess-{i}"
            return c.post("/admin/login", data={"username": "gate", "password": pw},
                          headers=xff(ip))  # fmt: skip

        return send

    first = Counter(r.status_code for r in together(launched.url, GUESSES, login("wrong")))
    print(f"\n{GUESSES} concurrent wrong passwords (login form): {dict(first)}")
    assert first == {400: 5, 429: GUESSES - 5}
    second = together(launched.url, 39, login(GATE_PW))
    assert {r.status_code for r in second} == {429}
    assert all(int(r.headers["retry-after"]) > 0 for r in second)
    assert len(audit(launched, "login_failed", "gate")) == 5
    assert not audit(launched, "login", "gate")
    assert refused(launched, "gate", GUESSES - 5 + 39) == GUESSES - 5 + 39


def test_remembered_password_is_locked_out_too(launched) -> None:
    """A password verified before is recognised without a hash, but not while locked."""
    with httpx.Client(base_url=launched.url, timeout=60) as c:
        r = c.get("/api/admin/today", auth=("memo", MEMO_PW), headers=xff("10.20.2.1"))
        assert r.status_code == 200
        for i in range(5):
            r = c.get("/api/admin/today", auth=("memo", f"x{i}"), headers=xff("10.20.2.2"))
            assert r.status_code == 401
        r = c.get("/api/admin/today", auth=("memo", MEMO_PW), headers=xff("10.20.2.1"))
        assert r.status_code == 429


# -- exports: one download, for their admin, never through Gradio -------------------------


def _export_from_page(page, url: str) -> tuple[str, str]:
    """Export from the page's Export tab; the link's href and the file's name."""
    old = page.evaluate("() => document.querySelector('#admin-export-link')?.href || ''")
    page.click("#admin-export")
    page.wait_for_function(
        "old => { const a = document.querySelector('#admin-export-link');"
        " return a && a.href !== old; }",
        arg=old,
        timeout=30_000,
    )
    href = page.eval_on_selector("#admin-export-link", "a => a.href")
    assert href.startswith(url + "/admin/exports/")
    return href, page.eval_on_selector("#admin-export-link", "a => a.getAttribute('download')")


def test_export_link_works_once_for_its_admin(launched, page) -> None:
    import gradio.utils

    page.goto(launched.url + "/admin/", wait_until="domcontentloaded")
    page.wait_for_selector("input[type=password]", timeout=30_000)
    page.locator("input").first.fill("root")
    page.fill("input[type=password]", ROOT_PW)
    page.keyboard.press("Enter")
    page.wait_for_selector("#admin-title", timeout=30_000)
    page.get_by_role("tab", name="Export").click()
    href, name = _export_from_page(page, launched.url)
    path = default_export_root() / href.rsplit("/", 1)[1] / name
    assert path.is_file() and (path.parent.stat().st_mode & 0o077) == 0
    assert (default_export_root().stat().st_mode & 0o777) == 0o700
    # Outside what Gradio serves by itself (its upload folder and cache), as file= checks.
    allowed, _ = gradio.utils.is_allowed_file(
        path, blocked_paths=[], allowed_paths=[],
        created_paths=[gradio.utils.get_upload_folder(), str(gradio.utils.get_cache_folder())],
    )  # fmt: skip
    assert not allowed

    # Gradio's file route refuses it: the volunteer app's, and the admin page's even logged in.
    with httpx.Client(base_url=launched.url, timeout=30) as anon:
        for route in (f"/gradio_api/file={path}", f"/admin/gradio_api/file={path}"):
            assert anon.get(route).status_code in (401, 403, 404), route
            assert page.request.get(launched.url + route).status in (403, 404), route
        # The link itself: 401 without credentials, 404 for another admin.
        r = anon.get(href)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert anon.get(href, auth=("other", OTHER_PW)).status_code == 404
        assert anon.get(href, auth=("root", "wrong")).status_code == 401
    assert path.is_file()

    # Once for its admin (the page's login), then gone.
    got = page.request.get(href)
    assert got.status == 200 and got.headers["cache-control"] == "no-store"
    assert got.headers["x-export-sha256"] == hashlib.sha256(got.body()).hexdigest()
    assert int(got.headers["x-export-rows"]) == len(got.text().splitlines())
    assert not path.parent.exists()
    assert page.request.get(href).status == 404
    # Nothing of it was ever in Gradio's cache.
    assert not list(Path(gradio.utils.get_upload_folder()).rglob(name))

    # The same with HTTP Basic instead of the page's login.
    href, name = _export_from_page(page, launched.url)
    with httpx.Client(base_url=launched.url, timeout=30) as c:
        assert c.get(href, auth=("root", ROOT_PW)).status_code == 200
        assert c.get(href, auth=("root", ROOT_PW)).status_code == 404
    downloads = audit(launched, "export_download", "root")
    assert len(downloads) == 2 and downloads[-1].target == name


# -- in-process: the window, the storage shared by processes, the batched audit ------------


def _console(engine: Engine, **settings: object) -> AdminConsole:
    url = engine.url.render_as_string(hide_password=False)
    return AdminConsole(Settings(database_url=url, admin_users=ADMINS, **settings), engine)


def test_limit_shared_by_two_processes_and_window(engine: Engine) -> None:
    """Two app processes (two limiters, two admin lists) on one database counter: of 100
    concurrent guesses at most 5 are checked; a correct password waits for the window."""
    console = _console(engine, limits_storage="database")
    auths = [
        AdminAuth(AdminUsers(ADMINS), console,
                  RateLimiter.for_settings(console.settings, engine, window=SHARED_WINDOW))
        for _ in range(2)
    ]  # fmt: skip
    assert all(a.limiter.shared for a in auths)
    barrier = threading.Barrier(GUESSES)

    def guess(i: int) -> str:
        barrier.wait()
        try:
            auths[i % 2].check("root", f"guess-{i}", "10.30.0.1")
        except RateLimited:
            return "limited"
        except AuthFailed:
            return "failed"
        return "in"

    with ThreadPoolExecutor(GUESSES) as pool:
        outcomes = Counter(pool.map(guess, range(GUESSES)))
    assert outcomes == {"failed": 5, "limited": GUESSES - 5}
    assert sum(a.users.hash_checks for a in auths) == 5
    with pytest.raises(RateLimited):
        auths[0].check("root", ROOT_PW, "10.30.0.2")
    # The window ends: the next check may start, with no fixed sleep.
    wait_until(
        lambda: auths[1].limiter.retry_after("10.30.0.2", "root") == 0,
        SHARED_WINDOW + 5,
        "window end",
    )
    assert auths[1].check("root", ROOT_PW, "10.30.0.2") == "root"
    for auth in auths:
        auth.refusals.flush()
    with Session(engine) as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == "login_refused")).all()
    assert sum(int(re.search(r"refused=(\d+)", r.detail).group(1)) for r in rows) == 96


def test_refusals_are_audited_in_bounded_batches() -> None:
    written: list[list[tuple[str, str]]] = []
    wrote = threading.Event()

    def write(rows: list[tuple[str, str]]) -> None:
        written.append(rows)
        wrote.set()

    log = RefusalLog(write, interval=0.5, max_rows=10, max_pairs=50)
    started = time.monotonic()
    for i in range(20_000):
        log.add(f"user{i % 100}", f"10.0.0.{i % 7}")
    assert wrote.wait(10), "the timer never wrote"  # the timer writes them, in one batch
    assert time.monotonic() - started >= 0.5  # not before the interval
    assert len(written) == 1 and len(written[0]) == 11
    counts = [int(re.search(r"refused=(\d+)", d).group(1)) for _, d in written[0]]
    assert sum(counts) == 20_000 and written[0][-1][0] == "?"
    assert log.flush() == 0 and len(written) == 1


# -- the export store ------------------------------------------------------------------


class _FakeConsole:
    """Stands in for AdminConsole.export_to_temp: a small file in a new folder."""

    def export_to_temp(self, actor: str, fmt: str, options: object, folder: Path):
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="arena-export-", dir=folder))
        out = tmp / f"arena-votes.{fmt}"
        out.write_text('{"a":1}\n')
        manifest = {"rows": 1, "sha256": "0" * 64, "schema_version": 1}
        return out, tmp / "x.manifest.json", manifest


def test_export_store_once_per_owner_and_expiry(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = ExportStore(tmp_path / "exports", ttl=3600, clock=lambda: now[0])
    assert (store.root.stat().st_mode & 0o777) == 0o700
    console = _FakeConsole()
    ticket, _ = store.create(console, "root", "jsonl", None)  # type: ignore[arg-type]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", ticket.id)
    assert store.take("other", ticket.id) is None and store.take("root", "../x") is None
    taken = store.take("root", ticket.id)
    assert taken is not None
    with taken[1] as f:
        assert f.read() == b'{"a":1}\n'
    assert store.take("root", ticket.id) is None and not list(store.root.iterdir())

    # Not downloaded: gone once the hour has passed, as are leftovers of failed exports.
    late, _ = store.create(console, "root", "csv", None)  # type: ignore[arg-type]
    stale = store.root / "arena-export-stale"
    stale.mkdir()
    os.utime(stale, (now[0] - 4000, now[0] - 4000))
    assert store.sweep() == 1 and (store.root / late.id).exists()
    now[0] += 3600
    assert store.take("root", late.id) is None
    assert store.sweep() == 0 and not list(store.root.iterdir())
    store.close()


def test_export_store_timer_and_private_folder(tmp_path: Path) -> None:
    store = ExportStore(tmp_path / "timed", ttl=1)
    ticket, _ = store.create(_FakeConsole(), "root", "jsonl", None)  # type: ignore[arg-type]
    assert (store.root / ticket.id).is_dir()
    wait_until(lambda: not (store.root / ticket.id).exists(), 10, "the timer's sweep")
    assert not (store.root / ticket.id).exists()  # swept by the timer, with no request
    store.close()
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(ConfigError, match="mode 0700"):
        ExportStore(shared)
    (tmp_path / "link").symlink_to(tmp_path / "timed")
    with pytest.raises(ConfigError):
        ExportStore(tmp_path / "link")
