"""Rate limits per voter and per client address, shared by every process of the app.

Built on the ``limits`` package: a rule is written in its notation (``"30/10 minutes"``,
several separated by ``;``), parsed with :func:`limits.parse_many`, and counted with its
:class:`~limits.strategies.FixedWindowRateLimiter` on one of three storages:

``memory``
    limits' :class:`~limits.storage.MemoryStorage`. Counters live in this process only:
    right for one process (the SQLite default), wrong for several.
``database``
    :class:`~arena.integrity.limits_storage.DatabaseStorage`, a ``limits`` storage on the
    app's own database (table ``rate_counters``). One atomic multi-row upsert per call
    (every counter of the call, or of a batch of calls: :meth:`Limits.hit_many`), so
    processes sharing a PostgreSQL database (or a SQLite file on one host) can never
    together pass a limit.
``redis``
    limits' :class:`~limits.storage.RedisStorage`, from ``ARENA_REDIS_URL``.

``limits_storage = "auto"`` picks redis when ``ARENA_REDIS_URL`` is set, else the database
unless it is SQLite, else memory.

Window semantics (limits' *fixed window*, the same on every storage): a counter's window
opens at its first counted hit and lasts the rule's period; at most N hits pass in it;
when it ends the counter starts again from zero. A client can therefore get up to 2N
hits across a window boundary, never more. A refused call counts nothing: the rules of
a call are tested first and counted only when all pass; when counting loses a race to
another process, the counts this call made are undone before it is refused.
:meth:`Limits.hit_many` decides a batch of calls exactly as one after the other would:
on the database it adds every call's counts at once, passes the calls in order while
each of their counters, from the count before the batch, stays within its rule, and
takes back the counts of the calls it refused (while the batch is being decided, other
processes see its whole count: they may refuse early, never pass too many).

Keys: callers pass identifiers that are already hashed (voter token, salted address
hash); they are hashed again (sha256) so every key has the same short length. Keys read
``<prefix>:<action>:<scope>/<sha256>/<amount>/<multiples>/<period>``, prefix ``arena``
on the shared storages. A storage that fails raises :class:`~arena.errors.StorageError`:
a limit is never waived because its counters cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import limits
import limits.errors
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from arena.config import Settings, env_name
from arena.db.engine import UPSERT_DIALECTS
from arena.errors import ArenaError, ConfigError, StorageError
from arena.integrity.limits_storage import DatabaseStorage, open_storage

ACTIONS = ("voter", "battle", "turn", "vote")
STORAGES = ("auto", "memory", "database", "redis")
#: The setting holding each rule, by (action, scope). New voters are limited per address only.
RULE_SETTINGS = {
    ("voter", "address"): "rate_voters_per_address",
    ("battle", "voter"): "rate_battles_per_voter",
    ("battle", "address"): "rate_battles_per_address",
    ("turn", "voter"): "rate_turns_per_voter",
    ("turn", "address"): "rate_turns_per_address",
    ("vote", "voter"): "rate_votes_per_voter",
    ("vote", "address"): "rate_votes_per_address",
}
_ZERO_PERIOD = re.compile(r"(/|per)\s*0+\s*[a-z]", re.IGNORECASE)
_PREFIX = re.compile(r"[a-z0-9_-]{1,40}")


class RateLimited(ArenaError):
    """Too many actions of one kind from one voter or address; try again in ``retry_after`` s."""

    def __init__(self, action: str, scope: str, retry_after: int) -> None:
        super().__init__(
            f"too many {action} requests from this {scope}; try again in {retry_after} s",
            code="rate_limited",
            action=action,
            scope=scope,
            retry_after=retry_after,
        )
        self.action = action
        self.scope = scope
        self.retry_after = retry_after


def _setting_name(name: str) -> str:
    field = Settings.__dataclass_fields__[name]
    return f"arena.{name} ({env_name(field)})"


def _parse_rule(settings: Settings, name: str) -> list[limits.RateLimitItem]:
    value = getattr(settings, name)
    try:
        items = limits.parse_many(value)
    except ValueError as exc:
        raise ConfigError(
            f"{_setting_name(name)}: {value!r} is not a rate limit; "
            "expected e.g. '30/10 minutes' or '5/minute; 100/day'"
        ) from exc
    if _ZERO_PERIOD.search(value):
        raise ConfigError(f"{_setting_name(name)}: {value!r} has a period of zero")
    if any(item.amount < 1 for item in items):
        raise ConfigError(
            f"{_setting_name(name)}: {value!r} allows nothing; a rule must allow at least 1 "
            "(set a large number to make it lenient)"
        )
    return items


def _database_backend(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except ArgumentError as exc:  # the URL may hold a password: do not repeat it
        raise ConfigError(f"{_setting_name('database_url')}: not a database URL") from exc


def storage_kind(settings: Settings) -> str:
    """Which storage ``settings`` asks for: ``memory``, ``database`` or ``redis``."""
    if settings.limits_storage != "auto":
        return settings.limits_storage
    if settings.redis_url:
        return "redis"
    return "memory" if _database_backend(settings.database_url) == "sqlite" else "database"


def check_rules(settings: Settings) -> None:
    """Raise :class:`ConfigError` naming the setting when a rule or the storage is unusable."""
    for name in RULE_SETTINGS.values():
        _parse_rule(settings, name)
    if settings.limits_storage not in STORAGES:
        raise ConfigError(
            f"{_setting_name('limits_storage')}: expected one of {', '.join(STORAGES)}, "
            f"got {settings.limits_storage!r}"
        )
    if settings.redis_url:
        scheme = urllib.parse.urlparse(settings.redis_url).scheme
        if scheme not in RedisStorage.STORAGE_SCHEME:
            raise ConfigError(
                f"{_setting_name('redis_url')}: expected a redis:// or rediss:// URL, "
                f"got scheme {scheme!r}"
            )
    kind = storage_kind(settings)
    if kind == "redis" and not settings.redis_url:
        raise ConfigError(f"{_setting_name('limits_storage')}: 'redis' needs ARENA_REDIS_URL")
    if kind == "database" and _database_backend(settings.database_url) not in UPSERT_DIALECTS:
        raise ConfigError(
            f"{_setting_name('limits_storage')}: the database storage supports PostgreSQL "
            "and SQLite only"
        )


@dataclass(frozen=True)
class _Target:
    scope: str
    item: limits.RateLimitItem
    ident: str


class Limits:
    """The arena's rate limits, counted on the storage ``settings`` ask for.

    ``engine`` is the app's engine, needed by the database storage. ``prefix`` starts every
    key of the shared storages (tests give each run its own) and bounds :meth:`reset`.
    """

    def __init__(
        self, settings: Settings, engine: Engine | None = None, *, prefix: str = "arena"
    ) -> None:
        check_rules(settings)
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix must match {_PREFIX.pattern}, got {prefix!r}")
        self._rules = {
            key: [
                type(item)(item.amount, item.multiples, namespace=f"{key[0]}:{key[1]}")
                for item in _parse_rule(settings, name)
            ]
            for key, name in RULE_SETTINGS.items()
        }
        self._kind = storage_kind(settings)
        self._storage, self._undo = open_storage(self._kind, settings, engine, prefix)
        self._limiter = FixedWindowRateLimiter(self._storage)
        # limits' MemoryStorage is not atomic across threads (it reads a count back after
        # releasing its lock); one lock per Limits makes the in-process counts exact.
        self._lock = threading.Lock() if self._kind == "memory" else contextlib.nullcontext()

    @property
    def storage_name(self) -> str:
        """Where the counters live: ``memory``, ``database`` or ``redis``."""
        return self._kind

    def hit(self, action: str, *, voter: str | None = None, address: str | None = None) -> None:
        """Count one ``action`` for ``voter`` and for ``address`` (each when given).

        Raises :class:`RateLimited` (the longest ``retry_after`` of the rules that refused)
        without counting anything, or :class:`StorageError` when the storage fails.
        """
        if self._kind == "database":  # every counter of the call in one statement
            refused = self.hit_many(action, [(voter, address)])[0]
            if refused is not None:
                raise refused
            return
        targets = self._targets(action, voter=voter, address=address)
        if not targets:
            return
        with self._lock, self._storage_errors():
            # In memory a look first keeps refused actions uncounted. A shared storage is
            # counted straight away (a look there is a round trip per rule, and could not
            # be atomic across processes anyway): what a refusal counted is taken back.
            refused = (
                [t for t in targets if not self._limiter.test(t.item, t.ident)]
                if self._kind == "memory"
                else []
            )
            if not refused:
                counted: list[_Target] = []
                for target in targets:
                    counted.append(target)
                    if not self._limiter.hit(target.item, target.ident):
                        refused.append(target)  # over the limit (or another process won)
                if refused:
                    for target in counted:
                        self._undo(target.item.key_for(target.ident), 1)
            if refused:
                raise self._refusal(action, refused)

    def hit_many(
        self, action: str, callers: Sequence[tuple[str | None, str | None]]
    ) -> list[RateLimited | None]:
        """:meth:`hit` for each ``(voter, address)`` of ``callers``, as if one after the other
        in this order: each caller's refusal, or None when it was counted.

        On the database storage the whole batch costs one upsert (plus one statement taking
        back what refused callers counted); elsewhere the callers are hit one by one.
        Raises :class:`StorageError` (for the whole batch) when the storage fails.
        """
        if self._kind != "database":
            return [self._try_hit(action, voter, address) for voter, address in callers]
        keyed = [
            [(t, t.item.key_for(t.ident)) for t in self._targets(action, voter=v, address=a)]
            for v, a in callers
        ]
        amounts = Counter(key for call in keyed for _t, key in call)
        expiry = {key: t.item.get_expiry() for call in keyed for t, key in call}
        out: list[RateLimited | None] = []
        with self._storage_errors():
            assert isinstance(self._storage, DatabaseStorage)
            after = self._storage.incr_many({k: (expiry[k], n) for k, n in amounts.items()})
            # What each counter held before this batch (zero when its window restarted);
            # a caller passes when its counters, with the callers passed before it, allow it.
            held = {key: after[key] - n for key, n in amounts.items()}
            passed: Counter[str] = Counter()
            for call in keyed:
                needs = Counter(key for _t, key in call)
                over = [t for t, k in call if held[k] + passed[k] + needs[k] > t.item.amount]
                out.append(self._refusal(action, over) if over else None)
                if not over:
                    passed.update(needs)
            self._storage.decr_many(amounts - passed)  # what the refused callers counted
        return out

    def _try_hit(self, action: str, voter: str | None, address: str | None) -> RateLimited | None:
        try:
            self.hit(action, voter=voter, address=address)
        except RateLimited as refused:
            return refused
        return None

    async def ahit(
        self, action: str, *, voter: str | None = None, address: str | None = None
    ) -> None:
        """:meth:`hit` for async code: shared storages are called from a worker thread."""
        if self._kind == "memory":
            self.hit(action, voter=voter, address=address)
        else:
            await asyncio.to_thread(self.hit, action, voter=voter, address=address)

    def first_use(self, kind: str, ident: str, expiry: float) -> bool:
        """Record one use of ``ident`` (a ``kind`` of thing good for one use, such as a
        solved proof-of-work challenge) for ``expiry`` seconds; True only for the first
        record of it while that lasts.

        One atomic count on the storage (an upsert, or Redis' INCRBY): of processes sharing
        it, exactly one sees 1. Raises :class:`StorageError` when the storage fails.
        """
        key = f"once:{kind}/{hashlib.sha256(ident.encode('utf-8')).hexdigest()}"
        with self._lock, self._storage_errors():
            return self._storage.incr(key, max(1, math.ceil(expiry))) == 1

    def check(self) -> bool:
        """True when the storage answers (for health checks)."""
        return bool(self._storage.check())

    def reset(self) -> None:
        """Forget every counter of this storage and prefix (for tests)."""
        with self._lock, self._storage_errors():
            self._storage.reset()

    def _targets(self, action: str, *, voter: str | None, address: str | None) -> list[_Target]:
        if action not in ACTIONS:
            raise ValueError(f"unknown rate-limited action {action!r}; known: {ACTIONS}")
        targets = []
        for scope, ident in (("voter", voter), ("address", address)):
            if ident is None:
                continue
            digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()
            for item in self._rules.get((action, scope), []):
                targets.append(_Target(scope, item, digest))
        return targets

    def _refusal(self, action: str, refused: list[_Target]) -> RateLimited:
        now = time.time()
        waits = []
        for t in refused:
            reset_at = self._limiter.get_window_stats(t.item, t.ident).reset_time
            # Redis rounds a TTL to whole seconds: never report more than the period.
            waits.append((min(t.item.get_expiry(), max(1, math.ceil(reset_at - now))), t.scope))
        wait, scope = max(waits)
        return RateLimited(action, scope, wait)

    @contextlib.contextmanager
    def _storage_errors(self) -> Iterator[None]:
        try:
            yield
        except limits.errors.StorageError as exc:
            cause = exc.storage_error
            raise StorageError(
                f"rate-limit counters ({self._kind}) unavailable: {type(cause).__name__}: {cause}",
                code="storage",
            ) from cause
