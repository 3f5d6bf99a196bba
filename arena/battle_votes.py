"""Votes stored in batches: one worker-thread trip and one transaction per burst.

Votes come in bursts (a crowd reading the same kind of answers), so they are stored in
batches: a vote arriving while no batch is in flight starts one at once (a vote alone
waits for nothing), and the votes arriving meanwhile form the next, up to VOTE_BATCH.
A batch is one worker-thread trip and one transaction of set-based statements; each of
its votes is decided exactly as if it had come alone, in arrival order (see
:meth:`Voting._vote_batch`), and a batch the database refuses is stored again vote by
vote, so one bad vote never fails the others. :class:`Voting` is that part of
:class:`arena.battles.Arena`; the statements are in :mod:`arena.battle_vote_sql`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from arena.battle_state import SIDES, Reveal, VoterRef
from arena.battle_vote_sql import (
    ANSWER_LENGTHS,
    CLAIM,
    CLAIM_MANY,
    DAY_VOTES,
    INSERT_VOTE,
    SIGNALS,
    VOTER_IDS,
    refused_vote,
    vote_not_stored,
)
from arena.db.models import Battle, BattleMode, Model, Side, Winner
from arena.errors import ArenaError, StorageError, VoteRejected
from arena.integrity import voters

logger = logging.getLogger(__name__)

VOTE_BATCH = 200  # the most votes stored in one transaction


@dataclass(eq=False)
class Ballot:
    """A vote waiting for its batch; ``outcome`` is set by the batch, ``done`` by the loop."""

    token: object
    address: str | None
    battle_id: object
    winner: Winner
    voter_id: int | None  # from the cache, else looked up by the batch
    done: asyncio.Future[Reveal]
    looked_up: bool = False
    outcome: Reveal | Exception | None = None


class Voting:
    """Votes, batched; mixed into :class:`arena.battles.Arena`, whose settings, sessions,
    limits, metrics, models and voter cache it uses."""

    async def vote(self, voter: VoterRef, battle_id: str, winner: Winner | str) -> Reveal:
        """Record the verdict once, then reveal both names. Raises :class:`VoteRejected`.

        The vote joins the next batch (see the module docstring): the voter, its limits,
        then the battle, checked in the order :meth:`_admit` checks them.
        """
        try:
            verdict = Winner(winner)
        except ValueError as exc:
            raise VoteRejected(
                "unknown verdict: expected model_a, model_b, tie or tie (bothbad)",
                code="vote_invalid",
            ) from exc
        loop = asyncio.get_running_loop()
        ballot = Ballot(voter.token, self.ip_hash(voter.ip), battle_id, verdict,
                         self._known_voter(voter.token), loop.create_future())  # fmt: skip
        self._ballots.append(ballot)
        if self._counting is None:
            self._counting = asyncio.create_task(self._count_votes())
        return await ballot.done

    async def _count_votes(self) -> None:
        """Store the waiting votes a batch at a time until none wait, then stop."""
        try:
            while self._ballots:
                batch = self._ballots[:VOTE_BATCH]
                del self._ballots[:VOTE_BATCH]
                try:
                    await asyncio.to_thread(self._vote_batch, batch)
                except asyncio.CancelledError:  # the loop is closing: no one is answered
                    for ballot in batch + self._ballots:
                        ballot.done.cancel()
                    self._ballots.clear()
                    raise
                except Exception as exc:  # a bug: the votes it left undecided hear of it
                    logger.exception("a batch of %d votes failed", len(batch))
                    for ballot in batch:
                        ballot.outcome = ballot.outcome or exc
                for ballot in batch:
                    self._deliver(ballot)
        finally:
            self._counting = None

    def _deliver(self, ballot: Ballot) -> None:
        if isinstance(ballot.outcome, Reveal):
            if ballot.looked_up and isinstance(ballot.token, str) and ballot.voter_id is not None:
                self._remember(ballot.token, ballot.voter_id)
            self.metrics.votes.inc()
        if ballot.done.done():  # the voter went away
            return
        if isinstance(ballot.outcome, Reveal):
            ballot.done.set_result(ballot.outcome)
        else:
            assert ballot.outcome is not None, "every vote of a batch gets an outcome"
            ballot.done.set_exception(ballot.outcome)

    def _vote_batch(self, ballots: list[Ballot]) -> None:
        """Decide and store ``ballots`` (in a worker thread): each gets its ``outcome``.

        One transaction: the voters not in the cache (one SELECT), their limits (one upsert,
        :meth:`Limits.hit_many`), the claims (one UPDATE ... RETURNING), why each unclaimed
        vote was refused (:func:`refused_vote`, the slow path), the signals (two SELECTs),
        the votes (one multi-row INSERT), one commit. If a statement or the commit fails,
        nothing of it was stored: each admitted vote is then stored alone, in a transaction
        of its own (its limits already counted, as they would have been), so a vote the
        database refuses fails alone and no vote is acknowledged before its commit.
        """
        admitted: list[Ballot] = []
        try:
            with self.sessions.begin() as s:
                admitted = self._admit_ballots(s, ballots)
                outcomes = self._store_ballots(s, admitted)
        except SQLAlchemyError as exc:
            if not admitted:  # the voters could not be read: nothing counted, nothing stored
                for ballot in ballots:
                    if ballot.outcome is None:
                        ballot.outcome = vote_not_stored(exc)
                return
            for ballot in admitted:
                ballot.outcome = self._vote_alone(ballot)
            return
        for ballot, outcome in zip(admitted, outcomes, strict=True):
            ballot.outcome = outcome

    def _admit_ballots(self, s: Session, ballots: list[Ballot]) -> list[Ballot]:
        """The ballots of issued voters within their limits; the others get their refusal."""
        wanted = {str(b.token) for b in ballots
                  if b.voter_id is None and voters.looks_like_token(b.token)}  # fmt: skip
        found: dict[str, int] = {}
        if wanted:
            rows = s.connection().execute(VOTER_IDS, {"tokens": sorted(wanted)})
            found = {token: voter_id for token, voter_id in rows}
        issued: list[Ballot] = []
        for b in ballots:
            if b.voter_id is None and isinstance(b.token, str) and b.token in found:
                b.voter_id, b.looked_up = found[b.token], True
            if b.voter_id is None:
                b.outcome = voters.UnknownVoter()
            else:
                issued.append(b)
        try:
            refusals = self.limits.hit_many("vote", [(str(b.token), b.address) for b in issued])
        except StorageError as exc:
            for b in issued:  # an error of its own for each voter
                b.outcome = error = StorageError(str(exc), code=exc.code)
                error.__cause__ = exc.__cause__
            return []
        for b, refused in zip(issued, refusals, strict=True):
            b.outcome = refused
        return [b for b in issued if b.outcome is None]

    def _store_ballots(self, s: Session, ballots: list[Ballot]) -> list[Reveal | VoteRejected]:
        """Claim, check and store admitted ballots; each one's reveal or refusal, in order.

        Of several ballots on one battle the first claims it; the others then find it voted.
        A ballot alone takes the fewer statements of :meth:`_vote`.
        """
        if len(ballots) == 1:
            b = ballots[0]
            assert b.voter_id is not None
            try:
                return [self._vote(s, b.voter_id, b.address, b.battle_id, b.winner)]
            except VoteRejected as refused:  # raised before anything was written
                return [refused]
        conn = s.connection()
        pairs = {(b.battle_id, b.voter_id) for b in ballots if isinstance(b.battle_id, str)}
        claimed = ({row.id: row for row in conn.execute(CLAIM_MANY, {"claims": sorted(pairs)})}
                   if pairs else {})  # fmt: skip
        winners: dict[str, Ballot] = {}
        for b in ballots:
            row = claimed.get(b.battle_id) if isinstance(b.battle_id, str) else None
            if row is not None and row.voter_id == b.voter_id and row.id not in winners:
                winners[row.id] = b
        now = datetime.now(UTC)
        won = [(claimed[battle_id], b) for battle_id, b in winners.items()]
        signals = self._signals_many(conn, won, now)
        if won:
            conn.execute(INSERT_VOTE, [
                {"battle_id": row.id, "voter_id": b.voter_id, "winner": b.winner,
                 "created_at": now, "voided": False, **signals[row.id]}
                for row, b in won
            ])  # fmt: skip
        out: list[Reveal | VoteRejected] = []
        for b in ballots:
            assert b.voter_id is not None
            if not isinstance(b.battle_id, str):
                out.append(VoteRejected("unknown battle", code="unknown_battle"))
            elif winners.get(b.battle_id) is b:
                out.append(self._reveal(s, claimed[b.battle_id], b.winner))
            else:
                out.append(refused_vote(s, b.voter_id, b.battle_id))
        return out

    def _vote_alone(self, b: Ballot) -> Reveal | ArenaError:
        """One admitted ballot in a transaction of its own (after its batch failed)."""
        assert b.voter_id is not None
        try:
            with self.sessions.begin() as s:
                return self._vote(s, b.voter_id, b.address, b.battle_id, b.winner)
        except VoteRejected as exc:
            return exc
        except SQLAlchemyError as exc:
            return vote_not_stored(exc)

    def _vote(
        self, s: Session, voter_id: int, address: str | None, battle_id: object, winner: Winner
    ) -> Reveal:
        """Store one vote in a few statements (a batch that failed is stored this way).

        One conditional UPDATE claims the battle (this voter's, ready, not replaced by a
        newer blind battle), so of two votes on one battle exactly one finds it ready;
        only a refused vote pays for finding out why.
        """
        if not isinstance(battle_id, str):
            raise VoteRejected("unknown battle", code="unknown_battle")
        conn = s.connection()
        row = conn.execute(CLAIM, {"claim_id": battle_id, "claim_voter": voter_id}).one_or_none()
        if row is None:
            raise refused_vote(s, voter_id, battle_id)
        now = datetime.now(UTC)
        signals = self._signals(conn, battle_id, row.turns, row.ready_at, voter_id, address, now)
        conn.execute(
            INSERT_VOTE,
            {"battle_id": battle_id, "voter_id": voter_id, "winner": winner, "created_at": now,
             "voided": False, **signals},
        )  # fmt: skip
        return self._reveal(s, row, winner)

    def _reveal(self, s: Session, row: Row, winner: Winner) -> Reveal:
        """What the voter learns, from the claimed battle's row."""
        models = self._models(s, {Side.A: row.model_a_id, Side.B: row.model_b_id})
        return Reveal(
            winner=winner,
            names={k: m[0] for k, m in models.items()},
            weights={k: m[1] for k, m in models.items()},
            descriptions={k: m[2] for k, m in models.items()},
            counted=row.mode is BattleMode.ANONY and not row.flag_identity,
            reasoning=_reasoning(s.get(Battle, row.id))
            if self.settings.show_reasoning_after_vote
            else {},
        )

    def _models(self, s: Session, ids: dict[Side, int]) -> dict[Side, tuple[str, str, str]]:
        """Name, weights and description of each side's model (configured ones from memory)."""
        out: dict[Side, tuple[str, str, str]] = {}
        for side, model_id in ids.items():
            spec = self.specs.get(self.model_names.get(model_id, ""))
            if spec is None:  # a model no longer configured: read its row
                m = s.get(Model, model_id)
                out[side] = (m.name, m.weights, m.description) if m else ("?", "", "")
            else:
                out[side] = (spec.name, spec.weights, spec.description)
        return out

    def _signals(
        self, conn: Connection, battle_id: str, turn: int, ready_at: datetime | None,
        voter_id: int, address: str | None, now: datetime,
    ) -> dict[str, object]:  # fmt: skip
        """The vote's quality signals: read time, what there was to read, the day's count."""
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        chars_a, chars_b, day = conn.execute(
            SIGNALS,
            {"battle_id": battle_id, "turn": turn, "voter_id": voter_id, "midnight": midnight},
        ).one()
        return self._quality(ready_at, now, chars_a or 0, chars_b or 0, (day or 0) + 1, address)

    def _signals_many(
        self, conn: Connection, won: list[tuple[Row, Ballot]], now: datetime
    ) -> dict[str, dict[str, object]]:
        """:meth:`_signals` of a batch's claimed battles, by battle id, in two SELECTs; a
        voter's votes in the batch count in its day, in order."""
        if not won:
            return {}
        turns = {row.id: row.turns for row, _b in won}
        last: dict[tuple[str, Side], tuple[int, int]] = {}  # -> (message id, its length)
        for battle_id, side, turn, message_id, chars in conn.execute(
            ANSWER_LENGTHS, {"battle_ids": list(turns)}
        ):
            if turn == turns[battle_id] and message_id > last.get((battle_id, side), (-1, 0))[0]:
                last[(battle_id, side)] = (message_id, chars)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        voter_ids = sorted({b.voter_id for _row, b in won})
        day = Counter(dict(conn.execute(
            DAY_VOTES, {"voter_ids": voter_ids, "midnight": midnight}).all()))  # fmt: skip
        out: dict[str, dict[str, object]] = {}
        for row, b in won:
            assert b.voter_id is not None
            day[b.voter_id] += 1
            chars_a, chars_b = (last.get((row.id, side), (0, 0))[1] for side in SIDES)
            out[row.id] = self._quality(row.ready_at, now, chars_a, chars_b, day[b.voter_id],
                                        b.address)  # fmt: skip
        return out

    def _quality(
        self, ready_at: datetime | None, now: datetime, chars_a: int, chars_b: int,
        day_votes: int, address: str | None,
    ) -> dict[str, object]:  # fmt: skip
        seconds = (now - ready_at).total_seconds() if ready_at else None
        s_ = self.settings
        return {
            "seconds_to_vote": seconds,
            "ip_hash": address,
            "chars_a": chars_a,
            "chars_b": chars_b,
            "voter_day_votes": day_votes,
            "flag_fast": seconds is not None
            and max(chars_a, chars_b) > s_.min_read_chars
            and seconds < s_.min_read_seconds,
        }


def _reasoning(battle: Battle) -> dict[Side, str]:
    """The sides' stored reasoning, turns in order (for the reveal, after the vote only)."""
    out: dict[Side, str] = {}
    for side in SIDES:
        texts = [m.reasoning for m in battle.messages
                 if m.side == side and m.role == "assistant" and m.reasoning]  # fmt: skip
        if texts:
            out[side] = "\n\n".join(texts)
    return out
