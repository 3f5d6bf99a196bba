"""Voters issued by the server, and the optional gates in front of a new voter.

A voter is a random token made here and stored in ``voters``; a battle, turn or vote
with any other token is refused as :class:`UnknownVoter` (the page never falls back
to a shared voter). Issuing is limited per client address (``rate_voters_per_address``).

Two gates, both off by default, guard issuing for public or closed evaluations:

- ``pow_gate``: a proof-of-work challenge in the ALTCHA format (the ``altcha``
  package, SHA-256, signed with the app's secret; no third-party service). The
  browser finds the number whose hash matches, which costs it about a second and a
  script thousands of seconds per thousand voters. A solved challenge is accepted once.
- ``access_codes``: a closed evaluation hands out codes; a voter is issued only to
  someone who gives one of them.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import altcha
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.config import Settings
from arena.db.models import Voter
from arena.errors import ArenaError

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


@dataclass(frozen=True)
class Gates:
    """What a new voter must show before being issued a token."""

    pow: bool
    pow_max_number: int
    access_codes: tuple[str, ...]
    key: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Gates:
        codes = tuple(c.strip() for c in settings.access_codes.split(",") if c.strip())
        return cls(settings.pow_gate, settings.pow_max_number, codes, settings.secret)

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
            if not ok or not _SPENT.spend(pow_payload):
                raise GateRefused(
                    "the proof-of-work solution is wrong, expired or already used",
                    code="pow_invalid",
                )


class _SpentChallenges:
    """Solutions already accepted by this process (each is good for one voter)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def spend(self, payload: str) -> bool:
        now = time.monotonic()
        ttl = CHALLENGE_TTL.total_seconds()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < ttl}
            if payload in self._seen:
                return False
            self._seen[payload] = now
            return True


_SPENT = _SpentChallenges()
