"""The admin area on the web app: JSON routes under ``/api/admin`` (HTTP Basic) and the
admin Gradio page under ``/admin`` (Gradio's login form), both checked on the server.

Nothing here is reachable without an admin's credentials: every JSON route depends on
:func:`admin_router`'s Basic-auth check; the Gradio page is mounted with ``auth=``, so
Gradio refuses its config, queue and ``/gradio_api/call`` routes before login, and each
admin handler checks the logged-in user again. Wrong passwords are rate-limited per
client address and per user name (429 with ``Retry-After``) and audited.

:func:`mount_admin` wires both into the FastAPI app; call it before the volunteer page
is mounted at ``/`` (it also moves its routes to the front, so ``/`` cannot shadow them).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import gradio as gr
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

from arena.admin import (
    AdminAuth,
    AdminConsole,
    AdminError,
    AdminUsers,
    AuthFailed,
    BattleFilter,
    RateLimited,
    RateLimiter,
)
from arena.battles import Arena
from arena.errors import ArenaError
from arena.export import ExportOptions, parse_moment

logger = logging.getLogger(__name__)
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Tanuki Arena admin", charset="UTF-8"'}
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
CREDENTIALS = Depends(HTTPBasic(auto_error=False))
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


def _flag(value: str | None) -> bool | None:
    if value in (None, "", "any"):
        return None
    if value.lower() in ("yes", "true", "1"):
        return True
    if value.lower() in ("no", "false", "0"):
        return False
    raise HTTPException(400, f"expected yes, no or any, got {value!r}")


def admin_router(console: AdminConsole, auth: AdminAuth) -> APIRouter:
    """The JSON routes; every one requires an admin's HTTP Basic credentials."""

    def admin(request: Request, creds: HTTPBasicCredentials | None = CREDENTIALS) -> str:
        if creds is None:
            raise HTTPException(401, "admin credentials required", headers=CHALLENGE)
        ip = request.client.host if request.client else None
        try:
            return auth.check(creds.username, creds.password, ip)
        except RateLimited as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            raise HTTPException(429, str(exc), headers=headers) from exc
        except AuthFailed as exc:
            raise HTTPException(401, str(exc), headers=CHALLENGE) from exc

    r = APIRouter(tags=["admin"])
    User = Depends(admin)

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
    ) -> FileResponse:
        """The export as a file; its manifest's key facts in ``X-Export-*`` headers."""
        with http_errors():
            options = ExportOptions(
                since=parse_moment(since), until=parse_moment(until, end=True),
                models=tuple(m.strip() for m in (models or "").split(",") if m.strip()),
                include_named=include_named, include_flagged=include_flagged,
                include_voided=include_voided, conversations=conversations,
            )  # fmt: skip
            return export_response(console, user, fmt, options)

    return r


def export_response(
    console: AdminConsole, user: str, fmt: str, options: ExportOptions
) -> FileResponse:
    if fmt not in MEDIA_TYPES:
        raise AdminError(f"unknown format {fmt!r}", code="invalid")
    out, _, manifest = console.export_to_temp(user, fmt, options)
    headers = {
        "X-Export-Rows": str(manifest["rows"]),
        "X-Export-Sha256": manifest["sha256"],
        "X-Export-Schema-Version": str(manifest["schema_version"]),
        "Cache-Control": "no-store",
    }
    return FileResponse(
        out,
        media_type=MEDIA_TYPES[fmt],
        filename=out.name,
        headers=headers,
        background=BackgroundTask(shutil.rmtree, out.parent, ignore_errors=True),
    )


def gradio_login(auth: AdminAuth) -> Callable[[str, str], Any]:
    """The ``auth=`` callback of the admin page: rate-limited, audited, PBKDF2 off the loop."""

    async def login(username: str, password: str) -> bool:
        ip = CLIENT_ADDRESS.get()
        try:
            await asyncio.to_thread(auth.check, username, password, ip, audit_ok=True)
        except RateLimited as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            raise HTTPException(429, str(exc), headers=headers) from exc
        except AuthFailed:
            return False
        return True

    return login


def mount_admin(
    app: FastAPI,
    arena: Arena,
    engine: Engine,
    *,
    path: str = "/admin",
    api_prefix: str = "/api/admin",
    limiter: RateLimiter | None = None,
) -> None:
    """Add the admin JSON routes and the admin Gradio page to ``app``."""
    from arena.ui.admin import build_admin

    users = AdminUsers(arena.settings.admin_users)
    if not users:
        logger.warning("ARENA_ADMIN_USERS is empty: nobody can log in to the admin area")
    console = AdminConsole(arena.settings, engine)
    auth = AdminAuth(users, console, limiter or RateLimiter())
    before = len(app.router.routes)
    app.include_router(admin_router(console, auth), prefix=api_prefix)
    blocks = build_admin(console, auth)
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
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    app.add_middleware(ClientAddressMiddleware)
