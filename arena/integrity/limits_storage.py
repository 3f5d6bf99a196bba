"""Where rate-limit counters live: the app's database as a ``limits`` storage, or Redis.

:class:`DatabaseStorage` is a :class:`limits.storage.Storage` on table ``rate_counters``
(one atomic multi-row upsert per call or batch, so processes sharing a database can never
together pass a limit); :func:`open_storage` opens the storage of a kind (memory,
database, redis) with the function that takes counts back when a call is refused.
Apart from :mod:`arena.integrity.limits` (the rules and their decisions) because this is
storage plumbing: SQL, Redis scripts and error wrapping.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Mapping

import limits.errors
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from sqlalchemy import Engine, Executable, bindparam, case, delete, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from arena.config import Settings
from arena.db.engine import UPSERT_DIALECTS, dialect_insert
from arena.db.models import RateCounter
from arena.errors import ConfigError

log = logging.getLogger(__name__)
_TABLE = RateCounter.__table__
_REDIS_UNDO = """
if redis.call('exists', KEYS[1]) == 1 then
  return redis.call('decrby', KEYS[1], ARGV[1])
end
return 0
"""


class DatabaseStorage(Storage):
    """Fixed-window counters in the ``rate_counters`` table, for limits' fixed-window limiter.

    Each :meth:`incr` is one ``INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING count``
    that restarts an expired window or adds to the current one, so the count it returns
    is exact however many processes hit the same key. Expired rows are deleted on about
    one hit in ``cleanup_every``, and by :meth:`reset`. Built directly (it needs the app's
    engine), not through :func:`limits.storage.storage_from_string`.
    """

    def __init__(self, engine: Engine, *, key_prefix: str = "arena", cleanup_every: int = 1000):
        super().__init__(wrap_exceptions=True)
        if engine.dialect.name not in UPSERT_DIALECTS:
            raise ConfigError(
                f"rate limits in the database support PostgreSQL and SQLite, not "
                f"{engine.dialect.name}"
            )
        self.engine = engine
        self.key_prefix = key_prefix
        self.cleanup_every = cleanup_every
        self._insert = dialect_insert(engine.dialect.name)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def prefixed_key(self, key: str) -> str:
        full = f"{self.key_prefix}:{key}"
        if len(full) > _TABLE.c.key.type.length:
            raise ValueError(f"rate-limit key longer than the column: {full!r}")
        return full

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        params = {"key": self.prefixed_key(key), "count": amount, "expires_at": now + expiry,
                  "now": now}  # fmt: skip
        with self.engine.begin() as conn:
            count = conn.execute(self._upsert, params).one().count
        if random.randrange(self.cleanup_every) == 0:
            self._purge_expired_quietly()
        return int(count)

    def incr_many(self, amounts: Mapping[str, tuple[int, int]]) -> dict[str, int]:
        """:meth:`incr` for several keys in one statement: ``{key: (expiry, amount)}`` to
        ``{key: count after}``. Rows go in key order, so two batches sharing keys lock them
        in the same order and cannot deadlock."""
        if not amounts:
            return {}
        now = time.time()
        rows = [
            {"key": self.prefixed_key(key), "count": amount, "expires_at": now + expiry}
            for key, (expiry, amount) in sorted(amounts.items())
        ]
        try:
            with self.engine.begin() as conn:
                after = dict(conn.execute(self._upsert.values(rows), {"now": now}).all())
        except SQLAlchemyError as exc:
            raise limits.errors.StorageError(exc) from exc
        if random.randrange(self.cleanup_every) == 0:
            self._purge_expired_quietly()
        return {key: int(after[self.prefixed_key(key)]) for key in amounts}

    @functools.cached_property
    def _upsert(self) -> Executable:
        """Restart an expired window or add to the live one; key and count after (built once)."""
        stmt = self._insert(_TABLE)
        expired = _TABLE.c.expires_at <= bindparam("now")
        return stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "count": case(
                    (expired, stmt.excluded.count), else_=_TABLE.c.count + stmt.excluded.count
                ),
                "expires_at": case((expired, stmt.excluded.expires_at), else_=_TABLE.c.expires_at),
            },
        ).returning(_TABLE.c.key, _TABLE.c.count)

    def decr(self, key: str, amount: int = 1) -> int:
        """Take back ``amount`` from a live window (never below zero, never reviving one)."""
        stmt = (
            update(_TABLE)
            .where(_TABLE.c.key == self.prefixed_key(key), _TABLE.c.expires_at > time.time())
            .values(count=case((_TABLE.c.count > amount, _TABLE.c.count - amount), else_=0))
            .returning(_TABLE.c.count)
        )
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(stmt).scalar() or 0)
        except SQLAlchemyError as exc:
            raise limits.errors.StorageError(exc) from exc

    def decr_many(self, amounts: Mapping[str, int]) -> None:
        """:meth:`decr` for several keys in one transaction (in key order)."""
        if not amounts:
            return
        now = time.time()
        params = [{"k": self.prefixed_key(key), "n": n, "now": now}
                  for key, n in sorted(amounts.items())]  # fmt: skip
        try:
            with self.engine.begin() as conn:
                conn.execute(self._take_back, params)
        except SQLAlchemyError as exc:
            raise limits.errors.StorageError(exc) from exc

    @functools.cached_property
    def _take_back(self) -> Executable:
        n = bindparam("n")
        return (
            update(_TABLE)
            .where(_TABLE.c.key == bindparam("k"), _TABLE.c.expires_at > bindparam("now"))
            .values(count=case((_TABLE.c.count > n, _TABLE.c.count - n), else_=0))
        )

    def _live(self, key: str) -> tuple[int, float] | None:
        now = time.time()
        query = select(_TABLE.c.count, _TABLE.c.expires_at).where(
            _TABLE.c.key == self.prefixed_key(key), _TABLE.c.expires_at > now
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (int(row.count), float(row.expires_at)) if row else None

    def get(self, key: str) -> int:
        live = self._live(key)
        return live[0] if live else 0

    def get_expiry(self, key: str) -> float:
        live = self._live(key)
        return live[1] if live else time.time()

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def clear(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(_TABLE).where(_TABLE.c.key == self.prefixed_key(key)))

    def reset(self) -> int:
        """Delete this prefix's counters, and every expired one."""
        mine = _TABLE.c.key.startswith(f"{self.key_prefix}:", autoescape=True)
        with self.engine.begin() as conn:
            deleted = conn.execute(delete(_TABLE).where(mine)).rowcount
        self.purge_expired()
        return deleted

    def purge_expired(self) -> int:
        """Delete the rows whose window has ended (of every prefix)."""
        with self.engine.begin() as conn:
            return conn.execute(delete(_TABLE).where(_TABLE.c.expires_at <= time.time())).rowcount

    def _purge_expired_quietly(self) -> None:
        # Housekeeping after a hit that already counted: a failure here (say two purges
        # deadlocking) must not refuse the hit; the next purge catches up.
        try:
            self.purge_expired()
        except SQLAlchemyError as exc:
            log.warning("purging expired rate counters failed: %s", exc)


def open_storage(
    kind: str, settings: Settings, engine: Engine | None, prefix: str
) -> tuple[Storage, Callable[[str, int], object]]:
    """The storage for ``kind`` and a function taking back counts from one of its keys."""
    if kind == "memory":
        memory = MemoryStorage()
        return memory, memory.decr
    if kind == "database":
        if engine is None:
            raise ValueError("the database rate-limit storage needs the app's engine")
        database = DatabaseStorage(engine, key_prefix=prefix)
        return database, database.decr
    redis = storage_from_string(
        settings.redis_url,
        key_prefix=prefix,
        wrap_exceptions=True,
        socket_connect_timeout=5,
        socket_timeout=5,
    )
    assert isinstance(redis, RedisStorage)
    script = redis.get_connection().register_script(_REDIS_UNDO)

    def undo(key: str, amount: int) -> object:
        try:
            return script(keys=[redis.prefixed_key(key)], args=[amount])
        except redis.base_exceptions as exc:
            raise limits.errors.StorageError(exc) from exc

    return redis, undo
