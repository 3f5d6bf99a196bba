"""The battle API's wire format: its request bodies, its error responses and a turn as
server-sent events.

The routes themselves are in arena.api; what goes over the wire is here, so the shapes
README documents for other front ends are read in one place.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from arena.battles import SIDE_ERROR_MESSAGE, SIDES, SOURCE_PATTERN, TurnState
from arena.errors import ArenaError, StorageError
from arena.integrity.limits import RateLimited
from arena.integrity.voters import GateRefused, UnknownVoter


class VoterBody(BaseModel):
    """What a new voter shows at the gates (both optional; needed only when enabled)."""

    access_code: str | None = Field(default=None, max_length=200)
    altcha: str | None = Field(default=None, max_length=2000)


class TurnBody(BaseModel):
    """A prompt: a new battle when ``battle_id`` is null, else the battle's next turn."""

    voter: str = Field(min_length=16, max_length=64)
    prompt: str
    battle_id: str | None = Field(default=None, max_length=64)
    language: Literal["ja", "en"] = "ja"
    #: How a new battle's first prompt came: "typed" or "example:<category>".
    source: str | None = Field(default=None, pattern=f"^({SOURCE_PATTERN})$")
    #: The slug of the event a new battle is started under (arena.events); the page's
    #: event link sets it as the cookie ``EVENT_COOKIE`` instead.
    event: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")


class ReactionBody(BaseModel):
    """A thumbs up (1), down (-1) or none (0) on one answer: a side of one turn."""

    voter: str = Field(min_length=16, max_length=64)
    turn: int = Field(ge=1, le=100)
    side: Literal["a", "b"]
    value: Literal[-1, 0, 1]


class VoteBody(BaseModel):
    voter: str = Field(min_length=16, max_length=64)
    winner: str


def refusal(exc: ArenaError) -> JSONResponse:
    """``exc`` as the API's error body, with its HTTP status (and Retry-After)."""
    headers = {}
    if isinstance(exc, StorageError):
        status = 503
    elif isinstance(exc, UnknownVoter | GateRefused):
        status = 401
    elif isinstance(exc, RateLimited):
        status = 429
        headers["Retry-After"] = str(exc.retry_after)
    elif exc.code.startswith("prompt_") or exc.code == "vote_invalid":
        status = 400
    elif exc.code == "unknown_battle":
        status = 404
    else:
        status = 409
    body: dict[str, object] = {"error": exc.code, "message": str(exc)}
    # The numbers a message is made of (a limit, seconds to wait), so a front end can
    # say it in its own language; never free text.
    params = {k: v for k, v in exc.params.items() if isinstance(v, int | float | bool)}
    if params:
        body["params"] = params
    return JSONResponse(body, status_code=status, headers=headers)


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def turn_events(first: TurnState, states: AsyncIterator[TurnState]) -> AsyncIterator[str]:
    """The turn as events: ``turn``, then ``delta`` pieces per side, then ``done``."""
    yield _sse("turn", {"battle_id": first.battle_id, "turn": first.turn})
    sent = {side: 0 for side in SIDES}
    state = first
    try:
        async for state in states:
            delta = {}
            for side in SIDES:
                text_ = state.sides[side].text
                if len(text_) > sent[side]:
                    delta[side.value] = text_[sent[side] :]
                    sent[side] = len(text_)
            if delta:
                yield _sse("delta", delta)
    except ArenaError as exc:  # e.g. the turn could not be stored: say so, then end
        yield _sse("error", {"error": exc.code, "message": str(exc)})
        return
    # A failed side is a code and a generic message: upstream details (status bodies,
    # hosts, served names) could tell the volunteer which model it was.
    errors = {
        side.value: {"code": code, "message": SIDE_ERROR_MESSAGE}
        if (code := state.sides[side].error)
        else None
        for side in SIDES
    }
    yield _sse("done", {"errors": errors, "votable": state.votable})
