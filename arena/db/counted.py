"""Which votes count: the one definition of the rules that leave a vote out.

Ratings (:mod:`arena.recompute`), the leaderboard's pair tables (:mod:`arena.db.stats`),
the reasons summary, the export's default filter and the gallery all ask the same
question of a ``Vote JOIN Battle`` row, so they ask it here. A vote is left out for the
first of these reasons that holds, in this order (a run reports the count per reason):

1. ``voided``: an admin voided it;
2. ``failed``: its battle failed;
3. ``named``: its battle was not blind (unless named battles are included), or had one side;
4. ``flagged``: its battle was flagged (a model said who it is, or moderation).

The rigging defences (:mod:`arena.integrity.screen`) then screen the votes that pass.
Time windows are half-open everywhere: ``since <= created_at < until``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, not_, or_

from arena.db.models import Battle, BattleMode, BattleStatus, Vote

#: The reasons, in the order they are tested (codes 1..4 in :func:`reason_code`).
EXCLUSIONS = ("voided", "failed", "named", "flagged")


def modes(include_named: bool) -> list[BattleMode]:
    """The battle modes whose votes count."""
    return [BattleMode.ANONY, BattleMode.NAMED] if include_named else [BattleMode.ANONY]


def _rules(include_named: bool) -> list[ColumnElement[bool]]:
    """Each reason's own condition, in the order of :data:`EXCLUSIONS`."""
    return [
        Vote.voided.is_(True),
        Battle.status == BattleStatus.FAILED,
        or_(Battle.mode.not_in(modes(include_named)), Battle.model_b_id.is_(None)),
        or_(Battle.flag_identity.is_(True), Battle.flag_moderation.is_(True)),
    ]


def counted(include_named: bool = False) -> ColumnElement[bool]:
    """True for a vote that no reason leaves out."""
    return and_(*(not_(rule) for rule in _rules(include_named)))


def excluded_for(include_named: bool = False) -> dict[str, ColumnElement[bool]]:
    """``{"used": counted, reason: left out for this reason first, ...}``.

    The conditions are disjoint and cover every vote, so ``count(*) FILTER (...)`` on each
    adds up to the number of votes.
    """
    rules = _rules(include_named)
    out: dict[str, ColumnElement[bool]] = {"used": counted(include_named)}
    for k, name in enumerate(EXCLUSIONS):
        out[name] = and_(*(not_(r) for r in rules[:k]), rules[k])
    return out


def reason_code(include_named: bool = False) -> ColumnElement[int]:
    """The code (1-4, the position in :data:`EXCLUSIONS`) of the reason that leaves a
    vote out first, or 0 for a vote that counts."""
    rules = _rules(include_named)
    return case(*((rule, k) for k, rule in enumerate(rules, 1)), else_=0)


def in_window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Conditions keeping votes cast in ``[since, until)`` (either end may be open)."""
    out: list[ColumnElement[bool]] = []
    if since is not None:
        out.append(Vote.created_at >= since)
    if until is not None:
        out.append(Vote.created_at < until)
    return out
