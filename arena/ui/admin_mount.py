"""The admin area on the web app: its JSON routes and downloads, then its Gradio page.

:func:`mount_admin` registers the admin routes of :mod:`arena.admin_api` first (so
``/api/admin/*`` and ``/admin/exports/{id}`` come before any mount that could shadow
them) and then mounts the admin console page (:func:`arena.ui.admin.build_admin`) at
``/admin`` behind Gradio's login form, whose ``auth=`` callback (:func:`gradio_login`)
is rate-limited and audited like HTTP Basic. Call it before the volunteer page is
mounted at ``/``. It lives in the UI package so that the API layer never imports Gradio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import gradio as gr
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.routing import Mount

from arena.admin import (
    AdminAuth,
    AuthFailed,
    ExportStore,
    RateLimited,
    RateLimiter,
)
from arena.admin_api import AdminArea, add_admin_routes
from arena.admin_http import (
    CLIENT_ADDRESS,
    too_many,
    unavailable,
)
from arena.battles import Arena
from arena.errors import StorageError


def gradio_login(auth: AdminAuth) -> Callable[[str, str], Any]:
    """The ``auth=`` callback of the admin page: rate-limited, audited, PBKDF2 off the loop."""

    async def login(username: str, password: str) -> bool:
        ip = CLIENT_ADDRESS.get()
        try:
            await asyncio.to_thread(auth.check, username, password, ip, audit_ok=True)
        except RateLimited as exc:
            raise too_many(exc) from exc
        except StorageError as exc:
            raise unavailable(exc) from exc
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
    exports: ExportStore | None = None,
) -> AdminArea:
    """Add the admin JSON routes, its export downloads and then the admin page to ``app``.

    The login limit counts on the arena's rate-limit storage unless ``limiter`` is given;
    exports wait in the default private folder unless ``exports`` is given.
    """
    from arena.ui.admin import build_admin

    area = add_admin_routes(
        app, arena, engine, path=path, api_prefix=api_prefix, limiter=limiter, exports=exports
    )
    blocks = build_admin(area.console, area.auth, area.exports)
    gr.mount_gradio_app(
        app,
        blocks,
        path=path,
        auth=gradio_login(area.auth),
        auth_message="Tanuki Arena admin",
        run_history=False,
        enable_monitoring=False,
        footer_links=[],
    )
    area.sessions.app = next(
        r.app for r in app.router.routes if isinstance(r, Mount) and r.path == path
    )
    return area
