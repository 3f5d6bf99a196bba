"""Failed admin logins, limited per client address and per user name, and logged.

:class:`RateLimiter` takes a slot before the password hash is computed, so concurrent
guesses cannot overrun the limit; :class:`RefusalLog` writes refused logins to the audit
log in batches. Apart from the password checks (:mod:`arena.admin.auth`) because this is
counting on the arena's rate-limit storage.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time as _time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import limits.errors
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from arena.admin.errors import RateLimited
from arena.config import Settings
from arena.errors import StorageError
from arena.integrity.limits import storage_kind
from arena.integrity.limits_storage import open_storage

logger = logging.getLogger("arena.admin")  # the admin area logs under one name

MAX_FAILURES = 5
FAILURE_WINDOW = 300  # seconds


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
