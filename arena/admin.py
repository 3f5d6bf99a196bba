"""The admin area's logic, without Gradio or HTTP: who is an admin, and what admins do.

Admins come from ``ARENA_ADMIN_USERS`` (``user:HASH,...``) where HASH is either
``pbkdf2_sha256$ITERATIONS$SALT$HEX`` (made by ``python -m arena hash-password``) or the
64 hex digits of an unsalted SHA-256 (accepted for compatibility). Password checks are
limited per client address and per user name by :class:`RateLimiter`, which takes a slot
before the hash is computed, so concurrent guesses cannot overrun it.

:class:`AdminConsole` holds the actions -- list and show battles, void and restore a
vote, enable and disable a model, today's figures, delete a voter's data, recompute the
ratings, export, events -- and writes an ``audit_log`` row for each in the same transaction.
:class:`ExportStore` keeps the admin page's exports in a private folder for one download.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time as _time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, BinaryIO

import limits.errors
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine, case, delete, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from arena import events as event_repo
from arena.config import Settings
from arena.db import repo
from arena.db.engine import session_factory
from arena.db.models import AuditLog, Battle, BattleStatus, Message, Model, Vote, Voter
from arena.errors import ArenaError, ConfigError, StorageError
from arena.export import (
    JUDGE_PREFIX,
    MIN_SALT_CHARS,
    ExportOptions,
    export,
    export_salt,
    manifest_path,
    pseudonym,
    rotate_salt,
    stored_salt,
)
from arena.integrity import review
from arena.integrity.limits import storage_kind
from arena.integrity.limits_storage import open_storage

logger = logging.getLogger(__name__)
PBKDF2_ITERATIONS = 600_000
MAX_FAILURES = 5
FAILURE_WINDOW = 300  # seconds
EXPORT_TTL = 3600.0  # seconds an export waits for its download
EXPORTING = "arena-export-"  # prefix of a folder being written by an export
TICKET = "ticket.json"
_EXPORT_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
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
    HTTP Basic requests do not pay PBKDF2 each time. ``hash_checks`` counts the password
    hashes computed in this process (a wrong guess costs one, a remembered password none).
    """

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
        self._count_lock = threading.Lock()
        self.hash_checks = 0

    def __bool__(self) -> bool:
        return bool(self.users)

    def __contains__(self, user: object) -> bool:
        return isinstance(user, str) and user in self.users

    def _memo(self, user: str, password: str) -> bytes:
        return hmac.new(self._key, f"{user}\0{password}".encode(), "sha256").digest()

    def remembered(self, user: str, password: str) -> bool:
        """True when ``password`` is ``user``'s and was verified before (no hash computed)."""
        memo = self._verified.get(user)
        return memo is not None and hmac.compare_digest(memo, self._memo(user, password))

    def verify(self, user: str, password: str) -> bool:
        """True when ``password`` is ``user``'s; unknown users cost the same time."""
        if self.remembered(user, password):
            return True
        cred = self.users.get(user)
        with self._count_lock:
            self.hash_checks += 1
        ok = (cred or self._dummy).matches(password) and cred is not None
        if ok:
            self._verified[user] = self._memo(user, password)
        return ok


@dataclass(frozen=True)
class Slot:
    """A password check under way: counted on the limiter's keys until given back."""

    keys: tuple[str, ...]


@contextmanager
def _counter_errors() -> Iterator[None]:
    try:
        yield
    except limits.errors.StorageError as exc:
        cause = exc.storage_error
        raise StorageError(
            f"admin login counters unavailable: {type(cause).__name__}: {cause}", code="storage"
        ) from cause


class RateLimiter:
    """At most ``max_failures`` password checks per client address and per user name in a
    window of ``window`` seconds, counting the checks that failed and those under way.

    A check takes a slot on both keys *before* the password hash is computed (under this
    limiter's lock on the memory storage; by the storage's atomic increment on the shared
    ones, a refused call taking back what it counted). A success gives its slot back; a
    failure keeps it until the window ends. However many guesses arrive at once, at most
    ``max_failures`` of them reach the hash per key and window.

    The counting is :mod:`arena.integrity.limits`'s: limits' fixed windows (a window opens
    at its first slot and lasts ``window`` seconds) on the storage of the arena's own rate
    limits (:meth:`for_settings`), in this process's memory or in the database or Redis
    shared by every process of the app. Built directly, it counts in memory.
    """

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: int = FAILURE_WINDOW,
        storage: tuple[Storage, Callable[[str, int], object]] | None = None,
    ) -> None:
        if storage is None:
            memory = MemoryStorage()
            storage = (memory, memory.decr)
        self._storage, self._undo = storage
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._items = {
            scope: RateLimitItemPerSecond(max_failures, window, namespace=f"admin-login:{scope}")
            for scope in ("ip", "user")
        }
        # limits' MemoryStorage reads a count back after releasing its own lock.
        self._lock: AbstractContextManager[object] = (
            threading.Lock() if not self.shared else nullcontext()
        )

    @classmethod
    def for_settings(cls, settings: Settings, engine: Engine, **kw: Any) -> RateLimiter:
        """A limiter on the storage ``limits_storage`` names (key prefix ``arena``)."""
        storage = open_storage(storage_kind(settings), settings, engine, "arena")
        return cls(storage=storage, **kw)

    @property
    def shared(self) -> bool:
        """True when the counts are shared with other processes (database or Redis)."""
        return not isinstance(self._storage, MemoryStorage)

    def _targets(self, ip: str | None, user: str) -> list[tuple[RateLimitItem, str]]:
        idents = (("ip", ip or "?"), ("user", user))
        return [(self._items[s], hashlib.sha256(i.encode()).hexdigest()) for s, i in idents]

    def _wait(self, full: list[tuple[RateLimitItem, str]]) -> int:
        now, waits = _time.time(), []
        for item, ident in full:
            reset = self._limiter.get_window_stats(item, ident).reset_time
            waits.append(min(item.get_expiry(), max(1, math.ceil(reset - now))))
        return max(waits)

    def retry_after(self, ip: str | None, user: str) -> int:
        """Seconds until a check from ``ip`` for ``user`` may start (0: now)."""
        targets = self._targets(ip, user)
        with self._lock, _counter_errors():
            full = [t for t in targets if not self._limiter.test(*t)]
            return self._wait(full) if full else 0

    def reserve(self, ip: str | None, user: str) -> Slot:
        """Take a slot for one check, or raise :class:`RateLimited` having counted nothing."""
        targets = self._targets(ip, user)
        with self._lock, _counter_errors():
            full = [t for t in targets if not self._limiter.test(*t)]
            if not full:
                taken = []
                for target in targets:
                    taken.append(target)
                    if not self._limiter.hit(*target):
                        full.append(target)  # another thread or process took the last slot
                        break
                if full:
                    for item, ident in taken:
                        self._undo(item.key_for(ident), 1)
            if full:
                raise RateLimited(self._wait(full))
        return Slot(tuple(item.key_for(ident) for item, ident in targets))

    def release(self, slot: Slot) -> None:
        """Give back the slot of a check that succeeded."""
        with self._lock, _counter_errors():
            for key in slot.keys:
                self._undo(key, 1)


class RefusalLog:
    """Logins refused by the limit, audited in batches.

    A refusal costs the sender one request and no hash, so a flood of them must not cost
    one database transaction each: they are counted in memory per (user, address) and
    written every ``interval`` seconds in one transaction, one ``login_refused`` row per
    pair (detail ``ip=ADDRESS refused=N``) for the ``max_rows`` most frequent pairs, and
    one row of actor ``?`` summing the others (and the pairs beyond ``max_pairs`` kept
    between writes). A process that stops loses at most ``interval`` seconds of counts.
    """

    def __init__(
        self,
        write: Callable[[list[tuple[str, str]]], None],
        *,
        interval: float = 2.0,
        max_rows: int = 50,
        max_pairs: int = 10_000,
    ) -> None:
        self.write, self.interval = write, interval
        self.max_rows, self.max_pairs = max_rows, max_pairs
        self._counts: dict[tuple[str, str], int] = {}
        self._others = 0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def add(self, user: str, ip: str | None) -> None:
        """Count one refusal; written within ``interval`` seconds."""
        pair = (user or "?", ip or "?")
        with self._lock:
            if pair in self._counts or len(self._counts) < self.max_pairs:
                self._counts[pair] = self._counts.get(pair, 0) + 1
            else:
                self._others += 1
            if self._timer is None:
                self._timer = threading.Timer(self.interval, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> int:
        """Write the refusals counted so far now; returns how many there were."""
        with self._lock:
            counts, others = self._counts, self._others
            self._counts, self._others = {}, 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        total = sum(counts.values()) + others
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        rows = [(user, f"ip={ip} refused={n}") for (user, ip), n in ranked[: self.max_rows]]
        others += sum(n for _, n in ranked[self.max_rows :])
        if others:
            rows.append(("?", f"refused={others} from other users and addresses"))
        if rows:
            try:
                self.write(rows)
            except SQLAlchemyError as exc:  # often in the timer's thread: nobody to raise to
                logger.warning("could not audit %d refused admin logins: %s", total, exc)
        return total


class AdminAuth:
    """Checks credentials under the failure limit, and audits every attempt.

    A password this process has verified before is recognised without a hash or a slot
    while the keys are not locked; any other takes a slot first (see :class:`RateLimiter`).
    Audited: ``login`` for every check that succeeded by the hash (and every login to the
    page, ``audit_ok``), ``login_failed`` for every failed check, ``login_refused`` in
    batches (:class:`RefusalLog`).
    """

    def __init__(
        self,
        users: AdminUsers,
        console: AdminConsole,
        limiter: RateLimiter,
        refusals: RefusalLog | None = None,
    ) -> None:
        self.users, self.console, self.limiter = users, console, limiter
        self.refusals = refusals or RefusalLog(
            lambda rows: console.audit_many([(u, "login_refused", "", d) for u, d in rows])
        )

    def check(self, user: str, password: str, ip: str | None, *, audit_ok: bool = False) -> str:
        """The admin's name, or raise :class:`RateLimited` / :class:`AuthFailed`."""
        user, password = (user or "").strip()[:200], password or ""
        try:
            wait = self.limiter.retry_after(ip, user)
            if wait:
                raise RateLimited(wait)
            if self.users.remembered(user, password):
                checked = False
            else:
                slot = self.limiter.reserve(ip, user)
                if not self.users.verify(user, password):
                    self.console.audit(user or "?", "login_failed", detail=f"ip={ip}")
                    raise AuthFailed("wrong user name or password", code="auth")
                self.limiter.release(slot)
                checked = True
        except RateLimited:
            self.refusals.add(user, ip)
            raise
        if checked or audit_ok:
            self.console.audit(user, "login", detail=f"ip={ip}")
        return user

    def is_admin(self, user: object) -> bool:
        return user in self.users


# -- the console --------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
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
        self.audit_many([(actor, action, target, detail)])

    def audit_many(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Record ``(actor, action, target, detail)`` rows in one transaction."""
        with self.sessions.begin() as s:
            for actor, action, target, detail in rows:
                repo.audit(s, actor[:200], action, target[:200], detail)

    def _salt(self) -> str | None:
        """The salt of the exports' judge ids: ARENA_EXPORT_SALT, else the stored one (None
        before the first export: no judge id exists yet)."""
        if len(self.settings.export_salt) >= MIN_SALT_CHARS:
            return self.settings.export_salt
        return None if self.settings.export_salt else stored_salt(self.engine)

    def _judges(self) -> Callable[[str], str]:
        """Token -> judge id, with the salt read once."""
        salt = self._salt()
        return lambda token: pseudonym(token, salt) if salt else "(no export yet)"

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
        judge = self._judges()
        with self.sessions() as s:
            return [self._summary(*row, judge=judge) for row in s.execute(q)]

    def _summary(
        self,
        b: Battle,
        a: str,
        bname: str | None,
        v: Vote | None,
        token: str,
        judge: Callable[[str], str],
    ) -> dict[str, Any]:
        return {
            "id": b.id, "created_at": _iso(b.created_at), "mode": b.mode.value,
            "status": b.status.value, "model_a": a, "model_b": bname, "turns": b.turns,
            "language": b.language, "flag_identity": b.flag_identity,
            "flag_moderation": b.flag_moderation, "identity_match": b.identity_match,
            "voter": judge(token),
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
            out = self._summary(*row, judge=self._judges())
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
        salt = self._salt()
        if voter is None and ident.startswith(JUDGE_PREFIX) and salt:
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
            label = self._judges()(voter.token)
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
            return review.list_flags(s, self._judges(), status or None, limit)

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
                min_votes=st.rating_min_votes,
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
        """Export with ARENA_EXPORT_SALT, else the stored salt (made on the first export);
        audited with the filters, rows and checksum."""
        salt = export_salt(self.engine, self.settings.export_salt)
        manifest = export(self.engine, out, fmt, options, salt, progress=progress)
        detail = {k: manifest[k] for k in ("format", "rows", "sha256", "filters")}
        self.audit(actor, "export", manifest["file"], json.dumps(detail))
        return manifest

    def gallery(
        self,
        actor: str,
        *,
        battle_ids: tuple[str, ...] = (),
        per_pair: int = 1,
        models: tuple[str, ...] = (),
        seed: int = 0,
        lang: str = "ja",
    ) -> tuple[list[Any], str, str]:
        """The publication gallery (:mod:`arena.gallery`): the battles shown, the HTML
        page and the Markdown text; audited with the battles' ids."""
        from arena import gallery

        if lang not in gallery.LANGUAGES:
            raise AdminError(f"unknown language {lang!r} (use ja or en)", code="invalid")
        try:
            shown = gallery.choose(
                self.engine, battle_ids=battle_ids, per_pair=per_pair, models=models, seed=seed
            )
        except gallery.GalleryError as exc:
            raise AdminError(str(exc), code="invalid") from exc
        self.audit(actor, "gallery", f"{len(shown)} battles", gallery.summary(shown))
        return shown, gallery.page(shown, lang), gallery.markdown(shown, lang)

    def rotate_export_salt(self, actor: str) -> dict[str, Any]:
        """A new random salt in the database for later exports (audited, value not logged).

        Refused while ARENA_EXPORT_SALT is set: that one is used, not the stored one.
        """
        if self.settings.export_salt:
            raise AdminError(
                "ARENA_EXPORT_SALT is set and takes precedence: change it there instead",
                code="invalid",
            )
        previous = rotate_salt(self.engine)
        self.audit(actor, "rotate_export_salt")
        return {"rotated": True, "previous_salt": previous}

    def export_to_temp(
        self, actor: str, fmt: str, options: ExportOptions, folder: Path | None = None
    ) -> tuple[Path, Path, dict[str, Any]]:
        """Export into a new private directory (mode 0700) under ``folder`` (default: the
        system's temporary directory); the caller removes it when served.

        Returns the file, its manifest file and the manifest.
        """
        tmp = Path(tempfile.mkdtemp(prefix=EXPORTING, dir=folder))
        out = tmp / f"arena-votes-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{fmt}"
        try:
            manifest = self.export(actor, out, fmt, options)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out, manifest_path(out), manifest

    # -- events (issue 18: time-boxed drives, arena/events.py) --

    def events(self) -> list[dict[str, Any]]:
        """Every event, latest deadline first, with its state, votes so far and link."""
        with self.sessions() as s:
            return [
                {**e.as_dict(), "state": e.state(), "votes": event_repo.event_votes(s, e.id)}
                for e in event_repo.list_events(s)
            ]

    def save_event(self, actor: str, **fields: Any) -> dict[str, Any]:
        """Create the event of ``slug`` or change it (arena.events.save_event; audited)."""
        try:
            with self.sessions.begin() as s:
                event = event_repo.save_event(s, **fields)
                detail = json.dumps(event.as_dict(), ensure_ascii=False)
                repo.audit(s, actor, "save_event", event.slug, detail)
        except event_repo.EventError as exc:
            raise AdminError(str(exc), code=exc.code) from exc
        return event.as_dict()

    def delete_event(self, actor: str, slug: str) -> dict[str, Any]:
        """Remove an event; its battles stay, untagged (audited)."""
        try:
            with self.sessions.begin() as s:
                event_repo.delete_event(s, slug)
                repo.audit(s, actor, "delete_event", slug)
        except event_repo.EventError as exc:
            raise AdminError(str(exc), code=exc.code) from exc
        return {"deleted": slug}

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


# -- exports waiting for their download ----------------------------------------------


def default_export_root() -> Path:
    """``arena-admin-exports-UID`` in the system's temporary directory (not Gradio's)."""
    return Path(tempfile.gettempdir()) / f"arena-admin-exports-{os.getuid()}"


def _private_folder(path: Path) -> Path:
    """``path``, made if missing, as a directory only this user can enter; else ConfigError."""
    with suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise ConfigError(
            f"{path}: the admin exports folder must be a directory (not a link) of this user "
            "with mode 0700"
        )
    return path


def _newest_change(entry: os.DirEntry[str]) -> float:
    """The latest modification time of a folder and the files in it (an export writing)."""
    try:
        times = [entry.stat(follow_symlinks=False).st_mtime]
        if entry.is_dir(follow_symlinks=False):
            times += [f.stat(follow_symlinks=False).st_mtime for f in os.scandir(entry.path)]
    except FileNotFoundError:  # removed meanwhile (a download, another process's sweep)
        return math.inf
    return max(times)


@dataclass(frozen=True)
class Ticket:
    """An export waiting for its one download by ``owner``."""

    id: str
    owner: str
    file: str  # the file's name in its folder
    fmt: str
    rows: int
    sha256: str
    schema_version: int
    expires_at: float  # Unix time

    @classmethod
    def read(cls, folder: Path) -> Ticket | None:
        try:
            ticket = cls(**json.loads((folder / TICKET).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        return ticket if Path(ticket.file).name == ticket.file else None


class ExportStore:
    """Exports made in the admin page, kept for one download by the admin who made them.

    ``root`` is a private folder (mode 0700, this user's; by default in the system's
    temporary directory), outside Gradio's cache and allowed paths, so no Gradio app
    serves it. An export is written there by :meth:`AdminConsole.export_to_temp`, then
    published: its folder gets a ``ticket.json`` (owner, file, expiry) and is renamed to
    an unguessable id. :meth:`take` claims it by renaming it again (atomic: one download,
    even between processes sharing ``root``), opens the file and deletes the folder; the
    caller streams the open file. What is not downloaded within ``ttl`` seconds is
    deleted by :meth:`sweep`, run at start, at each export and download, and by a timer
    due when the next waiting export expires.
    """

    def __init__(
        self,
        root: Path | None = None,
        ttl: float = EXPORT_TTL,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.root = _private_folder(root or default_export_root())
        self.ttl, self.clock = ttl, clock
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._due = math.inf
        self.sweep()

    def create(
        self, console: AdminConsole, actor: str, fmt: str, options: ExportOptions
    ) -> tuple[Ticket, dict[str, Any]]:
        """Export for ``actor`` and publish it; returns its ticket and manifest."""
        self.sweep()
        out, _, manifest = console.export_to_temp(actor, fmt, options, _private_folder(self.root))
        ticket = Ticket(
            id=secrets.token_urlsafe(32), owner=actor, file=out.name, fmt=fmt,
            rows=manifest["rows"], sha256=manifest["sha256"],
            schema_version=manifest["schema_version"], expires_at=self.clock() + self.ttl,
        )  # fmt: skip
        try:
            (out.parent / TICKET).write_text(json.dumps(asdict(ticket)), encoding="utf-8")
            out.parent.rename(self.root / ticket.id)
        except OSError:
            shutil.rmtree(out.parent, ignore_errors=True)
            raise
        self._schedule(ticket.expires_at)
        return ticket, manifest

    def keep(self, owner: str, name: str, data: bytes, fmt: str, rows: int) -> Ticket:
        """Keep a small file made in the admin page (a gallery) for ``owner``'s one
        download, as an export is kept."""
        self.sweep()
        folder = Path(tempfile.mkdtemp(prefix=EXPORTING, dir=_private_folder(self.root)))
        ticket = Ticket(
            id=secrets.token_urlsafe(32), owner=owner, file=Path(name).name, fmt=fmt,
            rows=rows, sha256=hashlib.sha256(data).hexdigest(), schema_version=0,
            expires_at=self.clock() + self.ttl,
        )  # fmt: skip
        try:
            (folder / ticket.file).write_bytes(data)
            (folder / TICKET).write_text(json.dumps(asdict(ticket)), encoding="utf-8")
            folder.rename(self.root / ticket.id)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._schedule(ticket.expires_at)
        return ticket

    def take(self, owner: str, export_id: str) -> tuple[Ticket, BinaryIO] | None:
        """``owner``'s export ``export_id``: its ticket and the file, open and already
        deleted from disk. None when there is no such export of ``owner``'s (unknown id,
        another admin's, expired, already downloaded)."""
        if not _EXPORT_ID.fullmatch(export_id or ""):
            return None
        ticket = Ticket.read(self.root / export_id)
        if ticket is None or ticket.owner != owner:
            return None
        claimed = self.root / f".taken-{secrets.token_hex(8)}"
        try:
            (self.root / export_id).rename(claimed)
        except OSError:  # claimed by another request, or swept
            return None
        try:
            if ticket.expires_at <= self.clock():
                return None
            return ticket, open(claimed / ticket.file, "rb")  # the caller streams and closes it
        except OSError:
            return None
        finally:
            shutil.rmtree(claimed, ignore_errors=True)
            self.sweep()

    def sweep(self) -> int:
        """Delete expired exports and leftovers (unpublished or claimed folders) older than
        ``ttl``; returns how many were deleted."""
        now, removed, due = self.clock(), 0, []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:  # removed from outside; made again at the next export
            return 0
        for entry in entries:
            ticket = Ticket.read(Path(entry.path)) if _EXPORT_ID.fullmatch(entry.name) else None
            expires = ticket.expires_at if ticket else _newest_change(entry) + self.ttl
            if expires > now:
                due.append(expires)
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink(missing_ok=True)
            removed += 1
        if due:
            self._schedule(min(due))
        return removed

    def _schedule(self, when: float) -> None:
        """Make sure a sweep runs at ``when`` (or earlier)."""
        with self._lock:
            if self._timer is not None:
                if self._due <= when:
                    return
                self._timer.cancel()
            self._due = when
            self._timer = threading.Timer(max(0.1, when - self.clock() + 0.1), self._tick)
            self._timer.daemon = True
            self._timer.start()

    def _tick(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.sweep()
        except OSError as exc:  # in the timer's thread: nobody to raise to
            logger.warning("sweeping admin exports in %s failed: %s", self.root, exc)

    def close(self) -> None:
        """Stop the timer (the exports stay until a sweep or their download)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


__all__ = [
    "AdminAuth",
    "AdminConsole",
    "AdminError",
    "AdminUsers",
    "AuthFailed",
    "BattleFilter",
    "ExportStore",
    "RateLimited",
    "RateLimiter",
    "RefusalLog",
    "Ticket",
    "default_export_root",
    "hash_password",
]
