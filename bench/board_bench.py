"""What the board benchmarks share: a database of voted blind battles, filled one way,
and the timing of a board's first view and of later ones (the cache).

:func:`fill` makes the schema, adds the models and inserts ``votes`` voted blind battles
in batches (a voter, a battle, its messages and a vote each); the bench says what only it
varies through ``draws``: per-model traits drawn once, then per battle its messages, any
other battle columns and the chance that side A wins. :func:`first_and_later` times one
view. Used by ``bench_categories.py`` and ``bench_style_board.py`` (which put the
repository root on ``sys.path``).
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypeVar

from sqlalchemy import insert

from arena.db import make_engine, migrate, session_factory
from arena.db.models import Battle, BattleMode, BattleStatus, Message, Model, Vote, Voter, Winner

#: Battles inserted per transaction.
BATCH = 5000
#: Later views timed (their median is reported).
LATER_VIEWS = 5

T = TypeVar("T")


class Drawn(NamedTuple):
    """One battle as a bench draws it.

    ``messages`` are rows of ``messages`` without ``battle_id`` (side, turn, role,
    content, ...); ``columns`` are battle columns beyond the common ones (``meta``,
    ``prompt_language``, ...); ``p_a`` is the chance that side A wins.
    """

    messages: list[dict[str, object]]
    columns: dict[str, object]
    p_a: float


#: Draws a battle between two model ids.
Draw = Callable[[random.Random, int, int], Drawn]


def fill(
    url: str,
    votes: int,
    models: Sequence[str],
    draws: Callable[[random.Random, list[int]], Draw],
    *,
    seed: int = 0,
) -> None:
    """Fill a new database at ``url`` with ``votes`` voted blind battles.

    ``draws(rng, ids)`` is called once with the models' ids (to draw their traits) and
    returns the function that draws each battle; the pair, the battle's parts and then
    the winner are drawn from one ``random.Random(seed)``, in that order.
    """
    rng = random.Random(seed)
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add_all(Model(name=m, provider="openai") for m in models)
    with sessions() as s:
        ids = [s.query(Model.id).filter(Model.name == m).scalar() for m in models]
    at = datetime.now(UTC) - timedelta(days=1)
    draw = draws(rng, ids)
    for start in range(0, votes, BATCH):
        n = min(BATCH, votes - start)
        with sessions.begin() as s:
            voters = s.scalars(
                insert(Voter).returning(Voter.id, sort_by_parameter_order=True),
                [{"token": uuid.uuid4().hex} for _ in range(n)],
            ).all()
            battles, messages, ballots = [], [], []
            for voter in voters:
                a, b = rng.sample(ids, 2)
                bid = uuid.uuid4().hex
                drawn = draw(rng, a, b)
                messages += [{"battle_id": bid, **m} for m in drawn.messages]
                winner = Winner.MODEL_A if rng.random() < drawn.p_a else Winner.MODEL_B
                battles.append(dict(id=bid, voter_id=voter, model_a_id=a, model_b_id=b,
                                    mode=BattleMode.ANONY, status=BattleStatus.VOTED, turns=1,
                                    created_at=at, **drawn.columns))  # fmt: skip
                ballots.append(dict(battle_id=bid, voter_id=voter, winner=winner, voided=False,
                                    created_at=at))  # fmt: skip
            s.execute(insert(Battle), battles)
            s.execute(insert(Message), messages)
            s.execute(insert(Vote), ballots)
    engine.dispose()


def first_and_later(view: Callable[[], T]) -> tuple[T, float, float]:
    """``view()``'s result, the seconds of its first call and the median of
    :data:`LATER_VIEWS` calls after it."""
    start = time.perf_counter()
    result = view()
    first = time.perf_counter() - start
    again = []
    for _ in range(LATER_VIEWS):
        start = time.perf_counter()
        view()
        again.append(time.perf_counter() - start)
    return result, first, statistics.median(again)
