"""Voters as judges: the export's pseudonyms and the salt that keys them.

A voter appears in an export only as ``judge``, an HMAC-SHA256 of its browser token
keyed with ``ARENA_EXPORT_SALT``, or when that is unset with a random salt made on the
first export and kept in the database (``app_state``), so that judge ids stay the same
from one export to the next; the admin console can rotate it.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select

from arena.db.engine import dialect_insert
from arena.db.models import AppState
from arena.export_schema import ExportError

JUDGE_PREFIX = "arena_user_"
MIN_SALT_CHARS = 16
#: Where the pseudonym salt is kept in ``app_state`` when ARENA_EXPORT_SALT is unset.
SALT_KEY = "export_salt"


def pseudonym(token: str, salt: str) -> str:
    """The voter's public ``judge`` id: stable for one salt, not reversible without it."""
    return JUDGE_PREFIX + hmac.digest(salt.encode(), token.encode(), "sha256").hex()[:24]


def check_salt(salt: str) -> None:
    """Refuse to pseudonymise with a missing or short salt."""
    if len(salt) < MIN_SALT_CHARS:
        raise ExportError(
            f"ARENA_EXPORT_SALT must be a secret of at least {MIN_SALT_CHARS} characters "
            '(e.g. the output of `python -c "import secrets; print(secrets.token_hex(32))"`), '
            "or unset to use the salt stored in the database",
            code="export_salt",
        )


def stored_salt(engine: Engine) -> str | None:
    """The pseudonym salt kept in the database (``app_state``), or None before any export."""
    with engine.connect() as conn:
        return conn.scalar(select(AppState.value).where(AppState.key == SALT_KEY))


def export_salt(engine: Engine, configured: str = "") -> str:
    """The salt that makes judge ids: ``configured`` (``ARENA_EXPORT_SALT``) when set,
    else the one stored in the database, made at random on first use.

    Every app process and command line sharing the database finds the same stored salt,
    so judge ids stay the same from one export to the next. Two processes making it at
    once insert if absent, then both read the one that won.
    """
    if configured:
        check_salt(configured)
        return configured
    if (salt := stored_salt(engine)) is not None:
        return salt
    row = {"key": SALT_KEY, "value": secrets.token_hex(32), "updated_at": datetime.now(UTC)}
    with engine.begin() as conn:
        insert_new = dialect_insert(conn.dialect.name)(AppState)
        conn.execute(insert_new.values(row).on_conflict_do_nothing())
        return conn.scalar(select(AppState.value).where(AppState.key == SALT_KEY))


def rotate_salt(engine: Engine) -> str | None:
    """Replace the stored salt with a new random one; return the previous one (None if
    there was none). Later exports give every voter a new judge id."""
    with engine.begin() as conn:
        previous = conn.scalar(
            select(AppState.value).where(AppState.key == SALT_KEY).with_for_update()
        )
        conn.execute(delete(AppState).where(AppState.key == SALT_KEY))
        conn.execute(
            insert(AppState).values(
                key=SALT_KEY, value=secrets.token_hex(32), updated_at=datetime.now(UTC)
            )
        )
    return previous
