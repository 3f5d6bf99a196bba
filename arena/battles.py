"""The battle lifecycle: draw a pair, stream both sides, store every turn, vote, reveal.

No Gradio here: the UI and the HTTP API both drive battles through :class:`Arena`.
Model names never leave this module before a vote except in named and direct modes;
what a blind turn yields is text, timings and errors keyed by side.

Votes come in bursts (a crowd reading the same kind of answers), so they are stored in
batches: a vote arriving while no batch is in flight starts one at once (a vote alone
waits for nothing), and the votes arriving meanwhile form the next, up to VOTE_BATCH.
A batch is one worker-thread trip and one transaction of set-based statements; each of
its votes is decided exactly as if it had come alone, in arrival order (see
:meth:`Arena._vote_batch`), and a batch the database refuses is stored again vote by
vote, so one bad vote never fails the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import secrets
import time
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    exists,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from arena import categories
from arena.backends import (
    AnswerFailed,
    Backend,
    ChatMessage,
    ProviderError,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    Timeouts,
    generate,
)
from arena.config import Settings
from arena.dataset import with_conv_metadata
from arena.db import repo
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Side,
    Vote,
    Voter,
    Winner,
)
from arena.errors import ArenaError, BackendError, BattleRejected, StorageError, VoteRejected
from arena.events import tagging, valid_slug
from arena.integrity import voters
from arena.integrity.identity import IdentityDetector
from arena.integrity.limits import Limits
from arena.metrics import Metrics
from arena.sampling import Board, Health, PairCounter, SharedOut, choose_active, choose_pair
from arena.separation import load_board, refresh_board

logger = logging.getLogger(__name__)

T = TypeVar("T")
ENABLED_TTL = 2.0  # seconds an admin's enable/disable may take to reach new battles
VOTER_CACHE_TTL = 60.0  # seconds a looked-up voter token is trusted without the database
VOTE_BATCH = 200  # the most votes stored in one transaction
#: Seconds between reads of what the app processes sharing the database learned (models
#: left out after failures, battles per pair); the newest SHARED_LAG seconds of battles
#: are counted from this process's own draws (their rows may still be on their way).
SHARED_TTL = 5.0
SHARED_LAG = 5.0
SIDES = (Side.A, Side.B)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: NUL (PostgreSQL refuses it in text) and lone surrogates (no encoding can carry them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: A side's error as the client sees it before the vote: a code and this message only.
SIDE_ERROR_MESSAGE = "the model could not answer"
#: Turns finishing after their listener left: held here so the tasks are not collected.
_FINISHING: set[asyncio.Task] = set()


class _Feed:
    """A side's text on its way to the page: the first piece at once, then at most one
    piece per interval (a model streams a chunk per token; 400 streams at 50 tokens/s
    would otherwise wake the turn's loop 20,000 times a second)."""

    def __init__(self, queue: asyncio.Queue, side: Side, interval: float) -> None:
        self.queue, self.side, self.interval = queue, side, interval
        self.loop = asyncio.get_running_loop()
        self.pending: list[str] = []
        self.timer: asyncio.TimerHandle | None = None
        self.started = False

    def add(self, text: str) -> None:
        self.pending.append(text)
        if not self.started:
            self.flush()
        elif self.timer is None:
            self.timer = self.loop.call_later(self.interval, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending:
            self.queue.put_nowait((self.side, "".join(self.pending)))
            self.pending.clear()
            self.started = True


def _utc(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _forget(task: asyncio.Task) -> None:
    _FINISHING.discard(task)
    if not task.cancelled():
        task.exception()  # logged where it happened; retrieved so asyncio does not warn


@dataclass(frozen=True)
class VoterRef:
    """Who is acting: the server-issued token the browser holds, and the client address."""

    token: str
    ip: str | None = None


def error_code(error: str | None) -> str | None:
    """The code of a stored side error (``"timeout: after 60 s ..."`` -> ``"timeout"``)."""
    return None if error is None else error.split(":", 1)[0].strip() or "error"


@dataclass
class SideState:
    """One side of the current turn as the volunteer sees it."""

    text: str = ""
    done: bool = False
    error: str | None = None  # a code only (``timeout``, ``http_500``): never upstream details


@dataclass
class TurnState:
    """A snapshot of the battle during a turn; yielded many times while streaming."""

    battle_id: str
    turn: int
    sides: dict[Side, SideState] = field(default_factory=lambda: {s: SideState() for s in SIDES})
    names: dict[Side, str] | None = None  # only in named and direct modes

    @property
    def finished(self) -> bool:
        return all(s.done for s in self.sides.values())

    @property
    def votable(self) -> bool:
        return self.finished and not any(s.error for s in self.sides.values())


@dataclass(frozen=True)
class Reveal:
    """What the volunteer learns after voting."""

    winner: Winner
    names: dict[Side, str]
    weights: dict[Side, str]
    descriptions: dict[Side, str]
    counted: bool  # False when the battle will not count (a model named itself, named mode)
    #: Each side's reasoning, turn by turn: only with show_reasoning_after_vote.
    reasoning: dict[Side, str] = field(default_factory=dict)


@dataclass(eq=False)
class _Ballot:
    """A vote waiting for its batch; ``outcome`` is set by the batch, ``done`` by the loop."""

    token: object
    address: str | None
    battle_id: object
    winner: Winner
    voter_id: int | None  # from the cache, else looked up by the batch
    done: asyncio.Future[Reveal]
    looked_up: bool = False
    outcome: Reveal | Exception | None = None


@dataclass(frozen=True)
class Transcript:
    """A battle's stored turns: prompt, both answers and each side's error code."""

    battle_id: str
    status: BattleStatus
    turns: list[dict[str, object]]


@dataclass
class _Plan:
    """What one turn needs: where it is stored, who answers, and what they saw before."""

    battle_id: str
    turn: int
    prompt: str
    sides: tuple[Side, ...]
    names: dict[Side, str]
    mode: BattleMode
    history: list[Message]
    stored: asyncio.Future | None = None  # the new battle's row, being written


def _plan(battle: Battle, turn: int, prompt: str, sides: tuple[Side, ...]) -> _Plan:
    names = {Side.A: battle.model_a.name}
    if battle.model_b is not None:
        names[Side.B] = battle.model_b.name
    sides = tuple(side for side in sides if side in names)
    return _Plan(battle.id, turn, prompt, sides, names, battle.mode, list(battle.messages))


def _visible(text: str) -> bool:
    """True when ``text`` shows something: not only spaces and invisible format characters
    (zero-width spaces and joiners, BOM, soft hyphens, bidi marks)."""
    return any(not c.isspace() and unicodedata.category(c) not in ("Cf", "Zs") for c in text)


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (shown, stored, exported)."""
    return _UNSTORABLE.sub("\ufffd", text)


def clean_prompt(text: object, limit: int) -> str:
    """Validate a prompt; raise :class:`BattleRejected` with the reason when unusable."""
    if not isinstance(text, str):
        raise BattleRejected("the prompt must be text", code="prompt_invalid")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BattleRejected(
            "the prompt contains invalid characters", code="prompt_invalid"
        ) from exc
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()
    if not _visible(text):
        raise BattleRejected("the prompt is empty", code="prompt_empty")
    if len(text) > limit:
        raise BattleRejected(
            f"the prompt is too long ({len(text)} > {limit} characters)",
            code="prompt_too_long",
            length=len(text),
            limit=limit,
        )
    return text


#: How a battle's first prompt came (``battles.prompt_source``): the API validates with it.
SOURCE_PATTERN = r"typed|example:[a-z_]{1,30}"
_SOURCE = re.compile(SOURCE_PATTERN)


class Arena:
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
        self._ballots: list[_Ballot] = []  # votes waiting for the next batch
        self._counting: asyncio.Task | None = None  # storing batches while votes wait
        self._enabled_at = -ENABLED_TTL
        self._enabled_cache: set[str] = set()
        self._shared_at = time.monotonic()
        self._sharing: asyncio.Task | None = None
        with self.sessions.begin() as s:
            self.model_ids = repo.sync_models(s, settings.models)
            self.model_names = {i: name for name, i in self.model_ids.items()}
            upto = time.time()
            self.pairs = PairCounter(repo.anony_pair_counts(s, until=_utc(upto)), upto=upto)
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

    def draw_pair(self, enabled: set[str]) -> tuple[str, str]:
        """Two models for a blind battle (enabled, healthy, weighted, rare pairs first)."""
        weights = {
            n: s.sample_weight for n, s in self.specs.items() if n in enabled and n in self.backends
        }
        pairs = self.pairs.snapshot()
        if self.settings.sampling == "active":
            board = self.board
            return self.health.draw(
                lambda out: choose_active(weights, pairs, self.rng, out, board=board)
            )
        return self.health.draw(lambda out: choose_pair(weights, pairs, self.rng, out))

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
                voter_id, mode, language, models, text, source if _SOURCE.fullmatch(source or "")
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

        def claim(s: Session) -> _Plan:
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
            return _plan(battle, battle.turns, prompt or "", sides)

        async for state in self._run_turn(await self._db(claim)):
            yield state

    def _share(self, change: SharedOut | None) -> None:
        """Tell the other app processes of the database that a model went out or came back."""
        if change is None:
            return
        task = asyncio.ensure_future(self._db(lambda s: repo.share_health(s, change)))
        _FINISHING.add(task)
        task.add_done_callback(_forget)

    def _refresh_shared(self) -> None:
        """Every few seconds, in the background: what the other processes learned."""
        now = time.monotonic()
        if now - self._shared_at < SHARED_TTL or (self._sharing and not self._sharing.done()):
            return
        self._shared_at = now

        def read(s: Session) -> None:
            upto = time.time() - SHARED_LAG
            window = repo.anony_pair_counts(s, since=_utc(self.pairs.upto), until=_utc(upto))
            self.pairs.advance(window, upto)
            self.health.merge(repo.models_out(s))
            if self.settings.sampling == "active":
                self.board = refresh_board(s, self.board)

        self._sharing = task = asyncio.ensure_future(self._db(read))
        _FINISHING.add(task)
        task.add_done_callback(_forget)

    async def _enabled(self) -> set[str]:
        """Models an admin has not disabled; read at most every few seconds."""
        self._refresh_shared()
        now = time.monotonic()
        if now - self._enabled_at > ENABLED_TTL:
            self._enabled_cache = await self._db(repo.enabled_models)
            self._enabled_at = now
        return self._enabled_cache

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
    ) -> _Plan:
        enabled = await self._enabled()
        if mode is BattleMode.ANONY:
            pick = self.draw_pair(enabled)
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

        if mode is BattleMode.ANONY:
            self.pairs.add(*pick)
        self.metrics.battles.labels(mode=mode.value).inc()
        names = dict(zip(SIDES, pick, strict=False))
        # The row is written while the models already start answering (it is awaited
        # before the first update), so the database never adds to time to first token.
        stored = asyncio.ensure_future(self._db(insert))
        return _Plan(battle_id, 1, prompt, tuple(names), names, mode, [], stored)

    def _claim(
        self, s: Session, battle_id: str, voter_id: int, allowed: set[BattleStatus]
    ) -> Battle:
        battle = s.get(Battle, battle_id) if isinstance(battle_id, str) else None
        if battle is None or battle.voter_id != voter_id:
            raise BattleRejected("unknown battle", code="unknown_battle")
        if battle.mode is BattleMode.ANONY and _superseded(s, battle):
            raise BattleRejected(
                "a newer battle was started; this one is closed", code="battle_closed"
            )
        if not repo.claim_battle(s, battle_id, voter_id, allowed):
            raise BattleRejected(
                "this battle is busy or finished; start a new round", code="battle_busy"
            )
        s.refresh(battle)
        return battle

    def _next_turn(self, s: Session, battle_id: str, voter_id: int, prompt: str) -> _Plan:
        battle = self._claim(s, battle_id, voter_id, {BattleStatus.READY})
        if battle.turns >= self.settings.max_turns:
            raise BattleRejected(
                f"turn limit reached ({self.settings.max_turns}); please vote",
                code="turn_limit",
                limit=self.settings.max_turns,
            )
        battle.turns += 1
        return _plan(battle, battle.turns, prompt, SIDES)

    async def _run_turn(self, plan: _Plan) -> AsyncIterator[TurnState]:
        battle_id, turn, prompt, names = plan.battle_id, plan.turn, plan.prompt, plan.names
        history, sides = plan.history, plan.sides
        state = TurnState(battle_id, turn)
        if plan.mode is not BattleMode.ANONY:
            state.names = names
        for side in SIDES:
            if side not in sides:
                state.sides[side] = _previous(history, side, turn)
        queue: asyncio.Queue[tuple[Side, object]] = asyncio.Queue()
        tasks = [
            asyncio.create_task(
                self._stream_side(
                    names[side], _conversation(history, side, turn, prompt), side, queue
                )
            )
            for side in sides
        ]
        results: dict[Side, Message] = {}
        if plan.stored is not None:
            try:
                await plan.stored
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise
        try:
            yield state
            loop = asyncio.get_running_loop()
            last = loop.time()
            while len(results) < len(tasks):
                side, item = await queue.get()
                urgent = self._apply(state, side, item, results)
                # Coalesce pieces into at most one update per interval; a side's first
                # text and its end are shown at once (they set the felt latency).
                deadline = last + self.settings.stream_interval
                while not urgent and len(results) < len(tasks):
                    try:
                        async with asyncio.timeout_at(deadline):
                            side, item = await queue.get()
                    except TimeoutError:
                        break
                    urgent = self._apply(state, side, item, results)
                while not queue.empty():
                    side, item = queue.get_nowait()
                    self._apply(state, side, item, results)
                last = loop.time()
                yield state
        finally:
            # A listener that goes away mid-stream (a closed page, a dropped API client)
            # does not end the turn: the answers are paid for and the volunteer may come
            # back, so the turn runs on (bounded by total_timeout) and is stored as usual.
            finish = asyncio.ensure_future(self._finish_turn(plan, state, tasks, queue, results))
            _FINISHING.add(finish)
            finish.add_done_callback(_forget)
            if len(results) == len(tasks):  # the listener stayed: it learns if storing failed
                await asyncio.shield(finish)

    async def _finish_turn(
        self,
        plan: _Plan,
        state: TurnState,
        tasks: list[asyncio.Task],
        queue: asyncio.Queue,
        results: dict[Side, Message],
    ) -> None:
        """Wait for the sides still answering, then store the turn (or end it failed)."""
        battle_id, turn, prompt, names = plan.battle_id, plan.turn, plan.prompt, plan.names
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:  # cancelled only when the process shuts down: the sweep closes the battle
            for task in tasks:
                task.cancel()
        while not queue.empty():
            side, item = queue.get_nowait()
            self._apply(state, side, item, results)
        for side in plan.sides:
            if side not in results:
                results[side] = Message(content=state.sides[side].text, error="cancelled")
        try:
            await self._db(lambda s: self._store_turn(s, battle_id, turn, prompt, results, names))
        except StorageError as exc:
            # Never leave the battle streaming: end it failed, keeping what arrived.
            logger.error("battle %s: storing turn %d failed: %s", battle_id, turn,
                         exc.__cause__ or exc)  # fmt: skip
            await self._fail_turn(battle_id, turn, prompt, results)
            raise

    def _apply(
        self, state: TurnState, side: Side, item: object, results: dict[Side, Message]
    ) -> bool:
        """Fold one piece into the snapshot; True when it should be shown at once."""
        pane = state.sides[side]
        if isinstance(item, str):
            first = not pane.text
            pane.text += item
            return first
        assert isinstance(item, Message)
        results[side] = item
        pane.done = True
        pane.error = error_code(item.error)
        return True

    async def _stream_side(
        self, model: str, conversation: list[ChatMessage], side: Side, queue: asyncio.Queue
    ) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        ttft: float | None = None
        parts: list[str] = []
        thoughts: list[str] = []  # stored apart; never queued for the page
        row = Message()
        room = thinking_room = self.settings.max_output_chars
        feed = _Feed(queue, side, self.settings.stream_interval)
        self.metrics.streams_in_flight.inc()
        try:
            events = generate(self.backends[model], conversation, self.timeouts)
            async with contextlib.aclosing(events):
                async for event in events:
                    if isinstance(event, TextDelta):
                        if ttft is None:
                            ttft = loop.time() - start
                        text = storable(event.text)[: max(room, 0)]
                        room -= len(text)
                        parts.append(text)
                        feed.add(text)
                        if room <= 0:  # an answer that never ends: cut, as a token limit would
                            row.finish_reason, row.finish_raw = "length", "max_output_chars"
                            break
                    elif isinstance(event, ReasoningDelta):
                        thought = storable(event.text)[: max(thinking_room, 0)]
                        thinking_room -= len(thought)
                        thoughts.append(thought)
                    elif isinstance(event, StreamEnd):
                        _record_end(row, event)
            self._share(self.health.record(model, True))
            self.metrics.answered(model, ttft, loop.time() - start, row.completion_tokens)
        except BackendError as exc:
            # The details (status, upstream body, host) stay on the server: the log (one
            # line per failed call, in generate) and the message row. The client only
            # ever sees the kind (see SideState). A saturated model is busy, not broken.
            # A blank, blocked or refused answer fails the side but not the model's health.
            row.error = f"{exc.kind}: {exc}"
            if isinstance(exc, ProviderError):
                row.upstream_code, row.upstream_message = exc.code_upstream, exc.detail
            answered = isinstance(exc, AnswerFailed) and exc.kind != "aborted"
            if isinstance(exc, AnswerFailed):
                _record_end(row, exc.end)
            self.metrics.model_errors.labels(model=model, kind=exc.kind).inc()
            if exc.kind != "saturated":
                self._share(self.health.record(model, answered))
        finally:
            feed.flush()
            self.metrics.streams_in_flight.dec()
        row.content = "".join(parts)
        row.reasoning = "".join(thoughts) or None
        row.latency_ms = round((loop.time() - start) * 1000)
        row.ttft_ms = None if ttft is None else round(ttft * 1000)
        queue.put_nowait((side, row))

    async def _fail_turn(
        self, battle_id: str, turn: int, prompt: str, results: dict[Side, Message]
    ) -> None:
        """Second try after a failed store: the turn's text as plain rows, the battle failed."""

        def fail(s: Session) -> None:
            for side, row in results.items():
                s.add(Message(battle_id=battle_id, side=side, turn=turn, role="user",
                              content=storable(prompt)))  # fmt: skip
                s.add(Message(battle_id=battle_id, side=side, turn=turn, role="assistant",
                              content=storable(row.content or ""), error="storage: not stored "
                              "as streamed"))  # fmt: skip
            s.execute(
                update(Battle).where(Battle.id == battle_id).values(status=BattleStatus.FAILED)
            )

        try:
            await self._db(fail)
        except StorageError:
            logger.error("battle %s: could not mark it failed either", battle_id)

    def _store_turn(
        self,
        s: Session,
        battle_id: str,
        turn: int,
        prompt: str,
        results: dict[Side, Message],
        names: dict[Side, str],
    ) -> None:
        battle = s.get(Battle, battle_id)
        assert battle is not None
        prompts = [m.content for m in battle.messages if m.role == "user"] + [prompt]
        for side, row in results.items():
            if not any(
                m.side == side and m.turn == turn and m.role == "user" for m in battle.messages
            ):
                battle.messages.append(Message(side=side, turn=turn, role="user", content=prompt))
            row.side, row.turn, row.role = side, turn, "assistant"
            battle.messages.append(row)
        answers = [m for m in battle.messages if m.role == "assistant" and m.turn == turn]
        failed = len(answers) < len(names) or any(m.error for m in answers)
        if battle.status is BattleStatus.ABANDONED:
            pass  # the voter started another blind battle meanwhile: it stays closed
        elif failed:
            battle.status = BattleStatus.FAILED
        else:
            battle.status = BattleStatus.READY
            battle.ready_at = datetime.now(UTC)
        if battle.identity_match is None:
            for m in answers:
                match = self.identity.find(m.content or "", prompts)
                if match is not None:
                    battle.flag_identity = True
                    battle.identity_match = match
                    break
        battle.meta = with_conv_metadata(battle.meta, battle.messages)  # kept for exports
        categories.tag_battle(s, battle)  # prompt language and categories, as turns come

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
        ballot = _Ballot(voter.token, self.ip_hash(voter.ip), battle_id, verdict,
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

    def _deliver(self, ballot: _Ballot) -> None:
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

    def _vote_batch(self, ballots: list[_Ballot]) -> None:
        """Decide and store ``ballots`` (in a worker thread): each gets its ``outcome``.

        One transaction: the voters not in the cache (one SELECT), their limits (one upsert,
        :meth:`Limits.hit_many`), the claims (one UPDATE ... RETURNING), why each unclaimed
        vote was refused (:func:`_refused_vote`, the slow path), the signals (two SELECTs),
        the votes (one multi-row INSERT), one commit. If a statement or the commit fails,
        nothing of it was stored: each admitted vote is then stored alone, in a transaction
        of its own (its limits already counted, as they would have been), so a vote the
        database refuses fails alone and no vote is acknowledged before its commit.
        """
        admitted: list[_Ballot] = []
        try:
            with self.sessions.begin() as s:
                admitted = self._admit_ballots(s, ballots)
                outcomes = self._store_ballots(s, admitted)
        except SQLAlchemyError as exc:
            if not admitted:  # the voters could not be read: nothing counted, nothing stored
                for ballot in ballots:
                    if ballot.outcome is None:
                        ballot.outcome = _not_stored(exc)
                return
            for ballot in admitted:
                ballot.outcome = self._vote_alone(ballot)
            return
        for ballot, outcome in zip(admitted, outcomes, strict=True):
            ballot.outcome = outcome

    def _admit_ballots(self, s: Session, ballots: list[_Ballot]) -> list[_Ballot]:
        """The ballots of issued voters within their limits; the others get their refusal."""
        wanted = {str(b.token) for b in ballots
                  if b.voter_id is None and voters.looks_like_token(b.token)}  # fmt: skip
        found: dict[str, int] = {}
        if wanted:
            rows = s.connection().execute(_VOTER_IDS, {"tokens": sorted(wanted)})
            found = {token: voter_id for token, voter_id in rows}
        issued: list[_Ballot] = []
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

    def _store_ballots(self, s: Session, ballots: list[_Ballot]) -> list[Reveal | VoteRejected]:
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
        claimed = ({row.id: row for row in conn.execute(_CLAIM_MANY, {"claims": sorted(pairs)})}
                   if pairs else {})  # fmt: skip
        winners: dict[str, _Ballot] = {}
        for b in ballots:
            row = claimed.get(b.battle_id) if isinstance(b.battle_id, str) else None
            if row is not None and row.voter_id == b.voter_id and row.id not in winners:
                winners[row.id] = b
        now = datetime.now(UTC)
        won = [(claimed[battle_id], b) for battle_id, b in winners.items()]
        signals = self._signals_many(conn, won, now)
        if won:
            conn.execute(_INSERT_VOTE, [
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
                out.append(_refused_vote(s, b.voter_id, b.battle_id))
        return out

    def _vote_alone(self, b: _Ballot) -> Reveal | ArenaError:
        """One admitted ballot in a transaction of its own (after its batch failed)."""
        assert b.voter_id is not None
        try:
            with self.sessions.begin() as s:
                return self._vote(s, b.voter_id, b.address, b.battle_id, b.winner)
        except VoteRejected as exc:
            return exc
        except SQLAlchemyError as exc:
            return _not_stored(exc)

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
        row = conn.execute(_CLAIM, {"claim_id": battle_id, "claim_voter": voter_id}).one_or_none()
        if row is None:
            raise _refused_vote(s, voter_id, battle_id)
        now = datetime.now(UTC)
        signals = self._signals(conn, battle_id, row.turns, row.ready_at, voter_id, address, now)
        conn.execute(
            _INSERT_VOTE,
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
            _SIGNALS,
            {"battle_id": battle_id, "turn": turn, "voter_id": voter_id, "midnight": midnight},
        ).one()
        return self._quality(ready_at, now, chars_a or 0, chars_b or 0, (day or 0) + 1, address)

    def _signals_many(
        self, conn: Connection, won: list[tuple[Row, _Ballot]], now: datetime
    ) -> dict[str, dict[str, object]]:
        """:meth:`_signals` of a batch's claimed battles, by battle id, in two SELECTs; a
        voter's votes in the batch count in its day, in order."""
        if not won:
            return {}
        turns = {row.id: row.turns for row, _b in won}
        last: dict[tuple[str, Side], tuple[int, int]] = {}  # -> (message id, its length)
        for battle_id, side, turn, message_id, chars in conn.execute(
            _ANSWER_LENGTHS, {"battle_ids": list(turns)}
        ):
            if turn == turns[battle_id] and message_id > last.get((battle_id, side), (-1, 0))[0]:
                last[(battle_id, side)] = (message_id, chars)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        voter_ids = sorted({b.voter_id for _row, b in won})
        day = Counter(dict(conn.execute(
            _DAY_VOTES, {"voter_ids": voter_ids, "midnight": midnight}).all()))  # fmt: skip
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


_CLAIM = _claim_statement(
    (Battle.id == bindparam("claim_id")) & (Battle.voter_id == bindparam("claim_voter"))
)
#: A batch's claims: ``claims`` lists (battle id, voter id) pairs.
_CLAIM_MANY = _claim_statement(
    tuple_(Battle.id, Battle.voter_id).in_(bindparam("claims", expanding=True))
)
_SIGNALS = _signals_statement()
_VOTER_IDS = select(Voter.token, Voter.id).where(
    Voter.token.in_(bindparam("tokens", expanding=True))
)
#: Every answer's length in battles ``battle_ids`` (a batch keeps each side's last one of
#: the voted turn, as _SIGNALS does).
_ANSWER_LENGTHS = select(
    Message.battle_id, Message.side, Message.turn, Message.id,
    func.coalesce(func.length(Message.content), 0),
).where(
    Message.battle_id.in_(bindparam("battle_ids", expanding=True)), Message.role == "assistant"
)  # fmt: skip
#: Votes since ``midnight`` of each voter of ``voter_ids``.
_DAY_VOTES = (
    select(Vote.voter_id, func.count())
    .where(Vote.voter_id.in_(bindparam("voter_ids", expanding=True)),
           Vote.created_at >= bindparam("midnight"))
    .group_by(Vote.voter_id)
)  # fmt: skip
_INSERT_VOTE = insert(Vote.__table__)


def _not_stored(exc: SQLAlchemyError) -> ArenaError:
    """What a vote whose transaction failed is told: another vote won the battle (a clash
    on the unique battle of a vote), or the database failed."""
    error: ArenaError
    if isinstance(exc, IntegrityError):
        error = VoteRejected("this battle already has a vote", code="vote_repeat")
    else:
        error = StorageError("the database is unavailable; nothing was recorded", code="storage")
    error.__cause__ = exc
    return error


def _refused_vote(s: Session, voter_id: int, battle_id: str) -> VoteRejected:
    """Why a vote found no battle to claim (the slow path of :meth:`Arena._vote`)."""
    battle = s.get(Battle, battle_id)
    if battle is None or battle.voter_id != voter_id:
        return VoteRejected("unknown battle", code="unknown_battle")
    if battle.mode is BattleMode.DIRECT:
        return VoteRejected("a direct chat has no vote", code="vote_invalid")
    if battle.vote is not None or battle.status is BattleStatus.VOTED:
        return VoteRejected("this battle already has a vote", code="vote_repeat")
    if battle.status is BattleStatus.ABANDONED or (
        battle.mode is BattleMode.ANONY and _superseded(s, battle)
    ):
        return VoteRejected("a newer battle was started; this one is closed", code="battle_closed")
    return VoteRejected(
        "both answers must finish without error before voting", code="vote_not_ready"
    )


def _reasoning(battle: Battle) -> dict[Side, str]:
    """The sides' stored reasoning, turns in order (for the reveal, after the vote only)."""
    out: dict[Side, str] = {}
    for side in SIDES:
        texts = [m.reasoning for m in battle.messages
                 if m.side == side and m.role == "assistant" and m.reasoning]  # fmt: skip
        if texts:
            out[side] = "\n\n".join(texts)
    return out


def _record_end(row: Message, end: StreamEnd) -> None:
    """The end of an answer on its row: finish reason (normalised and raw) and usage."""
    row.finish_reason = end.finish_reason
    row.finish_raw = None if end.raw_finish_reason is None else end.raw_finish_reason[:64]
    row.prompt_tokens = end.prompt_tokens
    row.completion_tokens = end.completion_tokens


def _conversation(history: list[Message], side: Side, turn: int, prompt: str) -> list[ChatMessage]:
    """The side's earlier turns (answers that failed are left out) and the new prompt."""
    past = [m for m in history if m.side == side and m.turn < turn]
    out: list[ChatMessage] = []
    for t in sorted({m.turn for m in past}):
        q = next((m for m in past if m.turn == t and m.role == "user"), None)
        a = next((m for m in past if m.turn == t and m.role == "assistant"), None)
        if q is not None and a is not None and a.content:
            out += [ChatMessage("user", q.content), ChatMessage("assistant", a.content)]
    return [*out, ChatMessage("user", prompt)]


def _previous(history: list[Message], side: Side, turn: int) -> SideState:
    answer = next(
        (m for m in history if m.side == side and m.turn == turn and m.role == "assistant"), None
    )
    if answer is None:
        return SideState(done=True)
    return SideState(text=answer.content, done=True, error=error_code(answer.error))


def _superseded(session: Session, battle: Battle) -> bool:
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
