"""How the admin area's HTTP requests are checked: HTTP Basic, limits, client address.

:func:`basic_admin` is the dependency every admin JSON route and download takes: an
admin's credentials checked under the failure limit (401, 429 with ``Retry-After``, 503
when the limit's counters cannot be read). Two pure ASGI middlewares go with it:
:class:`ClientAddressMiddleware` gives the page's login callback the client address
(:data:`CLIENT_ADDRESS`), and :class:`PrivateFolderGuard` keeps Gradio from serving any
file in the exports' private folder. Apart from the routes (:mod:`arena.admin_api`)
because the admin page's login (:mod:`arena.ui.admin_mount`) uses the same checks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from fastapi import Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.types import ASGIApp, Receive, Scope, Send

from arena.admin import AdminAuth, AdminError, AuthFailed, RateLimited
from arena.errors import ArenaError, StorageError

logger = logging.getLogger("arena.admin_api")  # the admin area logs under one name
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Tanuki Arena admin", charset="UTF-8"'}


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


def too_many(exc: RateLimited) -> HTTPException:
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


def unavailable(exc: StorageError) -> HTTPException:
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
            raise too_many(exc) from exc
        except StorageError as exc:
            raise unavailable(exc) from exc
        except AuthFailed as exc:
            raise HTTPException(401, str(exc), headers=CHALLENGE) from exc

    return admin
