"""Who is an admin: password hashes, ``ARENA_ADMIN_USERS``, and the login check.

Admins come from ``ARENA_ADMIN_USERS`` (``user:HASH,...``) where HASH is either
``pbkdf2_sha256$ITERATIONS$SALT$HEX`` (made by ``python -m arena hash-password``) or the
64 hex digits of an unsalted SHA-256 (accepted for compatibility). :class:`AdminAuth`
checks a login under :class:`~arena.admin.limiter.RateLimiter` and audits it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arena.admin.errors import AuthFailed, RateLimited
from arena.admin.limiter import RateLimiter, RefusalLog
from arena.errors import ConfigError

if TYPE_CHECKING:  # the console is only named in annotations here
    from arena.admin.console import AdminConsole


PBKDF2_ITERATIONS = 600_000


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
