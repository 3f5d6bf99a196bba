"""The leaderboard tab: the latest rating run as a sortable table and four charts.

Nothing here is in the page's initial configuration: the tab fills itself when it is
selected (or on its reload button), so no model name reaches a browser that only plays
blind battles. The pair tables are read from the counts stored with the rating run (a
few thousand rows at most) and kept per run in a small process-wide cache, which also
spares runs stored before those counts their slower fallback after the first view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import gradio as gr
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from arena.db import stats
from arena.ui.charts import HEATMAP_MODELS, heatmap, interval_plot, overlap_groups
from arena.ui.i18n import t

#: Runs and models the history chart shows.
HISTORY_RUNS, HISTORY_MODELS = 30, 10


@dataclass
class Board:
    """Everything the tab shows, read from the database."""

    run: stats.RunInfo | None
    rows: list[stats.BoardRow]
    pairs: stats.PairTable | None
    history: list[tuple]


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


def read_board(sessions: sessionmaker[Session], cache: PairCache) -> Board:
    """The latest run, its rows, its pair tables (top models) and the rating history."""
    with sessions() as session:
        run = stats.latest_run(session)
        if run is None:
            return Board(None, [], None, [])
        rows = stats.board(session, run.id)
        top = [r.model for r in rows[:HEATMAP_MODELS]]
        pairs = cache.get(session, run, top)
        shown = [r.model for r in rows[:HISTORY_MODELS]]
        hist = stats.history(session, shown, HISTORY_RUNS)
    return Board(run, rows, pairs, hist)


def _score(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table_frame(rows: list[stats.BoardRow], lang: str) -> pd.DataFrame:
    """The seed's columns, translated, one row per model."""
    weights = {"open": t("weights_open", lang), "closed": t("weights_closed", lang)}
    missing = t("not_reported", lang)
    data = [
        {
            t("col_rank", lang): r.rank,
            t("col_model", lang): r.model,
            t("col_rating", lang): round(r.rating),
            t("col_ci", lang): f"+{r.ci_upper - r.rating:.0f}/-{r.rating - r.ci_lower:.0f}",
            t("col_win_rate", lang): f"{r.win_rate:.2f}",
            t("col_battles", lang): r.battles,
            t("col_weights", lang): weights.get(r.weights or "", r.weights or ""),
            t("col_mt_bench", lang): _score(r.japanese_mt_bench, 1) or missing,
            t("col_nejumi", lang): _score(r.nejumi_lb3, 2) or missing,
        }
        for r in rows
    ]
    return pd.DataFrame(data)


def history_frame(board: Board, lang: str) -> pd.DataFrame:
    """Rating per run and model, for the line plot (naive UTC times)."""
    return pd.DataFrame(
        [(at.replace(tzinfo=None), model, round(rating, 1)) for at, model, rating in board.history],
        columns=[t("axis_run", lang), t("axis_model", lang), t("axis_rating", lang)],
    )


def excluded_line(excluded: dict[str, int], lang: str) -> str:
    """The votes a run left out, per reason (only the reasons that left some out)."""
    items = [t(f"ex_{why}", lang, n=f"{n:,}") for why, n in excluded.items() if n]
    sep = "、" if lang == "ja" else ", "
    return "\n\n" + t("lb_excluded", lang, items=sep.join(items)) if items else ""


class LeaderboardTab:
    """Builds the leaderboard tab and renders it in the page's language."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.cache = PairCache()

    def build(self, i18n: gr.I18n) -> None:
        """Lay out the (empty) components; :meth:`load` fills them."""
        gr.Markdown(i18n("lb_intro"), elem_id="leaderboard-intro")
        with gr.Row(equal_height=True):
            self.info = gr.Markdown("", elem_id="leaderboard-info", scale=4)
            self.refresh = gr.Button(
                i18n("lb_refresh"), size="sm", elem_id="leaderboard-refresh", scale=1
            )
        self.table = gr.Dataframe(
            value=None,
            interactive=False,
            wrap=True,
            show_search="search",
            buttons=["copy"],
            elem_id="leaderboard-table",
            label=None,
            show_label=False,
            max_height=900,
        )
        self.note = gr.Markdown("", elem_id="leaderboard-note")
        # Charts are HTML built (and escaped) by arena.ui.charts, shown through Markdown.
        chart = {"sanitize_html": False, "value": ""}
        self.chart = gr.Markdown(elem_id="leaderboard-chart", **chart)
        self.history = gr.LinePlot(
            value=None, elem_id="leaderboard-history", height=360, x_label_angle=0
        )
        self.history_note = gr.Markdown("", elem_id="leaderboard-history-note")
        with gr.Row():
            self.winfrac = gr.Markdown(elem_id="leaderboard-winfrac", min_width=320, **chart)
            self.counts = gr.Markdown(elem_id="leaderboard-counts", min_width=320, **chart)

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Every component :meth:`render` updates."""
        return [
            self.info,
            self.table,
            self.note,
            self.chart,
            self.history,
            self.history_note,
            self.winfrac,
            self.counts,
        ]

    def load(self, lang: str) -> dict:
        """Read the latest run and render the whole tab (the tab's select handler)."""
        return self.render(read_board(self.sessions, self.cache), lang)

    def render(self, board: Board, lang: str) -> dict:
        """The tab's outputs for ``board`` in ``lang``."""
        out: dict = {}
        if board.run is None:
            empty = gr.update(value=None)
            return {
                **out,
                self.info: f"**{t('lb_empty', lang)}**",
                self.table: empty,
                self.history: gr.update(value=None, visible=False),
                **{c: "" for c in (self.note, self.chart, self.history_note)},
                **{c: "" for c in (self.winfrac, self.counts)},
            }
        run = board.run
        groups = overlap_groups(board.rows)
        n_models = len(board.rows)
        multi_run = len({at for at, *_ in board.history}) >= 2
        out.update(
            {
                self.info: t(
                    "lb_run",
                    lang,
                    time=f"{run.created_at:%Y-%m-%d %H:%M}",
                    votes=f"{run.votes_used:,}",
                    method=run.method,
                )
                + excluded_line(run.excluded, lang),
                self.table: table_frame(board.rows, lang),
                self.note: t("lb_overlap", lang, groups="; ".join(", ".join(g) for g in groups))
                if groups
                else "",
                self.chart: interval_plot(board.rows, lang),
                self.history: gr.update(
                    value=history_frame(board, lang) if multi_run else None,
                    x=t("axis_run", lang),
                    y=t("axis_rating", lang),
                    color=t("axis_model", lang),
                    title=t("chart_history", lang),
                    label=t("chart_history", lang),
                    visible=multi_run,
                ),
                self.history_note: "" if multi_run else t("chart_history_one", lang),
                self.winfrac: heatmap(board.pairs, "winfrac", lang, n_models, "winfrac")
                if board.pairs
                else "",
                self.counts: heatmap(board.pairs, "counts", lang, n_models, "counts")
                if board.pairs
                else "",
            }
        )
        return out
