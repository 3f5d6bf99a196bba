"""The admin area's errors: a refused action, a failed login, a login limit reached.

Their own module so that the console, the login checks and the HTTP layer can all name
them without importing one another.
"""

from __future__ import annotations

from arena.errors import ArenaError


class AdminError(ArenaError):
    """An admin action was refused; ``code`` is ``not_found`` or ``invalid``."""


class AuthFailed(ArenaError):
    """Wrong or missing credentials."""


class RateLimited(ArenaError):
    """Too many wrong passwords; ``retry_after`` seconds until the next try."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s", code="rate_limited")
        self.retry_after = retry_after
