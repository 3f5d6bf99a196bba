"""Events in the admin console (issue 18): the console's actions on SQLite and PostgreSQL
(audited, refusals as AdminError), the JSON routes of the launched app (HTTP Basic), and
the admin page's Events tab in Chromium, whose link then shows the event to volunteers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from arena.admin import AdminConsole, AdminError, hash_password
from arena.config import Settings
from arena.db.models import AuditLog, Battle, Event
from tests.conftest import RunningApp

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes

ROOT_PW = "root-pw-events"
ADMINS = f"root:{hash_password(ROOT_PW, iterations=1000)}"
NOW = datetime.now(UTC)


def test_console_saves_lists_and_deletes_events_audited(engine) -> None:
    console = AdminConsole(Settings(database_url=str(engine.url)), engine)
    made = console.save_event(
        "alice", slug="drive-1", name="第1回", goal=300, starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(days=1), thanks_ja="感謝", thanks_en="Thanks",
    )  # fmt: skip
    assert made["link"] == "/?event=drive-1"
    listed = console.events()
    assert [(e["slug"], e["state"], e["votes"], e["goal"]) for e in listed] == [
        ("drive-1", "running", 0, 300)
    ]
    with pytest.raises(AdminError) as bad:
        console.save_event("alice", slug="Bad Slug", name="x", goal=1, starts_at=NOW,
                           ends_at=NOW + timedelta(hours=1))  # fmt: skip
    assert bad.value.code == "invalid"
    console.delete_event("alice", "drive-1")
    with pytest.raises(AdminError) as gone:
        console.delete_event("alice", "drive-1")
    assert gone.value.code == "not_found" and console.events() == []
    with Session(engine) as s:
        actions = s.scalars(select(AuditLog.action).where(AuditLog.actor == "alice")).all()
    assert actions == ["save_event", "delete_event"]


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory, module_app_db_url: str) -> Iterator:
    app = RunningApp(
        tmp_path_factory.mktemp("admin-events"), env={"ARENA_ADMIN_USERS": ADMINS},
        database_url=module_app_db_url,
    )  # fmt: skip
    yield app
    app.stop()


def test_event_routes_need_an_admin_and_check_the_event(launched: RunningApp) -> None:
    body = {
        "slug": "api-drive", "name": "API drive", "goal": 50,
        "starts_at": (NOW - timedelta(hours=1)).isoformat(), "ends_at": "2099-01-31",
    }  # fmt: skip
    with httpx.Client(base_url=launched.url, timeout=30) as c:
        assert c.post("/api/admin/events", json=body).status_code == 401
        assert c.get("/api/admin/events").status_code == 401
        # Other tests of this module may have made events on the same app: only the
        # change this test makes is compared.
        before = {e["slug"] for e in c.get("/api/admin/events", auth=("root", ROOT_PW)).json()}
        assert "api-drive" not in before
        r = c.post("/api/admin/events", json=body, auth=("root", ROOT_PW))
        assert r.status_code == 200, r.text
        assert r.json()["link"] == "/?event=api-drive"
        assert r.json()["ends_at"] == "2099-02-01T00:00:00+00:00"  # the end of that day
        listed = c.get("/api/admin/events", auth=("root", ROOT_PW)).json()
        added = [(e["slug"], e["state"]) for e in listed if e["slug"] not in before]
        assert added == [("api-drive", "running")]
        for bad in ({"goal": 0}, {"ends_at": "2000-01-01"}, {"starts_at": "soon"}):
            r = c.post("/api/admin/events", json={**body, **bad}, auth=("root", ROOT_PW))
            assert r.status_code == 400, (bad, r.text)
        assert c.delete("/api/admin/events/nope", auth=("root", ROOT_PW)).status_code == 404
        assert c.delete("/api/admin/events/api-drive", auth=("root", ROOT_PW)).status_code == 200
        after = c.get("/api/admin/events", auth=("root", ROOT_PW)).json()
        assert {e["slug"] for e in after} == before


@pytest.mark.browser
def test_events_tab_gives_the_link_volunteers_follow(launched: RunningApp, page) -> None:
    page.goto(launched.url + "/admin/", wait_until="domcontentloaded")
    page.wait_for_selector("input[type=password]", timeout=30_000)
    page.locator("input").first.fill("root")
    page.fill("input[type=password]", ROOT_PW)
    page.keyboard.press("Enter")
    page.wait_for_selector("#admin-title", timeout=30_000)
    page.get_by_role("tab", name="Events").click()
    page.fill("#admin-event-slug textarea, #admin-event-slug input", "page-drive")
    page.fill("#admin-event-name textarea, #admin-event-name input", "ページの回")
    page.fill("#admin-event-goal input", "20")
    page.fill("#admin-event-start textarea, #admin-event-start input", "2020-01-01")
    page.fill("#admin-event-end textarea, #admin-event-end input", "2099-12-31")
    page.click("#admin-event-save")
    link = page.locator("#admin-event-href")
    expect(link).to_have_text("/?event=page-drive", timeout=15_000)
    expect(page.locator("#admin-events")).to_contain_text("page-drive")
    page.goto(launched.url + "/?event=page-drive&lang=ja", wait_until="domcontentloaded")
    expect(page.locator("#event-name")).to_have_text("ページの回", timeout=30_000)
    expect(page.locator("#event-gauge")).to_have_attribute("max", "20")


def test_battles_of_the_api_are_tagged_by_body_or_cookie(launched: RunningApp) -> None:
    """A program names the event in the body, the page's link sets the cookie."""
    body = {"slug": "api-tags", "name": "Tags", "goal": 5,
            "starts_at": "2020-01-01", "ends_at": "2099-12-31"}  # fmt: skip
    with httpx.Client(base_url=launched.url, timeout=60) as c:
        assert c.post("/api/admin/events", json=body, auth=("root", ROOT_PW)).status_code == 200
        voter = c.post("/api/voters").json()["voter"]

        def battle(**kw) -> str:
            sent = {"voter": voter, "prompt": "タグ", **kw}
            with c.stream("POST", "/api/battles", json=sent) as r:
                assert r.status_code == 200, r.read()
                lines = list(r.iter_lines())  # to the end of the turn
            first = next(line for line in lines if line.startswith("data:"))
            return first.split('"battle_id": "')[1].split('"')[0]

        by_body = battle(event="api-tags")
        c.cookies.set("tanuki-arena-event", "api-tags")
        by_cookie = battle()
        c.cookies.set("tanuki-arena-event", "Not a slug!")
        untagged = battle()
        c.cookies.clear()
        bad = c.post("/api/battles", json={"voter": voter, "prompt": "x", "event": "Bad Slug"})
        assert bad.status_code == 400
    engine = create_engine(launched.database_url)
    try:
        with Session(engine) as s:
            event_id = s.scalar(select(Event.id).where(Event.slug == "api-tags"))
            tags = {b: s.get(Battle, b).event_id for b in (by_body, by_cookie, untagged)}
    finally:
        engine.dispose()
    assert tags == {by_body: event_id, by_cookie: event_id, untagged: None}
