"""The SQL a vote runs, built once (votes come in bursts), and why a vote was refused.

A vote claims its battle with one conditional UPDATE (this voter's, ready, not closed by
a newer blind battle of the same voter), reads its quality signals in one SELECT (two for
a batch) and is inserted; only a refused vote pays for finding out why
(:func:`refused_vote`). Used by :mod:`arena.battle_votes`; :func:`superseded` is the
same "closed by a newer battle" rule in Python, also checked before a turn.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, bindparam, exists, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from arena.db.models import Battle, BattleMode, BattleStatus, Message, Side, Vote, Voter
from arena.errors import ArenaError, StorageError, VoteRejected


def _claim_statement(which: ColumnElement[bool]):
    """The battles ``which`` selects from ready to voted, those no newer blind battle of their
    voter replaced; returns what the votes need (built once: votes come in bursts)."""
    newer = Battle.__table__.alias("newer")
    return (
        update(Battle.__table__)
        .where(
            which,
            Battle.status == BattleStatus.READY,
            Battle.mode != BattleMode.DIRECT,
            Battle.turns >= 1,
            (Battle.mode != BattleMode.ANONY)
            | ~exists().where(
                newer.c.voter_id == Battle.voter_id,
                newer.c.mode == BattleMode.ANONY,
                newer.c.created_at > Battle.created_at,
            ),
        )
        .values(status=BattleStatus.VOTED)
        .returning(
            Battle.id,
            Battle.voter_id,
            Battle.model_a_id,
            Battle.model_b_id,
            Battle.ready_at,
            Battle.turns,
            Battle.mode,
            Battle.flag_identity,
        )
    )


def _signals_statement():
    """Each side's last answer length in the voted turn, and the voter's votes today."""

    def chars(side: Side):
        return (
            select(func.coalesce(func.length(Message.content), 0))
            .where(
                Message.battle_id == bindparam("battle_id"),
                Message.side == side,
                Message.role == "assistant",
                Message.turn == bindparam("turn"),
            )
            .order_by(Message.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    earlier = (
        select(func.count())
        .select_from(Vote)
        .where(Vote.voter_id == bindparam("voter_id"), Vote.created_at >= bindparam("midnight"))
        .scalar_subquery()
    )
    return select(chars(Side.A), chars(Side.B), earlier)


CLAIM = _claim_statement(
    (Battle.id == bindparam("claim_id")) & (Battle.voter_id == bindparam("claim_voter"))
)
#: A batch's claims: ``claims`` lists (battle id, voter id) pairs.
CLAIM_MANY = _claim_statement(
    tuple_(Battle.id, Battle.voter_id).in_(bindparam("claims", expanding=True))
)
SIGNALS = _signals_statement()
VOTER_IDS = select(Voter.token, Voter.id).where(
    Voter.token.in_(bindparam("tokens", expanding=True))
)
#: Every answer's length in battles ``battle_ids`` (a batch keeps each side's last one of
#: the voted turn, as SIGNALS does).
ANSWER_LENGTHS = select(
    Message.battle_id, Message.side, Message.turn, Message.id,
    func.coalesce(func.length(Message.content), 0),
).where(
    Message.battle_id.in_(bindparam("battle_ids", expanding=True)), Message.role == "assistant"
)  # fmt: skip
#: Votes since ``midnight`` of each voter of ``voter_ids``.
DAY_VOTES = (
    select(Vote.voter_id, func.count())
    .where(Vote.voter_id.in_(bindparam("voter_ids", expanding=True)),
           Vote.created_at >= bindparam("midnight"))
    .group_by(Vote.voter_id)
)  # fmt: skip
INSERT_VOTE = insert(Vote.__table__)


def vote_not_stored(exc: SQLAlchemyError) -> ArenaError:
    """What a vote whose transaction failed is told: another vote won the battle (a clash
    on the unique battle of a vote), or the database failed."""
    error: ArenaError
    if isinstance(exc, IntegrityError):
        error = VoteRejected("this battle already has a vote", code="vote_repeat")
    else:
        error = StorageError("the database is unavailable; nothing was recorded", code="storage")
    error.__cause__ = exc
    return error


def refused_vote(s: Session, voter_id: int, battle_id: str) -> VoteRejected:
    """Why a vote found no battle to claim (the slow path of :meth:`Arena._vote`)."""
    battle = s.get(Battle, battle_id)
    if battle is None or battle.voter_id != voter_id:
        return VoteRejected("unknown battle", code="unknown_battle")
    if battle.mode is BattleMode.DIRECT:
        return VoteRejected("a direct chat has no vote", code="vote_invalid")
    if battle.vote is not None or battle.status is BattleStatus.VOTED:
        return VoteRejected("this battle already has a vote", code="vote_repeat")
    if battle.status is BattleStatus.ABANDONED or (
        battle.mode is BattleMode.ANONY and superseded(s, battle)
    ):
        return VoteRejected("a newer battle was started; this one is closed", code="battle_closed")
    return VoteRejected(
        "both answers must finish without error before voting", code="vote_not_ready"
    )


def superseded(session: Session, battle: Battle) -> bool:
    """True when the voter started a blind battle after this one (which is then closed)."""
    newer = session.scalar(
        select(Battle.id)
        .where(
            Battle.voter_id == battle.voter_id,
            Battle.mode == BattleMode.ANONY,
            Battle.created_at > battle.created_at,
        )
        .limit(1)
    )
    return newer is not None
