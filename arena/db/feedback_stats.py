"""Read-only queries behind the leaderboard's reasons view: reasons and reactions per model.

Volunteers may tag each side of a blind vote with reasons (``vote_reasons``) and give a
thumbs up or down to each answer (``reactions``); see :mod:`arena.feedback`. This module
counts them per model in the database -- one statement of three ``GROUP BY`` parts, at
most ``models * (tags + 3)`` rows back -- over the votes the ratings count by the rules
of :mod:`arena.db.counted` (a blind battle, not failed, not flagged, a vote not voided;
the statistical screening of single votes, decided anew in each recomputation, is not
repeated here).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, select, union_all
from sqlalchemy.orm import Session, sessionmaker

from arena.db.counted import counted, in_window
from arena.db.models import (
    Battle,
    Model,
    Reaction,
    Side,
    Vote,
    VoteReason,
)


@dataclass
class ModelFeedback:
    """What volunteers said about one model's answers in counted blind battles.

    ``with_reasons`` counts the votes on the model's battles where the voter gave at
    least one reason (to either side); ``tags`` counts each reason given to this model's
    side; ``up`` and ``down`` count the thumbs on its answers.
    """

    model: str
    with_reasons: int = 0
    tags: dict[str, int] = field(default_factory=dict)
    up: int = 0
    down: int = 0

    def share(self, tag: str) -> float | None:
        """Share of the votes with reasons that gave ``tag`` to this model (None: no votes)."""
        return self.tags.get(tag, 0) / self.with_reasons if self.with_reasons else None


def _counted(until: datetime | None) -> ColumnElement[bool]:
    """A vote the ratings count (:mod:`arena.db.counted`), cast before ``until`` if given."""
    return and_(counted(), *in_window(None, until))


def _model_of(side: ColumnElement) -> ColumnElement[int]:
    return case((side == Side.A, Battle.model_a_id), else_=Battle.model_b_id)


def feedback_by_model(session: Session, until: datetime | None = None) -> list[ModelFeedback]:
    """Reasons, votes with reasons and thumbs per model, counted in one statement.

    ``until`` keeps the votes cast before then (a rating run's time: the same votes).
    """
    tag_model = _model_of(VoteReason.side)
    tags = (
        select(
            literal("tag").label("kind"),
            tag_model.label("m"),
            VoteReason.tag.label("tag"),
            func.count().label("n"),
        )
        .select_from(VoteReason)
        .join(Battle, Battle.id == VoteReason.battle_id)
        .join(Vote, Vote.battle_id == VoteReason.battle_id)
        .where(_counted(until))
        .group_by(tag_model, VoteReason.tag)
    )
    # Votes with reasons: one row per battle that has any, then per pair (<= models**2 rows).
    given = select(VoteReason.battle_id).distinct().subquery()
    voted = (
        select(
            literal("pair").label("kind"),
            Battle.model_a_id,
            cast(Battle.model_b_id, String),
            func.count(),
        )
        .select_from(given)
        .join(Battle, Battle.id == given.c.battle_id)
        .join(Vote, Vote.battle_id == given.c.battle_id)
        .where(_counted(until))
        .group_by(Battle.model_a_id, Battle.model_b_id)
    )
    thumb_model = _model_of(Reaction.side)
    thumbs = (
        select(
            literal("thumb").label("kind"), thumb_model, cast(Reaction.value, String), func.count()
        )
        .select_from(Reaction)
        .join(Battle, Battle.id == Reaction.battle_id)
        .join(Vote, Vote.battle_id == Reaction.battle_id)
        .where(_counted(until), Reaction.value != 0)
        .group_by(thumb_model, Reaction.value)
    )
    rows = session.execute(union_all(tags, voted, thumbs)).all()
    names = dict(session.execute(select(Model.id, Model.name)).all())
    out: dict[str, ModelFeedback] = {}

    def of(model_id: int) -> ModelFeedback:
        name = names[model_id]
        if name not in out:
            out[name] = ModelFeedback(name)
        return out[name]

    for kind, model_id, what, n in rows:
        if kind == "tag":
            of(model_id).tags[what] = n
        elif kind == "pair":  # both models of the pair had that many votes with reasons
            of(model_id).with_reasons += n
            of(int(what)).with_reasons += n
        elif int(what) > 0:
            of(model_id).up += n
        else:
            of(model_id).down += n
    return sorted(out.values(), key=lambda f: f.model)


class FeedbackCache:
    """Reasons per model for each rating run, counted once per process off the handler.

    Counting a million votes' reasons takes seconds (every reason joined to its battle
    and vote), longer than a page handler may take. The counts follow the rating runs
    instead: for a run, the votes cast up to its time, counted once in a worker thread
    and kept (a run never changes). :meth:`get` waits for them at most ``wait`` seconds;
    on a big database the first view of a new run says they are being counted, and the
    next view has them.
    """

    def __init__(self, sessions: sessionmaker[Session], size: int = 2, wait: float = 0.1) -> None:
        self.sessions, self.size, self.wait = sessions, size, wait
        self._counts: OrderedDict[tuple[int, datetime], Future[list[ModelFeedback]]] = OrderedDict()
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board-reasons")

    def _count(self, until: datetime) -> list[ModelFeedback]:
        with self.sessions() as session:
            return feedback_by_model(session, until)

    def get(
        self, run_id: int, until: datetime, wait: float | None = None
    ) -> list[ModelFeedback] | None:
        """The counts for the run ``run_id`` (votes up to ``until``), None while counting.

        Waits at most ``wait`` seconds (the cache's own wait if None).
        """
        key = (run_id, until)
        with self._lock:
            future = self._counts.get(key)
            if future is None:
                future = self._counts[key] = self._worker.submit(self._count, until)
                while len(self._counts) > self.size:
                    self._counts.popitem(last=False)
        try:
            return future.result(timeout=self.wait if wait is None else wait)
        except FutureTimeout:
            return None
        except Exception:
            with self._lock:  # a failed count is tried again on the next view
                if self._counts.get(key) is future:
                    del self._counts[key]
            raise
