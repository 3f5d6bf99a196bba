"""JSON/HTTP routes on the FastAPI app that also serves the Gradio page.

Besides health and the leaderboard, a small battle API lets programs (load tests, other
front ends) run blind battles the way the page does, through the same
:class:`arena.battles.Arena`: ``POST /api/battles`` streams a turn as server-sent
events, ``POST /api/battles/{id}/vote`` records the verdict and reveals the names.
The request bodies, error responses and events are in arena.api_wire; the body limit
and security headers every response goes through, in arena.api_middleware.
"""

from __future__ import annotations

import math
from dataclasses import asdict

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from arena.api_middleware import CSP, MAX_API_BODY, MAX_BODY, BodyLimit, SecurityHeaders
from arena.api_wire import ReactionBody, TurnBody, VoteBody, VoterBody, refusal, turn_events
from arena.battles import SIDES, Arena, VoterRef
from arena.category_board import ALL, FILTERS, category_board
from arena.db import stats
from arena.db.models import Side
from arena.errors import ArenaError
from arena.events import EVENT_COOKIE, valid_slug
from arena.feedback import react
from arena.separation import neighbours
from arena.style_board import style_board

#: Importable from here as before the split (tests/test_deploy.py, deploy checks).
__all__ = ["CSP", "MAX_API_BODY", "MAX_BODY", "BodyLimit", "SecurityHeaders", "create_api"]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


LOOPBACK = frozenset({"127.0.0.1", "::1"})


def create_api(arena: Arena) -> FastAPI:
    """The FastAPI app with the arena's JSON routes."""
    app = FastAPI(title="Tanuki Arena", docs_url=None, redoc_url=None, openapi_url=None)

    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """A malformed body: the documented error shape, naming fields, never echoing input."""
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()})
        where = ", ".join(f for f in fields if f) or "the body"
        return JSONResponse(
            {"error": "invalid_request", "message": f"invalid or missing: {where}"[:300]},
            status_code=400,
        )

    @app.post("/api/voters")
    async def new_voter(request: Request, body: VoterBody | None = None) -> JSONResponse:
        """Issue a voter token (limited per client address; gates when enabled)."""
        body = body or VoterBody()
        ip = request.client.host if request.client else None
        try:
            token = await arena.issue_voter(
                ip, pow_payload=body.altcha, access_code=body.access_code
            )
        except ArenaError as exc:
            return refusal(exc)
        return JSONResponse({"voter": token})

    @app.get("/api/voters/challenge")
    def voter_challenge() -> JSONResponse:
        """A proof-of-work challenge (ALTCHA format) when the gate is on."""
        if not arena.gates.pow:
            return JSONResponse(
                {"error": "not_enabled", "message": "no proof of work is asked here"},
                status_code=404,
            )
        return JSONResponse(arena.gates.challenge(), headers={"Cache-Control": "no-store"})

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
                # Per model, never per battle: healthy, failures in a row, seconds to retry.
                "models": arena.health.status(arena.backends),
                "demo": arena.settings.is_demo,
            }
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """This process's metrics in Prometheus text format, for a scraper on this host.

        Per-model counters move as each answer ends, so watching them would tell a
        volunteer which models their blind battle has: only direct loopback clients
        (no proxy header) get them; everyone else gets 404.
        """
        client = request.client.host if request.client else ""
        proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
        if proxied or client not in LOOPBACK:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return Response(arena.metrics.render(), media_type=arena.metrics.content_type)

    @app.get("/api/leaderboard")
    def leaderboard(category: str = ALL, style: bool = False) -> JSONResponse:
        """The latest rating run as JSON (an unbounded interval end is null); with
        ``?category=`` (ja, en or a category of arena.categories) that category's board,
        fitted on its own votes (arena.category_board); with ``?style=1`` the
        style-controlled board (of the category, if given) with each model's plain rank
        and rank change, and the style coefficients (arena.style_board)."""
        if category not in FILTERS:
            return JSONResponse(
                {"error": "unknown_category", "message": f"category: one of {', '.join(FILTERS)}"},
                status_code=400,
            )
        view = styled = None
        with arena.sessions() as s:
            run = stats.latest_run(s)
            if run is None:
                rows, unrated, pairs = [], [], []
            elif style:
                view = styled = style_board(s, run, category)
                rows, unrated, pairs = styled.rows, styled.unrated, []
            elif category != ALL:
                view = category_board(s, run, category)
                rows, unrated, pairs = view.rows, view.unrated, []
            else:
                rows = stats.board(s, run.id)
                unrated = stats.unrated(s, run, [r.model for r in rows])
                pairs = neighbours(s, run, rows)
        if run is None:
            return JSONResponse({"run": None, "models": [], "not_rated": []})
        models = [
            {**asdict(r), "ci_lower": _finite(r.ci_lower), "ci_upper": _finite(r.ci_upper)}
            for r in rows
        ]
        extra = {}
        if styled is not None:
            for m in models:
                # The plain board on the same votes: its rank (UB) and rating, and the
                # places the model moved up under style control (negative: down).
                plain = styled.plain.get(m["model"])
                m["plain_rank"] = plain.rank if plain else None
                m["plain_rating"] = plain.rating if plain else None
                m["rank_change"] = styled.change(m["model"])
            extra["style"] = {
                # Rating points per standard deviation of each feature's normalised
                # difference (side A's against side B's); null for a feature that never
                # varied in these votes.
                "coefficients": [
                    {
                        "feature": c.feature,
                        "rating_points": c.points,
                        "ci_lower": c.lower,
                        "ci_upper": c.upper,
                    }
                    for c in styled.coefficients
                ],
                # Battles whose counts were taken from their messages, and why the fit
                # failed (empty when it did not).
                "from_messages": styled.from_messages,
                "error": styled.error,
            }
        return JSONResponse(
            {
                "run": {
                    "created_at": run.created_at.isoformat(),
                    "method": run.method,
                    "anchor": run.anchor,
                    "level": run.level,
                    "votes": run.votes_used,
                    "excluded": run.excluded,
                    "provisional": run.provisional,
                    "min_votes": run.min_votes,
                },
                # The filter, and its counted votes (the run's own for "all"); a category
                # whose models all have fewer than min_votes votes has no rated model.
                "category": category,
                "category_votes": view.votes if view else run.votes_used,
                "models": models,
                # Models with votes but no rating (fewer than min_votes, or never compared
                # with the rated ones), with their battles.
                "not_rated": [asdict(u) for u in unrated],
                # Each pair of neighbours, best first: further votes until their intervals
                # separate at the current sampling (0: already; null: not within 10 million).
                # The main board's only (empty for a category and for style control).
                "neighbours": [asdict(p) for p in pairs],
                **extra,
            }
        )

    @app.post("/api/battles")
    async def battle_turn(body: TurnBody, request: Request) -> Response:
        """Stream one turn of a blind battle (no model name is ever sent here)."""
        voter = VoterRef(body.voter, request.client.host if request.client else None)
        event = body.event or request.cookies.get(EVENT_COOKIE)
        states = arena.send(
            voter, body.prompt, body.battle_id, language=body.language, source=body.source,
            event=event if valid_slug(event) else None,
        )  # fmt: skip
        try:
            first = await anext(states)
        except ArenaError as exc:
            return refusal(exc)
        return StreamingResponse(turn_events(first, states), media_type="text/event-stream")

    @app.post("/api/battles/{battle_id}/vote")
    async def battle_vote(battle_id: str, body: VoteBody, request: Request) -> JSONResponse:
        """Record the verdict once; only then are the names revealed."""
        voter = VoterRef(body.voter, request.client.host if request.client else None)
        try:
            reveal = await arena.vote(voter, battle_id, body.winner)
        except ArenaError as exc:
            return refusal(exc)
        return JSONResponse(
            {
                "model_a": reveal.names[SIDES[0]],
                "model_b": reveal.names[SIDES[1]],
                "counted": reveal.counted,
            }
        )

    @app.post("/api/battles/{battle_id}/reactions")
    async def battle_reaction(battle_id: str, body: ReactionBody, request: Request) -> JSONResponse:
        """After the vote: the voter's reaction to one answer (set, changed or taken back)."""
        voter = VoterRef(body.voter, request.client.host if request.client else None)
        try:
            await react(arena, voter, battle_id, body.turn, Side(body.side), body.value)
        except ArenaError as exc:
            return refusal(exc)
        return JSONResponse({"turn": body.turn, "side": body.side, "value": body.value})

    return app
