"""What volunteers tell besides the verdict: reasons per side, a comment, reactions.

After the vote click and before the reveal, the blind tab asks (optionally) why: tags
per side from :data:`GOOD` and :data:`BAD` (the usual ones and Japanese-specific ones)
and a free comment, stored with the vote. After the reveal, each answer may get a
thumbs up or down (one per battle, turn and side; a second click changes or takes it
back). Only the voter who voted on a battle may do either, and only once it is voted:
nothing here can be done to someone else's battle or before the names are known.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.battles import SIDES, Arena, VoterRef
from arena.db.engine import dialect_insert
from arena.db.models import Battle, BattleStatus, Reaction, Side, Vote, VoteReason, utcnow
from arena.errors import BattleRejected

#: Tags for what an answer did well, then what it did badly (codes; words in arena.ui.i18n).
GOOD = ("useful", "complete", "creative", "clear_format", "natural_japanese", "register_fits")
BAD = (
    "incorrect",
    "superficial",
    "ignores_instructions",
    "unnatural_japanese",
    "register_off",
    "mixed_languages",
    "wrong_japan_facts",
    "format_limits",
)
TAGS = GOOD + BAD
MAX_COMMENT = 1000


def clean_comment(text: object) -> str | None:
    """A comment as stored: NFC, control characters out, at most MAX_COMMENT characters."""
    if not isinstance(text, str):
        return None
    text = unicodedata.normalize("NFC", text.encode("utf-8", "replace").decode("utf-8"))
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc").strip()
    return text[:MAX_COMMENT] or None


def clean_tags(tags: Iterable[object]) -> list[str]:
    """The known tags among ``tags``, each once, in the order of :data:`TAGS`."""
    given = {t for t in tags if isinstance(t, str)}
    return [t for t in TAGS if t in given]


def _voted(battle: Battle) -> Battle:
    """The battle if its vote is in, else "vote first": feedback comes after the vote."""
    if battle.status is not BattleStatus.VOTED or battle.vote is None:
        raise BattleRejected("vote first", code="vote_not_ready")
    return battle


async def give_reasons(
    arena: Arena,
    voter: VoterRef,
    battle_id: str,
    reasons: Mapping[Side, Iterable[object]],
    comment: object = None,
) -> int:
    """Store the reasons and comment of a vote, once; returns how many tags were stored."""
    tags = {side: clean_tags(reasons.get(side, ())) for side in SIDES}
    text = clean_comment(comment)

    def store(s: Session, battle: Battle) -> int:
        _voted(battle)
        given = s.scalar(select(func.count()).where(VoteReason.battle_id == battle.id))
        if given or battle.vote.comment is not None:
            raise BattleRejected("the reasons were already given", code="reasons_repeat")
        repeat = BattleRejected("the reasons were already given", code="reasons_repeat")
        try:  # two sends at once: the unique key or the comment's guard stops the second
            with s.begin_nested():
                s.add_all(VoteReason(battle_id=battle.id, side=side, tag=t) for side in SIDES
                          for t in tags[side])  # fmt: skip
                s.flush()
        except IntegrityError as exc:
            raise repeat from exc
        if text is not None:
            done = s.execute(
                update(Vote).where(Vote.id == battle.vote.id, Vote.comment.is_(None))
                .values(comment=text)
            ).rowcount  # fmt: skip
            if done != 1:
                raise repeat
        return sum(len(v) for v in tags.values())

    return await arena.with_own_battle(voter, battle_id, store)


async def react(arena: Arena, voter: VoterRef, battle_id: str, turn: int, side: Side,
                value: int) -> None:  # fmt: skip
    """Set (+1, -1) or take back (0) the voter's reaction to one answer of a voted battle."""
    if value not in (-1, 0, 1) or not isinstance(turn, int) or side not in SIDES:
        raise BattleRejected("not a reaction", code="vote_invalid")

    def store(s: Session, battle: Battle) -> None:
        _voted(battle)
        if not 1 <= turn <= battle.turns:
            raise BattleRejected("no such answer", code="vote_invalid")
        if not value:
            where = (Reaction.battle_id == battle.id, Reaction.turn == turn, Reaction.side == side)
            s.execute(delete(Reaction).where(*where))
            return
        # One statement, so two presses at once cannot both insert (the unique key).
        row = {"battle_id": battle.id, "turn": turn, "side": side, "value": value,
               "created_at": utcnow()}  # fmt: skip
        stmt = dialect_insert(s.get_bind().dialect.name)(Reaction).values(row)
        s.execute(stmt.on_conflict_do_update(
            index_elements=[Reaction.battle_id, Reaction.turn, Reaction.side],
            set_={"value": stmt.excluded.value, "created_at": stmt.excluded.created_at},
        ))  # fmt: skip

    await arena.with_own_battle(voter, battle_id, store)
