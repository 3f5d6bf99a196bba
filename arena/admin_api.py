"""The admin area's JSON routes under ``/api/admin``, each behind HTTP Basic.

Nothing here is reachable without an admin's credentials: every JSON route depends on
:func:`arena.admin_http.basic_admin`'s check. Password checks are limited per client
address and per user name before any hash is computed (429 with ``Retry-After``) and
audited. The page's exports are not Gradio files: they wait in :class:`ExportStore`'s
private folder and are downloaded once from ``/admin/exports/{id}``
(:mod:`arena.admin_downloads`); :class:`~arena.admin_http.PrivateFolderGuard` refuses
any Gradio file URL into that folder, whichever Gradio app is asked.

:func:`add_admin_routes` adds these routes, the downloads and the middlewares to the
FastAPI app. This module imports no Gradio and nothing of :mod:`arena.ui`: the admin
page (Gradio's login form, each handler checking the user again) is mounted after the
routes by :func:`arena.ui.admin_mount.mount_admin`, which ``app.py`` calls before the
volunteer page is mounted at ``/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from arena.admin import (
    AdminAuth,
    AdminConsole,
    AdminError,
    AdminUsers,
    BattleFilter,
    ExportStore,
    RateLimiter,
)
from arena.admin_downloads import PageSessions, export_response, exports_router
from arena.admin_http import (
    ClientAddressMiddleware,
    PrivateFolderGuard,
    basic_admin,
    http_errors,
)
from arena.battles import Arena
from arena.export import ExportOptions, parse_moment

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class AdminArea:
    """What :func:`add_admin_routes` built (for the admin page, operators' scripts, tests)."""

    console: AdminConsole
    auth: AdminAuth
    exports: ExportStore
    sessions: PageSessions  # who is logged in to the admin page, once it is mounted


def add_admin_routes(
    app: FastAPI,
    arena: Arena,
    engine: Engine,
    *,
    path: str = "/admin",
    api_prefix: str = "/api/admin",
    limiter: RateLimiter | None = None,
    exports: ExportStore | None = None,
) -> AdminArea:
    """Add the admin JSON routes, the export downloads under ``path`` and the middlewares.

    The login limit counts on the arena's rate-limit storage unless ``limiter`` is given;
    exports wait in the default private folder unless ``exports`` is given. The admin page
    itself is mounted at ``path`` afterwards (:func:`arena.ui.admin_mount.mount_admin`).
    """
    users = AdminUsers(arena.settings.admin_users)
    if not users:
        logger.warning("ARENA_ADMIN_USERS is empty: nobody can log in to the admin area")
    console = AdminConsole(arena.settings, engine)
    auth = AdminAuth(users, console, limiter or RateLimiter.for_settings(arena.settings, engine))
    exports = exports or ExportStore()
    sessions = PageSessions()
    app.include_router(admin_router(console, auth, exports), prefix=api_prefix)
    app.include_router(exports_router(console, auth, exports, sessions), prefix=path)
    app.add_middleware(ClientAddressMiddleware)
    app.add_middleware(PrivateFolderGuard, folder=exports.root)
    return AdminArea(console, auth, exports, sessions)
