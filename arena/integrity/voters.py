"""Voters issued by the server, and the optional gates in front of a new voter.

A voter is a random token made here and stored in ``voters``; a battle, turn or vote
with any other token is refused as :class:`UnknownVoter` (the page never falls back
to a shared voter). Issuing is limited per client address (``rate_voters_per_address``).

Two gates, both off by default, guard issuing for public or closed evaluations:

- ``pow_gate``: a proof-of-work challenge in the ALTCHA format (the ``altcha``
  package, SHA-256, signed with the app's secret; no third-party service). The
  browser finds the number whose hash matches, which costs it about a second and a
  script thousands of seconds per thousand voters. A solved challenge is accepted once:
  by every process together when the rate limits are shared (database or Redis: the
  challenge is recorded there until it expires), else by this process.
- ``access_codes``: a closed evaluation hands out codes; a voter is issued only to
  someone who gives one of them.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import altcha
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.config import Settings
from arena.db.models import Voter
from arena.errors import ArenaError

if TYPE_CHECKING:
    from arena.integrity.limits import Limits

TOKEN_BYTES = 24  # 32 URL-safe characters
CHALLENGE_TTL = timedelta(minutes=10)


class UnknownVoter(ArenaError):
    """The token was not issued by this server (or the voter was deleted)."""

    def __init__(self) -> None:
        super().__init__(
            "unknown voter: ask POST /api/voters for one (reload the page)", code="unknown_voter"
        )


class GateRefused(ArenaError):
    """A new voter did not pass a gate (proof of work or access code)."""


def looks_like_token(token: object) -> bool:
    """Cheap shape check before any database lookup (never echoes the input)."""
    return (
        isinstance(token, str)
        and 16 <= len(token) <= 64
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in token)
    )


def voter_id(session: Session, token: object) -> int:
    """The id of the issued voter holding ``token``; raises :class:`UnknownVoter`."""
    if not looks_like_token(token):
        raise UnknownVoter()
    found = session.scalar(select(Voter.id).where(Voter.token == token))
    if found is None:
        raise UnknownVoter()
    return found


def issue(session: Session, ip_hash: str | None) -> str:
    """Store a new voter and return its token."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(Voter(token=token, ip_hash=ip_hash))
    session.flush()
    return token


#: Records a solved challenge (its id, seconds it stays valid); True the first time only.
Spend = Callable[[str, float], bool]


@dataclass(frozen=True)
class Gates:
    """What a new voter must show before being issued a token."""

    pow: bool
    pow_max_number: int
    access_codes: tuple[str, ...]
    key: str
    spend: Spend = field(default_factory=lambda: _SPENT.spend, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, limits: Limits | None = None) -> Gates:
        """The gates ``settings`` ask for. Given the app's ``limits`` on a shared storage
        (database or Redis), a solved challenge is spent there, once for all processes;
        otherwise in this process."""
        codes = tuple(c.strip() for c in settings.access_codes.split(",") if c.strip())
        spend = _SPENT.spend
        if limits is not None and limits.storage_name != "memory":
            spend = functools.partial(limits.first_use, "pow")
        return cls(settings.pow_gate, settings.pow_max_number, codes, settings.secret, spend)

    @property
    def open(self) -> bool:
        return not self.pow and not self.access_codes

    def challenge(self) -> dict[str, object]:
        """A new proof-of-work challenge (ALTCHA v1 JSON) for the browser to solve."""
        made = altcha.create_challenge_v1(
            algorithm="SHA-256",
            max_number=self.pow_max_number,
            hmac_key=self.key,
            expires=datetime.now(UTC) + CHALLENGE_TTL,
        )
        return made.to_dict()

    def check(self, pow_payload: object, access_code: object) -> None:
        """Raise :class:`GateRefused` unless the enabled gates are passed."""
        if self.access_codes:
            given = access_code if isinstance(access_code, str) else ""
            if not given.strip():
                raise GateRefused(
                    "this evaluation is closed: enter your access code",
                    code="access_code_required",
                )
            if not any(hmac.compare_digest(given.encode(), c.encode()) for c in self.access_codes):
                raise GateRefused(
                    "this evaluation is closed: a valid access code is needed",
                    code="access_code_invalid",
                )
        if self.pow:
            if not isinstance(pow_payload, str) or not pow_payload or len(pow_payload) > 2000:
                raise GateRefused(
                    "solve the proof-of-work challenge first (GET /api/voters/challenge)",
                    code="pow_required",
                )
            ok, _why = altcha.verify_solution_v1(pow_payload, self.key, check_expires=True)
            if not ok or not self.spend(*_solved(pow_payload)):
                raise GateRefused(
                    "the proof-of-work solution is wrong, expired or already used",
                    code="pow_invalid",
                )


def _solved(payload: str) -> tuple[str, float]:
    """The id of the challenge a verified ``payload`` solves, and the seconds it is valid.

    The id is the challenge itself (the signed hash of salt and number), not the payload:
    the same solution encoded again, or with its salt spelled differently, is one challenge.
    """
    solved = json.loads(base64.b64decode(payload))
    expires = altcha.extract_params_v1(solved).get("expires") or ()
    left = int(expires[0]) - time.time() if expires else CHALLENGE_TTL.total_seconds()
    return str(solved["challenge"]), max(1.0, left + 1)


class _SpentChallenges:
    """Challenges already solved in this process (each is good for one voter)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}  # challenge -> when it expires (Unix time)
        self._lock = threading.Lock()

    def spend(self, challenge: str, expiry: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._until) > 10_000:
                self._until = {k: t for k, t in self._until.items() if t > now}
            if self._until.get(challenge, 0.0) > now:
                return False
            self._until[challenge] = now + expiry
            return True


_SPENT = _SpentChallenges()
