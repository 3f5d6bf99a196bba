"""Repository functions: small queries and writes, each taking a ``Session``.

Transactions are opened and committed by the callers (``arena.battles``, the CLI),
so one user action is one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, aliased

from arena.config import ModelSpec
from arena.db.engine import dialect_insert
from arena.db.models import (
    AuditLog,
    Battle,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    ModelHealth,
    utcnow,
)
from arena.sampling import SharedOut


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


def anony_pair_counts(
    session: Session, since: datetime | None = None, until: datetime | None = None
) -> dict[tuple[str, str], int]:
    """How many blind battles each unordered pair of models has had (created in
    ``[since, until)`` when given)."""
    ma, mb = aliased(Model), aliased(Model)
    query = (
        select(ma.name, mb.name, func.count())
        .select_from(Battle)
        .join(ma, Battle.model_a_id == ma.id)
        .join(mb, Battle.model_b_id == mb.id)
        .where(Battle.mode == BattleMode.ANONY)
        .group_by(ma.name, mb.name)
    )
    if since is not None:
        query = query.where(Battle.created_at >= since)
    if until is not None:
        query = query.where(Battle.created_at < until)
    counts: dict[tuple[str, str], int] = {}
    for a, b, n in session.execute(query):
        key = (a, b) if a <= b else (b, a)
        counts[key] = counts.get(key, 0) + n
    return counts


def models_out(session: Session) -> list[SharedOut]:
    """The models some app process of this database left out after failures."""
    rows = session.scalars(select(ModelHealth))
    return [SharedOut(r.model, r.failures, r.backoff, r.until) for r in rows]


def share_health(session: Session, change: SharedOut) -> None:
    """Tell the other app processes that a model went out (or came back: back-off 0)."""
    if not change.backoff:
        session.execute(delete(ModelHealth).where(ModelHealth.model == change.model))
        return
    values = {
        "model": change.model,
        "failures": change.failures,
        "backoff": change.backoff,
        "until": change.until,
        "updated_at": utcnow(),
    }
    stmt = dialect_insert(session.get_bind().dialect.name)(ModelHealth).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ModelHealth.model],
        set_={k: stmt.excluded[k] for k in values if k != "model"},
    )
    session.execute(stmt)


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
