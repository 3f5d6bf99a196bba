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

One module per concern: :mod:`.auth` (hashes, admins, the login check), :mod:`.limiter`
(failed logins limited and logged), :mod:`.console` and :mod:`.console_exports` (the
actions), :mod:`.exports` (the page's exports), :mod:`.errors`. This package names them all.
"""

from __future__ import annotations

from arena.admin.auth import PBKDF2_ITERATIONS, AdminAuth, AdminUsers, hash_password
from arena.admin.console import AdminConsole, BattleFilter
from arena.admin.errors import AdminError, AuthFailed, RateLimited
from arena.admin.exports import ExportStore, Ticket, default_export_root
from arena.admin.limiter import RateLimiter, RefusalLog, Slot

__all__ = [
    "PBKDF2_ITERATIONS",
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
    "Slot",
    "Ticket",
    "default_export_root",
    "hash_password",
]
