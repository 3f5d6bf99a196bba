"""JSON/HTTP routes on the FastAPI app that also serves the Gradio page.

Also sets the security headers of every response: remote images (tracking pixels in
model output) are blocked by the Content-Security-Policy.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from arena.battles import Arena

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "font-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'self'"
)


def create_api(arena: Arena) -> FastAPI:
    """The FastAPI app with the arena's JSON routes."""
    app = FastAPI(title="Tanuki Arena", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.get("/api/health")
    def health() -> JSONResponse:
        """200 when the database answers, 503 otherwise."""
        try:
            with arena.sessions() as s:
                s.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "database": "ok",
                "models": len(arena.backends),
                "demo": arena.settings.is_demo,
            }
        )

    return app
