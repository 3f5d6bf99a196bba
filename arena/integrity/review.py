"""What an admin reviews: voters flagged by a recomputation, and identity-flagged battles.

A recomputation writes a :class:`~arena.db.models.VoterFlag` per voter it found
(steering, outlier) with the evidence; an admin then clears the flag (the voter's
votes count again, and later runs leave that finding alone) or confirms it (the votes
stay out even if a later run no longer finds it). An identity flag on a battle keeps
the phrase that matched; an admin who reads it as a mention can clear it. Every
decision is written to the audit log by the caller in the same transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.db import repo
from arena.db.models import Battle, FlagStatus, Vote, Voter, VoterFlag
from arena.errors import ArenaError

DECISIONS = {"clear": FlagStatus.CLEARED, "confirm": FlagStatus.CONFIRMED}


class ReviewError(ArenaError):
    """An admin's review action could not be carried out (unknown flag, bad decision)."""


def list_flags(
    session: Session, judge: Any, status: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Flagged voters, newest first, with the evidence; ``judge`` pseudonymises tokens."""
    votes = select(Vote.voter_id, func.count().label("votes")).group_by(Vote.voter_id).subquery()
    q = (
        select(VoterFlag, Voter.token, votes.c.votes)
        .join(Voter, VoterFlag.voter_id == Voter.id)
        .outerjoin(votes, votes.c.voter_id == VoterFlag.voter_id)
        .order_by(VoterFlag.created_at.desc(), VoterFlag.id.desc())
        .limit(max(1, min(limit, 1000)))
    )
    if status:
        try:
            q = q.where(VoterFlag.status == FlagStatus(status))
        except ValueError as exc:
            raise ReviewError(
                "status must be flagged, cleared or confirmed", code="invalid"
            ) from exc
    out = []
    for flag, token, n in session.execute(q):
        try:
            evidence = json.loads(flag.evidence) if flag.evidence else {}
        except ValueError:
            evidence = {"text": flag.evidence}
        out.append(
            {
                "id": flag.id,
                "voter": judge(token),
                "reason": flag.reason,
                "status": flag.status.value,
                "p_value": flag.p_value,
                "evidence": evidence,
                "votes": n or 0,
                "run_id": flag.run_id,
                "created_at": flag.created_at.isoformat() if flag.created_at else None,
                "decided_by": flag.decided_by,
                "decided_at": flag.decided_at.isoformat() if flag.decided_at else None,
            }
        )
    return out


def decide_flag(session: Session, actor: str, flag_id: int, decision: str) -> dict[str, Any]:
    """Clear or confirm flag ``flag_id`` (audited)."""
    status = DECISIONS.get(decision)
    if status is None:
        raise ReviewError("the decision must be clear or confirm", code="invalid")
    flag = session.get(VoterFlag, int(flag_id))
    if flag is None:
        raise ReviewError(f"no flag {flag_id}", code="not_found")
    flag.status = status
    flag.decided_by = actor[:200]
    flag.decided_at = datetime.now(UTC)
    repo.audit(
        session, actor, f"{decision}_flag", str(flag.id), f"{flag.reason} voter #{flag.voter_id}"
    )
    return {"id": flag.id, "reason": flag.reason, "status": status.value}


def clear_identity(session: Session, actor: str, battle_id: str) -> dict[str, Any]:
    """Count a battle whose identity flag was a mention, not a self-identification."""
    battle = session.get(Battle, str(battle_id))
    if battle is None:
        raise ReviewError(f"no battle {battle_id!r}", code="not_found")
    if not battle.flag_identity:
        raise ReviewError(f"battle {battle_id} has no identity flag", code="invalid")
    battle.flag_identity = False
    repo.audit(session, actor, "clear_identity_flag", battle.id, battle.identity_match or "")
    return {"battle": battle.id, "flag_identity": False, "identity_match": battle.identity_match}
