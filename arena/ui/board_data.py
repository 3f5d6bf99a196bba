"""What the leaderboard tab shows, read from the database: the latest rating run, its
rows, pair tables and history, the models not rated, and the category or style board.

No Gradio here (:mod:`arena.ui.leaderboard` lays the tab out and renders it). The pair
tables are read from the counts stored with the rating run (a few thousand rows at most)
and kept per run in a small process-wide cache (:class:`PairCache`), which also spares
runs stored before those counts their slower fallback after the first view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from arena.category_board import ALL, CategoryBoard, category_board
from arena.db import stats
from arena.db.feedback_stats import ModelFeedback
from arena.separation import neighbours
from arena.style_board import StyleBoard, style_board
from arena.ui.charts import HEATMAP_MODELS

#: Runs and models the history chart shows.
HISTORY_RUNS, HISTORY_MODELS = 30, 10


@dataclass
class Board:
    """Everything the tab shows, read from the database."""

    run: stats.RunInfo | None
    rows: list[stats.BoardRow]
    pairs: stats.PairTable | None
    history: list[tuple]
    unrated: list[stats.UnratedRow] = field(default_factory=list)
    feedback: list[ModelFeedback] | None = None  # None: not counted yet
    #: Each model's further votes until its interval separates from the next one down
    #: (arena.separation; 0 separated, None not in sight); the last model has none.
    separate: dict[str, int | None] = field(default_factory=dict)
    #: The board of one category or prompt language, when the view is narrowed to one.
    view: CategoryBoard | None = None
    #: The style-controlled board (of the category, if any), when the view asks for it.
    styled: StyleBoard | None = None


class PairCache:
    """Pair tables per rating run: a run never changes, so its tables are read once."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._tables: OrderedDict[tuple[int, tuple[str, ...]], stats.PairTable] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, run: stats.RunInfo, models: list[str]) -> stats.PairTable:
        """The pair table of ``models`` for ``run`` (read on first use)."""
        key = (run.id, tuple(models))
        with self._lock:
            if key in self._tables:
                return self._tables[key]
        table = stats.pair_table(session, run, models)
        with self._lock:
            self._tables[key] = table
            while len(self._tables) > self.size:
                self._tables.popitem(last=False)
        return table


def read_board(
    sessions: sessionmaker[Session], cache: PairCache, category: str = ALL, style: bool = False
) -> Board:
    """The latest run, its rows, its pair tables (top models) and the rating history; and
    the board of ``category`` (a key of arena.category_board.FILTERS) unless ``all``, or
    with ``style`` the style-controlled board of ``category``."""
    with sessions() as session:
        run = stats.latest_run(session)
        if run is None:
            return Board(None, [], None, [])
        rows = stats.board(session, run.id)
        top = [r.model for r in rows[:HEATMAP_MODELS]]
        pairs = cache.get(session, run, top)
        shown = [r.model for r in rows[:HISTORY_MODELS]]
        hist = stats.history(session, shown, HISTORY_RUNS)
        unrated = stats.unrated(session, run, [r.model for r in rows])
        separate = {n.upper: n.votes for n in neighbours(session, run, rows)}
        styled = style_board(session, run, category) if style else None
        view = category_board(session, run, category) if category != ALL and not style else None
    return Board(run, rows, pairs, hist, unrated, separate=separate, view=view, styled=styled)
