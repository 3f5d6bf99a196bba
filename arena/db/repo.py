"""Repository functions: small queries and writes, each taking a ``Session``.

Transactions are opened and committed by the callers (``arena.battles``, the CLI),
so one user action is one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from arena.config import ModelSpec
from arena.db.models import (
    AuditLog,
    Battle,
    BattleMode,
    BattleStatus,
    Message,
    Model,
)


def sync_models(session: Session, specs: Iterable[ModelSpec]) -> dict[str, int]:
    """Insert configured models that are missing and refresh their metadata.

    The ``enabled`` flag an admin set in the database is kept, except that a model
    disabled in the configuration is always disabled. Returns name -> id.
    """
    existing = {m.name: m for m in session.scalars(select(Model))}
    for spec in specs:
        row = existing.get(spec.name)
        if row is None:
            row = Model(name=spec.name, enabled=spec.enabled)
            session.add(row)
            existing[spec.name] = row
        elif not spec.enabled:
            row.enabled = False
        row.provider = spec.provider
        row.weights = spec.weights
        row.description = spec.description
        row.japanese_mt_bench = spec.japanese_mt_bench
        row.nejumi_lb3 = spec.nejumi_lb3
        row.demo = spec.demo
    session.flush()
    return {name: row.id for name, row in existing.items()}


def enabled_models(session: Session) -> set[str]:
    """Names of the models an admin has not disabled."""
    return set(session.scalars(select(Model.name).where(Model.enabled.is_(True))))


def hash_ip(ip: str | None, salt: str) -> str | None:
    """A salted hash of an IP address; the address itself is never stored."""
    if not ip:
        return None
    return hashlib.sha256(f"{salt}:{ip}".encode()).hexdigest()


def anony_pair_counts(session: Session) -> dict[tuple[str, str], int]:
    """How many blind battles each unordered pair of models has had."""
    ma, mb = aliased(Model), aliased(Model)
    rows = session.execute(
        select(ma.name, mb.name, func.count())
        .select_from(Battle)
        .join(ma, Battle.model_a_id == ma.id)
        .join(mb, Battle.model_b_id == mb.id)
        .where(Battle.mode == BattleMode.ANONY)
        .group_by(ma.name, mb.name)
    )
    counts: dict[tuple[str, str], int] = {}
    for a, b, n in rows:
        key = (a, b) if a <= b else (b, a)
        counts[key] = counts.get(key, 0) + n
    return counts


def claim_battle(
    session: Session, battle_id: str, voter_id: int, allowed: set[BattleStatus]
) -> bool:
    """Atomically move a battle of this voter from an allowed status to STREAMING."""
    result = session.execute(
        update(Battle)
        .where(Battle.id == battle_id, Battle.voter_id == voter_id, Battle.status.in_(allowed))
        .values(status=BattleStatus.STREAMING)
    )
    return result.rowcount == 1


def last_turn_messages(session: Session, battle_id: str, turn: int) -> list[Message]:
    """The messages of one turn of a battle."""
    return list(
        session.scalars(select(Message).where(Message.battle_id == battle_id, Message.turn == turn))
    )


def audit(session: Session, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Record an admin action."""
    session.add(AuditLog(actor=actor, action=action, target=target, detail=detail))
