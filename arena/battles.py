"""The battle lifecycle: draw a pair, stream both sides, store every turn, vote, reveal.

No Gradio here: the UI and the HTTP API both drive battles through :class:`Arena`.
Model names never leave this module before a vote except in named and direct modes;
what a blind turn yields is text, timings and errors keyed by side.

:class:`Arena` is assembled from one part per concern: this module starts battles and
turns (the voter admitted, the battle claimed) and reads them back; drawing pairs and
the state shared between processes is :mod:`arena.battle_draw`, running and storing a
turn :mod:`arena.battle_turns`, votes (stored in batches) :mod:`arena.battle_votes`
with their SQL in :mod:`arena.battle_vote_sql`; the values callers send and get back
are in :mod:`arena.battle_state` and still named here.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from arena import categories
from arena.backends import Backend, Timeouts
from arena.battle_draw import ENABLED_TTL, SHARED_LAG, SHARED_TTL, Drawing, utc_from_unix
from arena.battle_state import (
    SIDE_ERROR_MESSAGE,
    SIDES,
    SOURCE_PATTERN,
    SOURCE_TAG,
    Reveal,
    SideState,
    Transcript,
    TurnState,
    VoterRef,
    clean_prompt,
    error_code,
    storable,
)
from arena.battle_turns import TurnPlan, Turns, plan_turn
from arena.battle_vote_sql import superseded
from arena.battle_votes import VOTE_BATCH, Ballot, Voting
from arena.config import Settings
from arena.db import repo
from arena.db.models import Battle, BattleMode, BattleStatus, Message, Side
from arena.errors import BattleRejected, StorageError, VoteRejected
from arena.events import tagging, valid_slug
from arena.integrity import voters
from arena.integrity.identity import IdentityDetector
from arena.integrity.limits import Limits
from arena.metrics import Metrics
from arena.sampling import Board, Health, PairCounter
from arena.separation import load_board

__all__ = [
    "ENABLED_TTL",
    "SHARED_LAG",
    "SHARED_TTL",
    "SIDES",
    "SIDE_ERROR_MESSAGE",
    "SOURCE_PATTERN",
    "VOTER_CACHE_TTL",
    "VOTE_BATCH",
    "Arena",
    "Reveal",
    "SideState",
    "Transcript",
    "TurnState",
    "VoterRef",
    "clean_prompt",
    "error_code",
    "storable",
]

T = TypeVar("T")
VOTER_CACHE_TTL = 60.0  # seconds a looked-up voter token is trusted without the database


class Arena(Drawing, Turns, Voting):
    """Runs battles for the UI and the API. One instance per process."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        backends: dict[str, Backend],
        rng: random.Random | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.backends = backends
        self.specs = {m.name: m for m in settings.models}
        self.rng = rng or random.SystemRandom()
        self.timeouts = Timeouts(
            connect=settings.connect_timeout,
            first_token=settings.first_token_timeout,
            total=settings.total_timeout,
            retries=settings.retries,
            reasoning=settings.reasoning_timeout,
        )
        self.health = Health()
        self.metrics = Metrics()
        self.identity = IdentityDetector(settings.models)
        self.limits = limits or Limits(settings, sessions.kw.get("bind"))
        self.gates = voters.Gates.from_settings(settings, self.limits)  # spent PoW shared
        self._known: dict[str, tuple[int, float]] = {}  # token -> (voter id, when looked up)
        self._ballots: list[Ballot] = []  # votes waiting for the next batch
        self._counting: asyncio.Task | None = None  # storing batches while votes wait
        self._enabled_at = -ENABLED_TTL
        self._enabled_cache: set[str] = set()
        self._shared_at = time.monotonic()
        self._sharing: asyncio.Future[None] | None = None
        with self.sessions.begin() as s:
            self.model_ids = repo.sync_models(s, settings.models)
            self.model_names = {i: name for name, i in self.model_ids.items()}
            upto = time.time()
            self.pairs = PairCounter(
                repo.anony_pair_counts(s, until=utc_from_unix(upto)), upto=upto
            )
            self.health.merge(repo.models_out(s))
            # The latest rating run, for active sampling (reloaded when a new run appears).
            self.board: Board | None = load_board(s) if settings.sampling == "active" else None
        categories.detector()  # lingua's models load now, before serving (they hold the GIL)

    # -- storage helpers ------------------------------------------------------------

    async def _db(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction on a worker thread; storage failures -> StorageError."""

        def run() -> T:
            try:
                with self.sessions.begin() as session:
                    return fn(session)
            except (VoteRejected, BattleRejected):
                raise
            except SQLAlchemyError as exc:
                raise StorageError(
                    "the database is unavailable; nothing was recorded", code="storage"
                ) from exc

        return await asyncio.to_thread(run)

    def ip_hash(self, ip: str | None) -> str | None:
        """The salted hash under which a client address is stored and limited."""
        return repo.hash_ip(ip, self.settings.ip_salt or self.settings.secret)

    async def _admit(self, voter: VoterRef, action: str) -> int:
        """The voter's id if it was issued here and is within its limits for ``action``.

        Checked before any model is called, so a forged token or a flood costs no
        upstream request. Known tokens are remembered for a minute.
        """
        voter_id = self._known_voter(voter.token)
        if voter_id is None:
            voter_id = await self._db(lambda s: voters.voter_id(s, voter.token))
            self._remember(voter.token, voter_id)
        await self.limits.ahit(action, voter=voter.token, address=self.ip_hash(voter.ip))
        return voter_id

    def _known_voter(self, token: object) -> int | None:
        """The id of a token looked up less than VOTER_CACHE_TTL seconds ago, else None."""
        known = self._known.get(token) if isinstance(token, str) else None
        if known is None or time.monotonic() - known[1] > VOTER_CACHE_TTL:
            return None
        return known[0]

    def _remember(self, token: str, voter_id: int) -> None:
        if len(self._known) > 100_000:
            self._known.clear()
        self._known[token] = (voter_id, time.monotonic())

    async def issue_voter(
        self, ip: str | None, *, pow_payload: object = None, access_code: object = None
    ) -> str:
        """A new voter token for a client (gates and the per-address limit first)."""
        self.gates.check(pow_payload, access_code)
        address = self.ip_hash(ip)
        await self.limits.ahit("voter", address=address)
        return await self._db(lambda s: voters.issue(s, address))

    # -- battles ------------------------------------------------------------------

    async def send(
        self,
        voter: VoterRef,
        prompt: str,
        battle_id: str | None = None,
        *,
        mode: BattleMode = BattleMode.ANONY,
        language: str = "ja",
        models: tuple[str, ...] | None = None,
        source: str | None = None,
        event: str | None = None,
    ) -> AsyncIterator[TurnState]:
        """Start a battle (``battle_id`` None) or add a turn to it, streaming both sides.

        ``source`` says how a new battle's first prompt came: ``typed`` or
        ``example:<category>`` (anything else is stored as unknown, None). A new blind
        battle is tagged with the event of slug ``event`` while it runs (arena.events).
        """
        text = clean_prompt(prompt, self.settings.max_prompt_chars)
        voter_id = await self._admit(voter, "battle" if battle_id is None else "turn")
        if battle_id is None:
            await self.limits.ahit("turn", voter=voter.token, address=self.ip_hash(voter.ip))
            plan = await self._new_battle(
                voter_id, mode, language, models, text, source if SOURCE_TAG.fullmatch(source or "")
                else None, event=event,
            )  # fmt: skip
        else:
            plan = await self._db(lambda s: self._next_turn(s, battle_id, voter_id, text))
        async for state in self._run_turn(plan):
            yield state

    async def regenerate(
        self, voter: VoterRef, battle_id: str, sides: tuple[Side, ...] = SIDES
    ) -> AsyncIterator[TurnState]:
        """Answer the last turn again on ``sides`` (a retry after an error, or a re-roll)."""
        voter_id = await self._admit(voter, "turn")

        def claim(s: Session) -> TurnPlan:
            allowed = {BattleStatus.READY, BattleStatus.FAILED}
            battle = self._claim(s, battle_id, voter_id, allowed)
            prompt = s.scalar(
                select(Message.content).where(
                    Message.battle_id == battle_id,
                    Message.turn == battle.turns,
                    Message.role == "user",
                )
            )
            for m in repo.last_turn_messages(s, battle_id, battle.turns):
                if m.side in sides:
                    s.delete(m)
            s.flush()
            s.expire(battle, ["messages"])
            return plan_turn(battle, battle.turns, prompt or "", sides)

        async for state in self._run_turn(await self._db(claim)):
            yield state

    async def _new_battle(
        self,
        voter_id: int,
        mode: BattleMode,
        language: str,
        models: tuple[str, ...] | None,
        prompt: str,
        source: str | None = None,
        *,
        event: str | None = None,
    ) -> TurnPlan:
        enabled = await self._enabled()
        if mode is BattleMode.ANONY:
            pick = await self.draw_and_count(enabled)
        else:
            pick = tuple(models or ())
            wanted = 1 if mode is BattleMode.DIRECT else 2
            if len(pick) != wanted or len(set(pick)) != wanted:
                raise BattleRejected(
                    f"choose {wanted} different model(s)", code="choose_models", n=wanted
                )
            missing = [m for m in pick if m not in enabled or m not in self.backends]
            if missing:
                raise BattleRejected(
                    f"model not available: {', '.join(missing)}", code="model_unavailable"
                )
        battle_id = secrets.token_hex(16)

        tag = valid_slug(event) and mode is BattleMode.ANONY

        def insert(s: Session) -> None:
            if mode is BattleMode.ANONY:  # one open blind battle per voter: close the others
                s.execute(
                    update(Battle)
                    .where(
                        Battle.voter_id == voter_id,
                        Battle.mode == BattleMode.ANONY,
                        Battle.status.in_((BattleStatus.READY, BattleStatus.STREAMING)),
                    )
                    .values(status=BattleStatus.ABANDONED)
                )
            s.add(
                Battle(
                    id=battle_id,
                    voter_id=voter_id,
                    model_a_id=self.model_ids[pick[0]],
                    model_b_id=self.model_ids[pick[1]] if len(pick) > 1 else None,
                    mode=mode,
                    status=BattleStatus.STREAMING,
                    language=language if language in ("ja", "en") else "ja",
                    turns=1,
                    prompt_source=source,
                    # the event's id while it runs, else NULL: decided by the insert itself
                    event_id=tagging(event) if tag else None,
                )
            )

        self.metrics.battles.labels(mode=mode.value).inc()
        names = dict(zip(SIDES, pick, strict=False))
        # The row is written while the models already start answering (it is awaited
        # before the first update), so the database never adds to time to first token.
        stored = asyncio.ensure_future(self._db(insert))
        return TurnPlan(battle_id, 1, prompt, tuple(names), names, mode, [], stored)

    def _claim(
        self, s: Session, battle_id: str, voter_id: int, allowed: set[BattleStatus]
    ) -> Battle:
        battle = s.get(Battle, battle_id) if isinstance(battle_id, str) else None
        if battle is None or battle.voter_id != voter_id:
            raise BattleRejected("unknown battle", code="unknown_battle")
        if battle.mode is BattleMode.ANONY and superseded(s, battle):
            raise BattleRejected(
                "a newer battle was started; this one is closed", code="battle_closed"
            )
        if not repo.claim_battle(s, battle_id, voter_id, allowed):
            raise BattleRejected(
                "this battle is busy or finished; start a new round", code="battle_busy"
            )
        s.refresh(battle)
        return battle

    def _next_turn(self, s: Session, battle_id: str, voter_id: int, prompt: str) -> TurnPlan:
        battle = self._claim(s, battle_id, voter_id, {BattleStatus.READY})
        if battle.turns >= self.settings.max_turns:
            raise BattleRejected(
                f"turn limit reached ({self.settings.max_turns}); please vote",
                code="turn_limit",
                limit=self.settings.max_turns,
            )
        battle.turns += 1
        return plan_turn(battle, battle.turns, prompt, SIDES)

    async def with_own_battle(
        self, voter: VoterRef, battle_id: object, fn: Callable[[Session, Battle], T]
    ) -> T:
        """``fn(session, battle)`` in one transaction, on a battle this voter started.

        Any other id (another voter's, none, malformed) is "unknown battle": the caller
        cannot tell whether it exists.
        """
        if not isinstance(battle_id, str) or not 0 < len(battle_id) <= 64:
            raise BattleRejected("unknown battle", code="unknown_battle")
        known = self._known_voter(voter.token)

        def run(s: Session) -> T:
            voter_id = known if known is not None else voters.voter_id(s, voter.token)
            battle = s.get(Battle, battle_id)
            if battle is None or battle.voter_id != voter_id:
                raise BattleRejected("unknown battle", code="unknown_battle")
            return fn(s, battle)

        return await self._db(run)

    async def transcript(self, voter: VoterRef, battle_id: object) -> Transcript:
        """A blind battle's stored turns as its own voter's page shows them (no names).

        The page streams a turn through the battle API and then asks for this, so the
        panes are drawn from what was stored. Another voter's battle is "unknown".
        """

        def read(s: Session, battle: Battle) -> Transcript:
            if battle.mode is not BattleMode.ANONY:
                raise BattleRejected("unknown battle", code="unknown_battle")
            turns: list[dict[str, object]] = [
                {"prompt": "", "a": "", "b": "", "err_a": None, "err_b": None}
                for _ in range(battle.turns)
            ]
            rows = s.execute(
                select(Message.turn, Message.side, Message.role, Message.content, Message.error)
                .where(Message.battle_id == battle_id)
                .order_by(Message.turn, Message.id)
            )
            for turn, side, role, content, error in rows:
                if not 0 < turn <= len(turns):
                    continue
                entry = turns[turn - 1]
                if role == "user":
                    entry["prompt"] = entry["prompt"] or content or ""
                else:
                    entry[side.value] = content or ""
                    entry[f"err_{side.value}"] = error_code(error)
            return Transcript(battle.id, battle.status, [t for t in turns if t["prompt"]])

        return await self.with_own_battle(voter, battle_id, read)

    # -- votes --------------------------------------------------------------------
