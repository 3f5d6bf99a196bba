"""The admin area's export downloads: a file streamed once, and nothing left on disk.

:func:`export_response` exports into a private folder, opens the file, deletes the
folder and streams the open file (:func:`send_detached`); :func:`exports_router` serves
``GET /admin/exports/{id}``, one download of an export made in the admin page, to the
admin who made it (logged in to the page, :class:`PageSessions`, or by HTTP Basic).
Apart from the JSON routes (:mod:`arena.admin_api`) because this is file streaming.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPBasicCredentials

from arena.admin import AdminAuth, AdminConsole, AdminError, ExportStore, Ticket
from arena.admin_http import CREDENTIALS, basic_admin
from arena.export import ExportOptions

MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "html": "text/html; charset=utf-8",  # a gallery page, sent as an attachment
    "md": "text/markdown; charset=utf-8",
}
CHUNK = 256 * 1024


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
