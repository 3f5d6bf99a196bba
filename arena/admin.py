"""The admin area's logic, without Gradio or HTTP: who is an admin, and what admins do.

Admins come from ``ARENA_ADMIN_USERS`` (``user:HASH,...``) where HASH is either
``pbkdf2_sha256$ITERATIONS$SALT$HEX`` (made by ``python -m arena hash-password``) or the
64 hex digits of an unsalted SHA-256 (accepted for compatibility). Wrong passwords are
rate-limited in memory, per client address and per user name.

:class:`AdminConsole` holds the actions -- list and show battles, void and restore a
vote, enable and disable a model, today's figures, delete a voter's data, recompute the
ratings, export -- and writes an ``audit_log`` row for each in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import shutil
import tempfile
import threading
import time as _time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, delete, func, or_, select
from sqlalchemy.orm import Session, aliased

from arena.config import Settings
from arena.db import repo
from arena.db.engine import session_factory
from arena.db.models import AuditLog, Battle, BattleStatus, Message, Model, Vote, Voter
from arena.errors import ArenaError, ConfigError
from arena.export import JUDGE_PREFIX, ExportOptions, export, manifest_path, pseudonym
from arena.integrity import review

PBKDF2_ITERATIONS = 600_000
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0  # seconds
MAX_LIST = 500
MESSAGE_FIELDS = (
    "turn", "role", "content", "latency_ms", "ttft_ms", "prompt_tokens",
    "completion_tokens", "finish_reason", "error",
)  # fmt: skip


class AdminError(ArenaError):
    """An admin action was refused; ``code`` is ``not_found`` or ``invalid``."""


class AuthFailed(ArenaError):
    """Wrong or missing credentials."""


class RateLimited(ArenaError):
    """Too many wrong passwords; ``retry_after`` seconds until the next try."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s", code="rate_limited")
        self.retry_after = retry_after


# -- passwords ----------------------------------------------------------------------


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``pbkdf2_sha256$ITERATIONS$SALT$HEX`` for ``ARENA_ADMIN_USERS``."""
    if not password:
        raise ConfigError("an empty password cannot be hashed")
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


@dataclass(frozen=True)
class _Credential:
    iterations: int  # 0: plain SHA-256
    salt: str
    digest: bytes

    def matches(self, password: str) -> bool:
        if self.iterations:
            got = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), self.salt.encode(), self.iterations
            )
        else:
            got = hashlib.sha256(password.encode()).digest()
        return hmac.compare_digest(got, self.digest)


def _parse_credential(user: str, spec: str) -> _Credential:
    where = f"ARENA_ADMIN_USERS: user {user!r}"
    try:
        if spec.startswith("pbkdf2_sha256$"):
            _, iterations, salt, hexdigest = spec.split("$")
            if int(iterations) < 1 or not salt:
                raise ValueError
            return _Credential(int(iterations), salt, bytes.fromhex(hexdigest))
        if len(spec) == 64:
            return _Credential(0, "", bytes.fromhex(spec))
    except ValueError:
        pass
    raise ConfigError(
        f"{where}: expected pbkdf2_sha256$ITERATIONS$SALT$HEX (python -m arena hash-password) "
        "or 64 hex digits of SHA-256"
    )


class AdminUsers:
    """The configured admins. Verified passwords are remembered as keyed digests, so
    HTTP Basic requests do not pay PBKDF2 each time."""

    def __init__(self, spec: str) -> None:
        self.users: dict[str, _Credential] = {}
        for entry in (e.strip() for e in spec.split(",")):
            if not entry:
                continue
            user, sep, cred = entry.partition(":")
            if not sep or not user.strip():
                raise ConfigError("ARENA_ADMIN_USERS: expected user:hash entries, comma-separated")
            self.users[user.strip()] = _parse_credential(user.strip(), cred.strip())
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._dummy = _Credential(PBKDF2_ITERATIONS, "x" * 32, b"\0" * 32)

    def __bool__(self) -> bool:
        return bool(self.users)

    def __contains__(self, user: object) -> bool:
        return isinstance(user, str) and user in self.users

    def verify(self, user: str, password: str) -> bool:
        """True when ``password`` is ``user``'s; unknown users cost the same time."""
        cred = self.users.get(user)
        memo = hmac.new(self._key, f"{user}\0{password}".encode(), "sha256").digest()
        if cred is not None and hmac.compare_digest(self._verified.get(user, b""), memo):
            return True
        ok = (cred or self._dummy).matches(password) and cred is not None
        if ok:
            self._verified[user] = memo
        return ok


class RateLimiter:
    """At most ``max_failures`` failed logins per key within ``window`` seconds.

    Keys are ``ip:ADDRESS`` and ``user:NAME``; state is in this process's memory (a
    restart forgets it; with several replicas each counts its own).
    """

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        clock: Callable[[], float] = _time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.max_failures, self.window, self.clock, self.max_keys = (
            max_failures, window, clock, max_keys,
        )  # fmt: skip
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> int:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [
                times[0] + self.window - now
                for key in keys
                if len(times := self._recent(key, now)) >= self.max_failures
            ]
        return math.ceil(max(waits)) if waits else 0

    def failure(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.max_keys:  # forget the stalest keys
                for key in sorted(self._failures, key=lambda k: self._failures[k][-1])[:1000]:
                    del self._failures[key]
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times

    def success(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


class AdminAuth:
    """Checks credentials with rate limiting, and audits logins."""

    def __init__(self, users: AdminUsers, console: AdminConsole, limiter: RateLimiter) -> None:
        self.users, self.console, self.limiter = users, console, limiter

    def check(self, user: str, password: str, ip: str | None, *, audit_ok: bool = False) -> str:
        """The admin's name, or raise :class:`RateLimited` / :class:`AuthFailed`."""
        user = (user or "").strip()[:200]
        keys = (f"ip:{ip or '?'}", f"user:{user}")
        wait = self.limiter.retry_after(*keys)
        if wait:
            raise RateLimited(wait)
        if user in self.users and self.users.verify(user, password or ""):
            self.limiter.success(keys[0])
            if audit_ok:
                self.console.audit(user, "login", detail=f"ip={ip}")
            return user
        self.limiter.failure(*keys)
        self.console.audit(user or "?", "login_failed", detail=f"ip={ip}")
        raise AuthFailed("wrong user name or password", code="auth")

    def is_admin(self, user: object) -> bool:
        return user in self.users


# -- the console --------------------------------------------------------------------


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    moment = _aware(moment)
    return moment.isoformat(timespec="seconds") if moment else None


@dataclass(frozen=True)
class BattleFilter:
    """Filters of the battle list; None means "either"."""

    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    flagged: bool | None = None
    failed: bool | None = None
    voted: bool | None = None
    limit: int = 100
    offset: int = 0


@contextmanager
def _as_admin_error() -> Iterator[None]:
    try:
        yield
    except review.ReviewError as exc:
        raise AdminError(str(exc), code=exc.code) from exc


class AdminConsole:
    """The admin actions. ``actor`` is the admin's name (or ``cli:USER``)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine
        self.sessions = session_factory(engine)

    def audit(self, actor: str, action: str, target: str = "", detail: str = "") -> None:
        """Record an action in its own transaction (used for logins and failures)."""
        with self.sessions.begin() as s:
            repo.audit(s, actor[:200], action, target[:200], detail)

    def _judge(self, token: str) -> str:
        salt = self.settings.export_salt
        return pseudonym(token, salt) if len(salt) >= 16 else "(set ARENA_EXPORT_SALT)"

    # -- battles --

    def battles(self, f: BattleFilter) -> list[dict[str, Any]]:
        """Battles newest first, with their vote, filtered."""
        ma, mb = aliased(Model), aliased(Model)
        q = (
            select(Battle, ma.name, mb.name, Vote, Voter.token)
            .join(ma, Battle.model_a_id == ma.id)
            .outerjoin(mb, Battle.model_b_id == mb.id)
            .outerjoin(Vote, Vote.battle_id == Battle.id)
            .join(Voter, Battle.voter_id == Voter.id)
        )
        if f.model:
            q = q.where(or_(ma.name == f.model, mb.name == f.model))
        if f.since:
            q = q.where(Battle.created_at >= f.since)
        if f.until:
            q = q.where(Battle.created_at < f.until)
        if f.flagged is not None:
            flagged = or_(Battle.flag_identity.is_(True), Battle.flag_moderation.is_(True))
            q = q.where(flagged if f.flagged else ~flagged)
        if f.failed is not None:
            failed = Battle.status == BattleStatus.FAILED
            q = q.where(failed if f.failed else ~failed)
        if f.voted is not None:
            q = q.where(Vote.id.is_not(None) if f.voted else Vote.id.is_(None))
        q = q.order_by(Battle.created_at.desc(), Battle.id)
        q = q.limit(max(1, min(f.limit, MAX_LIST))).offset(max(0, f.offset))
        with self.sessions() as s:
            return [self._summary(*row) for row in s.execute(q)]

    def _summary(
        self, b: Battle, a: str, bname: str | None, v: Vote | None, token: str
    ) -> dict[str, Any]:
        return {
            "id": b.id, "created_at": _iso(b.created_at), "mode": b.mode.value,
            "status": b.status.value, "model_a": a, "model_b": bname, "turns": b.turns,
            "language": b.language, "flag_identity": b.flag_identity,
            "flag_moderation": b.flag_moderation, "identity_match": b.identity_match,
            "voter": self._judge(token),
            "winner": v.winner.value if v else None, "voted_at": _iso(v.created_at if v else None),
            "voided": v.voided if v else None, "void_reason": v.void_reason if v else None,
        }  # fmt: skip

    def battle(self, actor: str, battle_id: str) -> dict[str, Any]:
        """One battle with its whole conversation (audited: it shows what a voter wrote)."""
        ma, mb = aliased(Model), aliased(Model)
        with self.sessions.begin() as s:
            row = s.execute(
                select(Battle, ma.name, mb.name, Vote, Voter.token)
                .join(ma, Battle.model_a_id == ma.id)
                .outerjoin(mb, Battle.model_b_id == mb.id)
                .outerjoin(Vote, Vote.battle_id == Battle.id)
                .join(Voter, Battle.voter_id == Voter.id)
                .where(Battle.id == str(battle_id))
            ).first()
            if row is None:
                raise AdminError(f"no battle {battle_id!r}", code="not_found")
            out = self._summary(*row)
            messages = s.scalars(
                select(Message)
                .where(Message.battle_id == battle_id)
                .order_by(Message.turn, Message.side, Message.id)
            )
            out["messages"] = [
                {"side": m.side.value, **{k: getattr(m, k) for k in MESSAGE_FIELDS}}
                for m in messages
            ]
            repo.audit(s, actor, "view_battle", battle_id)
        return out

    def _set_void(self, actor: str, battle_id: str, voided: bool, reason: str | None) -> dict:
        with self.sessions.begin() as s:
            vote = s.scalar(select(Vote).where(Vote.battle_id == str(battle_id)))
            if vote is None:
                raise AdminError(f"battle {battle_id!r} has no vote", code="not_found")
            if vote.voided == voided:
                state = "already void" if voided else "not void"
                raise AdminError(f"the vote of {battle_id} is {state}", code="invalid")
            vote.voided, vote.void_reason = voided, reason
            action = "void_vote" if voided else "unvoid_vote"
            repo.audit(s, actor, action, battle_id, reason or "")
            return {"battle": battle_id, "voided": voided, "void_reason": reason}

    def void_vote(self, actor: str, battle_id: str, reason: str) -> dict[str, Any]:
        """Leave a vote out of the ratings, keeping it (reversible by :meth:`unvoid_vote`)."""
        reason = (reason or "").strip()
        if not reason:
            raise AdminError("a reason is required to void a vote", code="invalid")
        return self._set_void(actor, battle_id, True, reason[:2000])

    def unvoid_vote(self, actor: str, battle_id: str) -> dict[str, Any]:
        """Count a voided vote again."""
        return self._set_void(actor, battle_id, False, None)

    # -- models --

    def models(self) -> list[dict[str, Any]]:
        with self.sessions() as s:
            return [
                {"name": m.name, "provider": m.provider, "enabled": m.enabled, "demo": m.demo}
                for m in s.scalars(select(Model).order_by(Model.name))
            ]

    def set_model_enabled(self, actor: str, name: str, enabled: bool) -> dict[str, Any]:
        """Enable or disable a model for new battles (the arena reads the flag per battle)."""
        with self.sessions.begin() as s:
            model = s.scalar(select(Model).where(Model.name == name))
            if model is None:
                raise AdminError(f"no model {name!r}", code="not_found")
            model.enabled = bool(enabled)
            repo.audit(s, actor, "enable_model" if enabled else "disable_model", name)
            return {"name": name, "enabled": model.enabled}

    # -- figures --

    def today(self, now: datetime | None = None) -> dict[str, Any]:
        """Battles, votes and failures since midnight UTC, in total and per model."""
        now = now or datetime.now(UTC)
        start = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
        failed = case((Battle.status == BattleStatus.FAILED, 1), else_=0)
        voted = case((Vote.id.is_not(None), 1), else_=0)
        per_model: dict[str, dict[str, int]] = {}
        with self.sessions() as s:
            names = dict(s.execute(select(Model.id, Model.name)).all())
            for side in (Battle.model_a_id, Battle.model_b_id):
                rows = s.execute(
                    select(side, func.count(), func.sum(failed), func.sum(voted))
                    .outerjoin(Vote, Vote.battle_id == Battle.id)
                    .where(Battle.created_at >= start, side.is_not(None))
                    .group_by(side)
                )
                for mid, n, nf, nv in rows:
                    d = per_model.setdefault(names[mid], {"battles": 0, "failed": 0, "votes": 0})
                    d["battles"] += n
                    d["failed"] += int(nf or 0)
                    d["votes"] += int(nv or 0)
            battles = s.scalar(select(func.count()).where(Battle.created_at >= start))
            fails = s.scalar(select(func.sum(failed)).where(Battle.created_at >= start))
            votes, voided = s.execute(
                select(func.count(), func.sum(case((Vote.voided.is_(True), 1), else_=0))).where(
                    Vote.created_at >= start
                )
            ).one()
        return {
            "since": start.isoformat(),
            "battles": battles or 0,
            "failed": int(fails or 0),
            "votes": votes or 0,
            "voided": int(voided or 0),
            "per_model": dict(sorted(per_model.items())),
        }

    # -- privacy --

    def find_voter(self, s: Session, ident: str) -> Voter | None:
        """A voter by raw token, or by the pseudonymous ``judge`` id of the exports."""
        ident = (ident or "").strip()
        if not ident:
            return None
        voter = s.scalar(select(Voter).where(Voter.token == ident))
        salt = self.settings.export_salt
        if voter is None and ident.startswith(JUDGE_PREFIX) and len(salt) >= 16:
            tokens = s.execute(select(Voter.id, Voter.token).execution_options(yield_per=5000))
            for vid, token in tokens:
                if hmac.compare_digest(pseudonym(token, salt), ident):
                    return s.get(Voter, vid)
        return voter

    def delete_voter(self, actor: str, ident: str) -> dict[str, Any]:
        """Delete a voter and everything they did (battles, messages, votes)."""
        with self.sessions.begin() as s:
            voter = self.find_voter(s, ident)
            if voter is None:
                raise AdminError("no voter with this id or token", code="not_found")
            label = self._judge(voter.token)
            if not label.startswith(JUDGE_PREFIX):
                label = f"voter #{voter.id}"
            battles = select(Battle.id).where(Battle.voter_id == voter.id)
            counts = {
                "messages": s.execute(delete(Message).where(Message.battle_id.in_(battles))),
                "votes": s.execute(
                    delete(Vote).where(or_(Vote.voter_id == voter.id, Vote.battle_id.in_(battles)))
                ),
                "battles": s.execute(delete(Battle).where(Battle.voter_id == voter.id)),
            }
            result = {k: r.rowcount for k, r in counts.items()}
            s.execute(delete(Voter).where(Voter.id == voter.id))
            repo.audit(s, actor, "delete_voter", label, json.dumps(result))
            return {"voter": label, **result}

    # -- flags: voters found by a recomputation, identity-flagged battles --

    def flags(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Voters flagged by the recomputation, with the evidence."""
        with self.sessions() as s, _as_admin_error():
            return review.list_flags(s, self._judge, status or None, limit)

    def decide_flag(self, actor: str, flag_id: int, decision: str) -> dict[str, Any]:
        """Clear (the votes count again) or confirm (they stay out) a flag; audited."""
        with self.sessions.begin() as s, _as_admin_error():
            return review.decide_flag(s, actor, flag_id, decision)

    def clear_identity(self, actor: str, battle_id: str) -> dict[str, Any]:
        """Count a battle whose identity flag was a mere mention; audited."""
        with self.sessions.begin() as s, _as_admin_error():
            return review.clear_identity(s, actor, battle_id)

    # -- ratings and export --

    def recompute(self, actor: str) -> dict[str, Any]:
        """Recompute the ratings now (audited, also when it fails)."""
        from arena import recompute as rc  # imported lazily: numpy/scipy only when used

        st = self.settings
        try:
            run = rc.recompute(
                self.engine,
                anchor=st.rating_anchor,
                method=st.rating_ci,
                rounds=st.rating_rounds,
                rules=rc.Rules.from_settings(st),
            )
        except (ArenaError, ValueError) as exc:
            self.audit(actor, "recompute_failed", detail=str(exc))
            raise AdminError(f"recomputation not done: {exc}", code="invalid") from exc
        out = {"run": run.id, "votes_used": run.votes_used, "models": len(run.ratings)}
        self.audit(actor, "recompute", f"run #{run.id}", json.dumps(out))
        return out

    def export(
        self,
        actor: str,
        out: str | Path,
        fmt: str,
        options: ExportOptions,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Export with the settings' salt; audited with the filters, rows and checksum."""
        manifest = export(
            self.engine, out, fmt, options, self.settings.export_salt, progress=progress
        )
        detail = {k: manifest[k] for k in ("format", "rows", "sha256", "filters")}
        self.audit(actor, "export", manifest["file"], json.dumps(detail))
        return manifest

    def export_to_temp(
        self, actor: str, fmt: str, options: ExportOptions
    ) -> tuple[Path, Path, dict[str, Any]]:
        """Export into a new temporary directory (the caller removes it when served).

        Returns the file, its manifest file and the manifest.
        """
        tmp = Path(tempfile.mkdtemp(prefix="arena-export-"))
        out = tmp / f"arena-votes-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{fmt}"
        try:
            manifest = self.export(actor, out, fmt, options)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out, manifest_path(out), manifest

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.sessions() as s:
            rows = s.scalars(
                select(AuditLog).order_by(AuditLog.id.desc()).limit(max(1, min(limit, MAX_LIST)))
            )
            return [
                {"at": _iso(r.created_at), "actor": r.actor, "action": r.action,
                 "target": r.target, "detail": r.detail}
                for r in rows
            ]  # fmt: skip


__all__ = [
    "AdminAuth",
    "AdminConsole",
    "AdminError",
    "AdminUsers",
    "AuthFailed",
    "BattleFilter",
    "RateLimited",
    "RateLimiter",
    "hash_password",
]
