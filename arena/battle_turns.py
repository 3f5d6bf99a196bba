"""One turn of a battle: both sides streamed at once, coalesced for the page, then stored.

:class:`Turns` is the part of :class:`arena.battles.Arena` that runs a turn once the
battle is claimed (a :class:`TurnPlan`): each side through its backend's ``generate``, the
pieces folded into the :class:`TurnState` the caller sees, the answers, errors, timings
and usage stored in ``messages`` with the identity check, ``conv_metadata`` and the
categories. A turn whose listener leaves runs on to its end and is stored as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session

from arena import categories
from arena.backends import (
    AnswerFailed,
    ChatMessage,
    ProviderError,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    generate,
)
from arena.battle_state import SIDES, SideState, TurnState, error_code, storable
from arena.dataset import with_conv_metadata
from arena.db.models import Battle, BattleMode, BattleStatus, Message, Side
from arena.errors import BackendError, StorageError

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Turns finishing after their listener left (and other background tasks): held here so
#: the tasks are not collected before they end (see :func:`in_background`).
FINISHING: set[asyncio.Task] = set()


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


def in_background(work: Awaitable[T]) -> asyncio.Future[T]:
    """``work`` scheduled on the running loop and held until it ends; its exception, if
    any, is retrieved (it was logged where it happened) so asyncio does not warn."""
    task = asyncio.ensure_future(work)
    FINISHING.add(task)
    task.add_done_callback(_forget)
    return task


def _forget(task: asyncio.Future) -> None:
    FINISHING.discard(task)
    if not task.cancelled():
        task.exception()


@dataclass
class TurnPlan:
    """What one turn needs: where it is stored, who answers, and what they saw before."""

    battle_id: str
    turn: int
    prompt: str
    sides: tuple[Side, ...]
    names: dict[Side, str]
    mode: BattleMode
    history: list[Message]
    stored: asyncio.Future | None = None  # the new battle's row, being written


def plan_turn(battle: Battle, turn: int, prompt: str, sides: tuple[Side, ...]) -> TurnPlan:
    names = {Side.A: battle.model_a.name}
    if battle.model_b is not None:
        names[Side.B] = battle.model_b.name
    sides = tuple(side for side in sides if side in names)
    return TurnPlan(battle.id, turn, prompt, sides, names, battle.mode, list(battle.messages))


class Turns:
    """Running and storing a turn; mixed into :class:`arena.battles.Arena`, whose
    settings, backends, health, metrics, identity detector and ``_db`` it uses."""

    async def _run_turn(self, plan: TurnPlan) -> AsyncIterator[TurnState]:
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
            finish = in_background(self._finish_turn(plan, state, tasks, queue, results))
            if len(results) == len(tasks):  # the listener stayed: it learns if storing failed
                await asyncio.shield(finish)

    async def _finish_turn(
        self,
        plan: TurnPlan,
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
