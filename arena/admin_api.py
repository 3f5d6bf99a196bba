"""The admin area on the web app: JSON routes under ``/api/admin`` (HTTP Basic) and the
admin Gradio page under ``/admin`` (Gradio's login form), both checked on the server.

Nothing here is reachable without an admin's credentials: every JSON route depends on
:func:`basic_admin`'s check; the Gradio page is mounted with ``auth=``, so Gradio refuses
its config, queue and ``/gradio_api/call`` routes before login, and each admin handler
checks the logged-in user again. Password checks are limited per client address and per
user name before any hash is computed (429 with ``Retry-After``) and audited.

The page's exports are not Gradio files: they wait in :class:`ExportStore`'s private
folder and are downloaded once from ``/admin/exports/{id}`` by the admin who made them
(page login or HTTP Basic); :class:`PrivateFolderGuard` refuses any Gradio file URL into
that folder, whichever Gradio app is asked.

:func:`mount_admin` wires all this into the FastAPI app; call it before the volunteer page
is mounted at ``/`` (it also moves its routes to the front, so ``/`` cannot shadow them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import gradio as gr
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from arena.admin import (
    AdminAuth,
    AdminConsole,
    AdminError,
    AdminUsers,
    AuthFailed,
    BattleFilter,
    ExportStore,
    RateLimited,
    RateLimiter,
    Ticket,
)
from arena.battles import Arena
from arena.errors import ArenaError, StorageError
from arena.export import ExportOptions, parse_moment

logger = logging.getLogger(__name__)
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Tanuki Arena admin", charset="UTF-8"'}
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "html": "text/html; charset=utf-8",  # a gallery page, sent as an attachment
    "md": "text/markdown; charset=utf-8",
}
CREDENTIALS = Depends(HTTPBasic(auto_error=False))
CHUNK = 256 * 1024
#: The client address of the request being served (Gradio's login callback gets none).
CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("client_address", default=None)


class ClientAddressMiddleware:
    """Pure ASGI middleware putting the client address (after uvicorn's trusted-proxy
    handling) in :data:`CLIENT_ADDRESS` for the rest of the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = CLIENT_ADDRESS.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            CLIENT_ADDRESS.reset(token)


class PrivateFolderGuard:
    """Pure ASGI middleware answering 404 to any Gradio file URL (``.../file=PATH``) whose
    PATH is inside ``folder``, on every Gradio app of the server (the volunteer page's
    included): the admin exports are never Gradio's to serve, even if Gradio's temporary
    folder or allowed paths were set to contain them."""

    def __init__(self, app: ASGIApp, folder: Path) -> None:
        self.app = app
        self.folder = os.path.realpath(folder)

    def _private(self, path: str) -> bool:
        _, found, target = path.partition("/file=")
        if not found or not target:
            return False
        try:
            real = os.path.realpath(os.path.abspath(target))
        except ValueError:  # a NUL in the path: nothing Gradio could serve either
            return True
        return os.path.commonpath([real, self.folder]) == self.folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._private(scope["path"]):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@contextmanager
def http_errors() -> Iterator[None]:
    """Admin errors as HTTP statuses: unknown things 404, refused requests 400."""
    try:
        yield
    except AdminError as exc:
        raise HTTPException(404 if exc.code == "not_found" else 400, str(exc)) from exc
    except ArenaError as exc:
        raise HTTPException(400, str(exc)) from exc


class VoidBody(BaseModel):
    reason: str


class ModelBody(BaseModel):
    model: str


class VoterBody(BaseModel):
    voter: str


class EventBody(BaseModel):
    """An event to create or change (times: ``YYYY-MM-DD`` or ISO, UTC unless an offset)."""

    slug: str
    name: str
    goal: int
    starts_at: str
    ends_at: str
    thanks_ja: str = ""
    thanks_en: str = ""


def _flag(value: str | None) -> bool | None:
    if value in (None, "", "any"):
        return None
    if value.lower() in ("yes", "true", "1"):
        return True
    if value.lower() in ("no", "false", "0"):
        return False
    raise HTTPException(400, f"expected yes, no or any, got {value!r}")


def event_fields(given: dict[str, Any]) -> dict[str, Any]:
    """An event form's fields for :meth:`AdminConsole.save_event`: the times parsed (a bare
    date as the deadline means the end of that day, UTC)."""
    starts = parse_moment((given.get("starts_at") or "").strip() or None)
    ends = parse_moment((given.get("ends_at") or "").strip() or None, end=True)
    if starts is None or ends is None:
        raise AdminError("an event needs a start and a deadline", code="invalid")
    return {**given, "starts_at": starts, "ends_at": ends}


def _too_many(exc: RateLimited) -> HTTPException:
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


def _unavailable(exc: StorageError) -> HTTPException:
    logger.error("admin login refused: %s", exc)
    return HTTPException(503, "admin login unavailable: its counters cannot be read")


def basic_admin(auth: AdminAuth) -> Callable[..., str]:
    """A dependency giving the admin named by the request's HTTP Basic credentials, checked
    under the failure limit: 401 without or with wrong credentials, 429 with
    ``Retry-After`` when limited, 503 when the limit's counters cannot be read."""

    def admin(request: Request, creds: HTTPBasicCredentials | None = CREDENTIALS) -> str:
        if creds is None:
            raise HTTPException(401, "admin credentials required", headers=CHALLENGE)
        ip = request.client.host if request.client else None
        try:
            return auth.check(creds.username, creds.password, ip)
        except RateLimited as exc:
            raise _too_many(exc) from exc
        except StorageError as exc:
            raise _unavailable(exc) from exc
        except AuthFailed as exc:
            raise HTTPException(401, str(exc), headers=CHALLENGE) from exc

    return admin


def admin_router(console: AdminConsole, auth: AdminAuth, exports: ExportStore) -> APIRouter:
    """The JSON routes; every one requires an admin's HTTP Basic credentials."""
    r = APIRouter(tags=["admin"])
    User = Depends(basic_admin(auth))

    @r.get("/battles")
    def battles(
        user: str = User,
        model: str | None = None,
        since: str | None = None,
        until: str | None = None,
        flagged: str | None = None,
        failed: str | None = None,
        voted: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        with http_errors():
            f = BattleFilter(
                model=model or None, since=parse_moment(since),
                until=parse_moment(until, end=True), flagged=_flag(flagged),
                failed=_flag(failed), voted=_flag(voted), limit=limit, offset=offset,
            )  # fmt: skip
            return console.battles(f)

    @r.get("/battles/{battle_id}")
    def battle(battle_id: str, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.battle(user, battle_id)

    @r.post("/battles/{battle_id}/void")
    def void(battle_id: str, body: VoidBody, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.void_vote(user, battle_id, body.reason)

    @r.post("/battles/{battle_id}/unvoid")
    def unvoid(battle_id: str, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.unvoid_vote(user, battle_id)

    @r.get("/models")
    def models(user: str = User) -> list[dict[str, Any]]:
        return console.models()

    @r.post("/models/enable")
    def enable(body: ModelBody, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.set_model_enabled(user, body.model, True)

    @r.post("/models/disable")
    def disable(body: ModelBody, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.set_model_enabled(user, body.model, False)

    @r.get("/today")
    def today(user: str = User) -> dict[str, Any]:
        return console.today()

    @r.post("/voters/delete")
    def delete_voter(body: VoterBody, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.delete_voter(user, body.voter)

    @r.post("/recompute")
    def recompute(user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.recompute(user)

    @r.get("/flags")
    def flags(user: str = User, status: str | None = None) -> list[dict[str, Any]]:
        with http_errors():
            return console.flags(status)

    @r.post("/flags/{flag_id}/{decision}")
    def decide(flag_id: int, decision: str, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.decide_flag(user, flag_id, decision)

    @r.post("/battles/{battle_id}/clear-identity")
    def clear_identity(battle_id: str, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.clear_identity(user, battle_id)

    @r.get("/events")
    def events(user: str = User) -> list[dict[str, Any]]:
        return console.events()

    @r.post("/events")
    def save_event(body: EventBody, user: str = User) -> dict[str, Any]:
        """Create or change an event; the answer gives its link (``/?event=<slug>``)."""
        with http_errors():
            return console.save_event(user, **event_fields(body.model_dump()))

    @r.delete("/events/{slug}")
    def delete_event(slug: str, user: str = User) -> dict[str, Any]:
        with http_errors():
            return console.delete_event(user, slug)

    @r.get("/audit")
    def audit(user: str = User, limit: int = 100) -> list[dict[str, Any]]:
        return console.audit_log(limit)

    @r.get("/export")
    def download(
        user: str = User,
        fmt: str = Query("jsonl", alias="format"),
        since: str | None = None,
        until: str | None = None,
        models: str | None = None,
        include_named: bool = False,
        include_flagged: bool = False,
        include_voided: bool = False,
        conversations: bool = True,
    ) -> StreamingResponse:
        """The export as a file; its manifest's key facts in ``X-Export-*`` headers."""
        with http_errors():
            options = ExportOptions(
                since=parse_moment(since), until=parse_moment(until, end=True),
                models=tuple(m.strip() for m in (models or "").split(",") if m.strip()),
                include_named=include_named, include_flagged=include_flagged,
                include_voided=include_voided, conversations=conversations,
            )  # fmt: skip
            return export_response(console, user, fmt, options, exports.root)

    return r


def send_detached(file: BinaryIO, name: str, facts: dict[str, Any]) -> StreamingResponse:
    """Stream the export ``file``, open but already deleted from disk (its bytes live until
    it is closed, at the end of the response or when the client goes away). ``facts``:
    the manifest's ``rows``, ``sha256``, ``schema_version``, and the ``fmt``."""
    size = os.fstat(file.fileno()).st_size

    def chunks() -> Iterator[bytes]:
        with file:
            while chunk := file.read(CHUNK):
                yield chunk

    headers = {
        "Content-Length": str(size),
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Export-Rows": str(facts["rows"]),
        "X-Export-Sha256": facts["sha256"],
        "X-Export-Schema-Version": str(facts["schema_version"]),
    }
    return StreamingResponse(chunks(), media_type=MEDIA_TYPES[facts["fmt"]], headers=headers)


def export_response(
    console: AdminConsole, user: str, fmt: str, options: ExportOptions, folder: Path
) -> StreamingResponse:
    """Export into a new private folder under ``folder``, open the file, delete the folder
    and stream the open file (nothing is left on disk, even if the client goes away)."""
    if fmt not in MEDIA_TYPES:
        raise AdminError(f"unknown format {fmt!r}", code="invalid")
    out, _, manifest = console.export_to_temp(user, fmt, options, folder)
    try:
        file = out.open("rb")
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    return send_detached(file, out.name, {**manifest, "fmt": fmt})


class PageSessions:
    """Who is logged in to the admin page, by the page's cookie: the lookup Gradio's own
    routes make (``access-token[-unsecure]-<cookie_id>`` in the mounted app's tokens)."""

    def __init__(self) -> None:
        self.app: Any = None  # the mounted Gradio app, set by mount_admin

    def user(self, request: Request) -> str | None:
        if self.app is None:
            return None
        cookie_id = self.app.cookie_id
        token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
            f"access-token-unsecure-{cookie_id}"
        )
        return self.app.tokens.get(token) if token else None


def exports_router(
    console: AdminConsole, auth: AdminAuth, exports: ExportStore, sessions: PageSessions
) -> APIRouter:
    """``GET /exports/{id}`` (under the page's path): one download of an export made in
    the admin page, for the admin who made it, logged in to the page or by HTTP Basic."""
    basic = basic_admin(auth)
    r = APIRouter()

    @r.get("/exports/{export_id}", include_in_schema=False)
    def download(
        export_id: str, request: Request, creds: HTTPBasicCredentials | None = CREDENTIALS
    ) -> StreamingResponse:
        user = sessions.user(request)
        if not auth.is_admin(user):
            user = basic(request, creds)
        taken = exports.take(str(user), export_id)
        if taken is None:
            raise HTTPException(404, "no such export (expired, downloaded, or not yours)")
        ticket, file = taken
        try:
            console.audit(str(user), "export_download", ticket.file, f"sha256={ticket.sha256}")
        except BaseException:
            file.close()
            raise
        return send_detached(file, ticket.file, _facts(ticket))

    return r


def _facts(ticket: Ticket) -> dict[str, Any]:
    return {
        "rows": ticket.rows, "sha256": ticket.sha256,
        "schema_version": ticket.schema_version, "fmt": ticket.fmt,
    }  # fmt: skip


def gradio_login(auth: AdminAuth) -> Callable[[str, str], Any]:
    """The ``auth=`` callback of the admin page: rate-limited, audited, PBKDF2 off the loop."""

    async def login(username: str, password: str) -> bool:
        ip = CLIENT_ADDRESS.get()
        try:
            await asyncio.to_thread(auth.check, username, password, ip, audit_ok=True)
        except RateLimited as exc:
            raise _too_many(exc) from exc
        except StorageError as exc:
            raise _unavailable(exc) from exc
        except AuthFailed:
            return False
        return True

    return login


@dataclass(frozen=True)
class AdminArea:
    """What :func:`mount_admin` built (for operators' scripts and tests)."""

    console: AdminConsole
    auth: AdminAuth
    exports: ExportStore


def mount_admin(
    app: FastAPI,
    arena: Arena,
    engine: Engine,
    *,
    path: str = "/admin",
    api_prefix: str = "/api/admin",
    limiter: RateLimiter | None = None,
    exports: ExportStore | None = None,
) -> AdminArea:
    """Add the admin JSON routes, the admin Gradio page and its export downloads to ``app``.

    The login limit counts on the arena's rate-limit storage unless ``limiter`` is given;
    exports wait in the default private folder unless ``exports`` is given.
    """
    from arena.ui.admin import build_admin

    users = AdminUsers(arena.settings.admin_users)
    if not users:
        logger.warning("ARENA_ADMIN_USERS is empty: nobody can log in to the admin area")
    console = AdminConsole(arena.settings, engine)
    auth = AdminAuth(users, console, limiter or RateLimiter.for_settings(arena.settings, engine))
    exports = exports or ExportStore()
    sessions = PageSessions()
    before = len(app.router.routes)
    app.include_router(admin_router(console, auth, exports), prefix=api_prefix)
    app.include_router(exports_router(console, auth, exports, sessions), prefix=path)
    blocks = build_admin(console, auth, exports)
    gr.mount_gradio_app(
        app,
        blocks,
        path=path,
        auth=gradio_login(auth),
        auth_message="Tanuki Arena admin",
        run_history=False,
        enable_monitoring=False,
        footer_links=[],
    )
    added = app.router.routes[before:]
    sessions.app = next(r.app for r in added if isinstance(r, Mount) and r.path == path)
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    app.add_middleware(ClientAddressMiddleware)
    app.add_middleware(PrivateFolderGuard, folder=exports.root)
    return AdminArea(console, auth, exports)
