"""Housekeeping that keeps the battles table truthful after the process itself failed.

A turn is stored when it ends, even when its listener left (see ``Arena._run_turn``).
Only a process that dies mid-turn (SIGKILL, a crash, a shutdown that could not wait)
or a database that was down when the turn ended leaves a battle ``streaming`` for good.
The sweep closes such battles: at start-up and every minute, a battle streaming for
longer than any turn may take (``total_timeout`` plus a margin) becomes ``failed``, and
each side missing its answer for the last turn gets an empty assistant row with error
``interrupted`` (what was stored before is kept).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from arena.config import Settings
from arena.db.models import Battle, BattleStatus, Message, Side

logger = logging.getLogger(__name__)

#: Most seconds added to ``total_timeout`` before a streaming battle counts as interrupted
#: (time to store the turn; the margin is ``total_timeout`` itself when that is smaller).
SWEEP_MARGIN = 60.0
#: Seconds between sweeps while the app runs.
SWEEP_EVERY = 60.0
INTERRUPTED = "interrupted"


def stale_after(settings: Settings) -> float:
    """Seconds after which a turn cannot still be streaming."""
    return settings.total_timeout + min(SWEEP_MARGIN, settings.total_timeout)


def stale_streaming(session: Session, cutoff: datetime) -> dict[str, tuple[int, bool]]:
    """Battles streaming with nothing stored since ``cutoff``: id -> (turns, surely stale).

    The battles table records when a battle began and when its last turn ended, not when
    a later turn (or a regeneration) began: only a battle with no message yet (its first
    turn began when it was created) is surely stale; another may still stream a turn that
    began after a long pause. Callers decide (see :class:`Sweeper`).
    """
    last_message = (
        select(func.max(Message.created_at)).where(Message.battle_id == Battle.id)
    ).scalar_subquery()
    rows = session.execute(
        select(Battle.id, Battle.turns, Battle.created_at, Battle.ready_at, last_message).where(
            Battle.status == BattleStatus.STREAMING
        )
    ).all()
    stale = {}
    for battle_id, turns, created, ready, message in rows:
        latest = max(m for m in (created, ready, message) if m is not None)
        if latest < cutoff:
            stale[battle_id] = (turns, message is None)
    return stale


def close_interrupted(session: Session, battle_ids: Iterable[str]) -> list[str]:
    """End these battles as failed if they are still streaming; return those closed.

    Each side missing its answer for the last turn gets an empty assistant row with error
    ``interrupted`` (and a user row when the prompt was not stored either, copied from
    the other side when it was); rows stored before are kept.
    """
    closed = []
    for battle_id in battle_ids:
        # Conditional on the status: a turn stored meanwhile by a live process wins.
        done = session.execute(
            update(Battle)
            .where(Battle.id == battle_id, Battle.status == BattleStatus.STREAMING)
            .values(status=BattleStatus.FAILED)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:
            continue
        battle = session.get(Battle, battle_id)
        assert battle is not None
        sides = (Side.A,) if battle.model_b_id is None else (Side.A, Side.B)
        turn = max(battle.turns, 1)
        rows = [m for m in battle.messages if m.turn == turn]
        prompt = next((m.content for m in rows if m.role == "user"), "")
        for side in sides:
            present = {m.role for m in rows if m.side == side}
            if "user" not in present:
                battle.messages.append(Message(side=side, turn=turn, role="user", content=prompt))
            if "assistant" not in present:
                battle.messages.append(
                    Message(side=side, turn=turn, role="assistant", content="", error=INTERRUPTED)
                )
        closed.append(battle_id)
    session.flush()
    return closed


def sweep(
    engine: Engine, settings: Settings, only: Callable[[str, int, bool], bool] | None = None
) -> list[str]:
    """One sweep in its own transaction; the ids of the battles it closed.

    ``only`` narrows the stale battles further (by id, turn count and whether surely
    stale, see :func:`stale_streaming`); None closes all.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=stale_after(settings))
    with Session(engine) as session, session.begin():
        stale = stale_streaming(session, cutoff)
        chosen = [b for b, (turns, sure) in stale.items() if only is None or only(b, turns, sure)]
        closed = close_interrupted(session, chosen)
    if closed:
        logger.warning("closed %d interrupted battle(s): %s", len(closed), ", ".join(closed))
    return closed


class Sweeper(threading.Thread):
    """Sweeps at start-up, then every ``every`` seconds until :meth:`stop`.

    At start-up every stale battle is closed: no turn of this process is running yet.
    Later, a battle still in its first turn is closed once it is older than a turn may
    take; any other only once this thread has seen it streaming the same turn that long,
    so a turn begun after a long pause (whose start the database does not record) is
    never cut.
    """

    def __init__(self, engine: Engine, settings: Settings, every: float = SWEEP_EVERY) -> None:
        super().__init__(name="arena-sweep", daemon=True)
        self.engine, self.settings, self.every = engine, settings, every
        self._stopped = threading.Event()
        self._seen: dict[tuple[str, int], float] = {}  # (battle, turns) -> first seen streaming

    def sweep_once(self, first: bool = False) -> list[str]:
        now, limit = time.monotonic(), stale_after(self.settings)
        seen: dict[tuple[str, int], float] = {}

        def long_seen(battle_id: str, turns: int, sure: bool) -> bool:
            since = seen[battle_id, turns] = self._seen.get((battle_id, turns), now)
            return first or sure or now - since >= limit

        closed = sweep(self.engine, self.settings, long_seen)
        self._seen = seen  # only battles still streaming are remembered
        return closed

    def run(self) -> None:
        first = True
        while True:
            try:
                self.sweep_once(first)
                first = False
            except SQLAlchemyError as exc:  # the database is down: try again next time
                logger.error("sweep of interrupted battles failed: %s", exc)
            if self._stopped.wait(self.every):
                return

    def stop(self) -> None:
        self._stopped.set()


def start_sweeper(engine: Engine, settings: Settings, every: float = SWEEP_EVERY) -> Sweeper:
    """Start the sweep thread (the first sweep runs at once)."""
    sweeper = Sweeper(engine, settings, every)
    sweeper.start()
    return sweeper
