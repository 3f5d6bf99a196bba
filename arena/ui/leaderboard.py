"""The leaderboard tab: the latest rating run as a sortable table and four charts, the
reasons volunteers gave per model, and the seed report's ranking beside today's.

Nothing here is in the page's initial configuration: the tab fills itself when it is
selected (or on its reload button), so no model name reaches a browser that only plays
blind battles. What it shows is read by :mod:`arena.ui.board_data` (pair tables kept
per run) and the table and its text lines are made by :mod:`arena.ui.board_table`; this
module lays the tab out and renders a board in the page's language. The reasons are
counted per run off the handler (:class:`FeedbackCache`), since counting them takes
seconds on a million votes.

The ratings view can be narrowed to one prompt language or category (the radio above the
table; :mod:`arena.category_board` fits and keeps those boards), and switched to the
style-controlled board (the second radio; :mod:`arena.style_board`), whose table shows each
model's rank change against the plain board on the same votes. The view's choices are
the page's ``controls``, passed to :meth:`LeaderboardTab.load` in order, so a further
view switch is one more control and one more parameter.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import gradio as gr
from sqlalchemy.orm import Session, sessionmaker

from arena.category_board import ALL, FILTERS
from arena.config import Settings
from arena.db import stats
from arena.db.feedback_stats import FeedbackCache
from arena.schedule import Schedule
from arena.seed_report import Today, then_and_now
from arena.ui.board_data import Board, PairCache, read_board
from arena.ui.board_table import excluded_line, table_frame, unrated_markdown
from arena.ui.board_views import reasons_view, style_table_view, then_now_view
from arena.ui.charts import HEATMAP_MODELS, heatmap, history_chart, interval_plot, overlap_groups
from arena.ui.i18n import t

#: Importable from here as before the split (tests, bench/bench_ui.py).
__all__ = ["Board", "LeaderboardTab", "PairCache", "excluded_line", "read_board", "table_frame"]

#: The style switch's values: the plain board, or the style-controlled one.
PLAIN, STYLE = "plain", "style"


def category_choices(lang: str) -> list[tuple[str, str]]:
    """The view's choices in ``lang``: all battles, each prompt language, each category."""
    return [(t(f"bc_{key}", lang), key) for key in FILTERS]


def style_choices(lang: str) -> list[tuple[str, str]]:
    """The style switch's choices in ``lang``: the plain board, the style-controlled one."""
    return [(t("lb_style_plain", lang), PLAIN), (t("lb_style_controlled", lang), STYLE)]


def _top(pairs: stats.PairTable, n: int) -> stats.PairTable:
    """The pair table of its first ``n`` models (the board's best)."""
    return stats.PairTable(pairs.models[:n], pairs.battles[:n, :n], pairs.wins[:n, :n])


class LeaderboardTab:
    """Builds the leaderboard tab and renders it in the page's language."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings | None = None) -> None:
        self.sessions = sessions
        self.cache = PairCache()
        self.feedback = FeedbackCache(sessions)
        self.settings = settings or Settings()
        self.schedule = Schedule.from_settings(self.settings)
        self.zone = ZoneInfo(self.settings.recompute_timezone)

    def build(self, i18n: gr.I18n) -> None:
        """Lay out the (empty) components; :meth:`load` fills them."""
        gr.Markdown(i18n("lb_intro"), elem_id="leaderboard-intro")
        # The minimum widths wrap the row on a phone: the info over the whole width, the
        # button below it. (A Markdown ignores scale and min_width: its column holds them.)
        with gr.Row(equal_height=True):
            with gr.Column(scale=4, min_width=280):
                self.info = gr.Markdown("", elem_id="leaderboard-info")
            self.refresh = gr.Button(
                i18n("lb_refresh"), size="sm", elem_id="leaderboard-refresh", scale=1,
                min_width=120,
            )  # fmt: skip
        with gr.Tabs(elem_id="leaderboard-views"):
            with gr.Tab(i18n("lb_sub_ratings"), id="ratings", elem_id="leaderboard-ratings"):
                self._build_ratings(i18n)
            with gr.Tab(i18n("lb_sub_reasons"), id="reasons", elem_id="leaderboard-reasons-tab"):
                self.reasons = gr.Markdown("", elem_id="leaderboard-reasons", sanitize_html=False)
            with gr.Tab(i18n("lb_sub_then_now"), id="then-now", elem_id="leaderboard-then-now-tab"):
                self.then_now = gr.Markdown("", elem_id="leaderboard-then-now", sanitize_html=False)

    def _build_ratings(self, i18n: gr.I18n) -> None:
        lang = self.settings.default_language
        with gr.Row():  # side by side on a wide screen; stacked on a phone
            self.category = gr.Radio(
                category_choices(lang), value=ALL, label=i18n("lb_category_label"),
                elem_id="leaderboard-category", scale=3, min_width=300,
            )  # fmt: skip
            self.style = gr.Radio(
                style_choices(lang), value=PLAIN, label=i18n("lb_style_label"),
                elem_id="leaderboard-style", scale=1, min_width=220,
            )  # fmt: skip
        self.table = gr.Dataframe(
            value=None,
            visible=False,  # no stray empty table (headed "1 2 3") before the first run
            interactive=False,
            wrap=True,
            show_search="search",
            buttons=["copy"],
            elem_id="leaderboard-table",
            label=None,
            show_label=False,
            max_height=900,
        )
        # The style-controlled view's table (HTML: its rank arrows carry words for screen
        # readers); the sortable table above is hidden in that view.
        self.style_table = gr.Markdown("", elem_id="leaderboard-style-table", sanitize_html=False)
        self.note = gr.Markdown("", elem_id="leaderboard-note")
        self.unrated = gr.Markdown("", elem_id="leaderboard-unrated")
        # Charts are HTML built (and escaped) by arena.ui.charts, shown through Markdown.
        chart = {"sanitize_html": False, "value": ""}
        self.chart = gr.Markdown(elem_id="leaderboard-chart", **chart)
        self.history = gr.HTML("", elem_id="leaderboard-history")
        self.history_note = gr.Markdown("", elem_id="leaderboard-history-note")
        with gr.Row():
            self.winfrac = gr.Markdown(elem_id="leaderboard-winfrac", min_width=320, **chart)
            self.counts = gr.Markdown(elem_id="leaderboard-counts", min_width=320, **chart)

    @property
    def controls(self) -> list[gr.components.Component]:
        """The view's switches, in the order :meth:`load` takes them after the language."""
        return [self.category, self.style]

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Every component :meth:`render` updates."""
        return [
            self.category,
            self.style,
            self.info,
            self.table,
            self.style_table,
            self.note,
            self.unrated,
            self.chart,
            self.history,
            self.history_note,
            self.winfrac,
            self.counts,
            self.reasons,
            self.then_now,
        ]

    def load(self, lang: str, category: str = ALL, style: str = PLAIN) -> dict:
        """Read the latest run (and ``category``'s board, unless ``all``; with ``style`` =
        "style" the style-controlled one) and render the whole tab (the tab's select,
        reload and view handlers)."""
        category = category if category in FILTERS else ALL
        board = read_board(self.sessions, self.cache, category, style == STYLE)
        if board.run is not None:
            board.feedback = self.feedback.get(board.run.id, board.run.created_at)
        return self.render(board, lang)

    def _when(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.zone):%Y-%m-%d %H:%M}"

    def schedule_line(self, lang: str, now: datetime | None = None) -> str:
        """When the next run is (or that none is scheduled)."""
        now = now or datetime.now(self.zone)
        zone = now.astimezone(self.zone).strftime("%Z")
        parts = []
        if (nightly := self.schedule.next_nightly(now)) is not None:
            parts.append(t("lb_next", lang, time=self._when(nightly), zone=zone))
        if (check := self.schedule.next_provisional(now)) is not None:
            minutes = self.settings.provisional_every_minutes
            when = f"{check.astimezone(self.zone):%H:%M}"
            parts.append(t("lb_next_provisional", lang, minutes=minutes, time=when))
        return " ".join(parts) or t("lb_no_schedule", lang)

    def render(self, board: Board, lang: str) -> dict:
        """The tab's outputs for ``board`` in ``lang``."""
        empty = {c: "" for c in (self.note, self.unrated, self.chart, self.history_note)}
        empty.update({c: "" for c in (self.winfrac, self.counts, self.history)})
        empty[self.category] = gr.update(choices=category_choices(lang))
        empty[self.style] = gr.update(choices=style_choices(lang))
        empty[self.style_table] = ""
        if board.run is None:
            return {
                **empty,
                self.reasons: reasons_view(None, [], None, lang),
                self.then_now: then_now_view(then_and_now([]), None, None, None, lang),
                self.info: f"**{t('lb_empty', lang)}**\n\n{self.schedule_line(lang)}",
                self.table: gr.update(value=None, visible=False),
            }
        if board.styled is not None:
            return {**empty, **self.render_views(board, lang), **self.render_style(board, lang)}
        if board.view is not None:
            return {**empty, **self.render_views(board, lang), **self.render_category(board, lang)}
        run = board.run
        multi_run = len({at for at, *_ in board.history}) >= 2
        zone = run.created_at.astimezone(self.zone).strftime("%Z")
        info = [t("lb_provisional", lang)] if run.provisional else []
        info.append(
            t(
                "lb_run",
                lang,
                time=self._when(run.created_at),
                zone=zone,
                votes=f"{run.votes_used:,}",
                method=t(f"method_{run.method}", lang),
            )
            + excluded_line(run.excluded, lang)
        )
        if not board.rows:
            info.append(f"**{t('lb_none_rated', lang)}**")
        info.append(self.schedule_line(lang))
        return {
            **empty,
            self.info: "\n\n".join(info),
            **self._ratings(board.rows, board.pairs, board.separate, lang),
            self.unrated: unrated_markdown(board, lang),
            self.history: history_chart(board.history, lang, self.zone) if multi_run else "",
            self.history_note: "" if multi_run or not board.rows else t("chart_history_one", lang),
            **self.render_views(board, lang),
        }

    def render_category(self, board: Board, lang: str) -> dict:
        """The ratings view narrowed to one category (``board.view``): its own votes,
        table and charts, or plainly that it has too few votes; no history chart."""
        run, view = board.run, board.view
        assert run is not None and view is not None
        name = t(f"bc_{view.category}", lang)
        zone = run.created_at.astimezone(self.zone).strftime("%Z")
        votes = f"{view.votes:,}"
        info = [t("lb_cat_run", lang, category=name, votes=votes, time=self._when(run.created_at),
                  zone=zone)]  # fmt: skip
        if view.too_few:
            n = view.min_votes or 1
            info.append(f"**{t('lb_cat_too_few', lang, category=name, votes=votes, n=n)}**")
        info += [t("lb_cat_screen", lang), self.schedule_line(lang)]
        narrowed = Board(run, view.rows, view.pairs, [], view.unrated)
        return {
            self.info: "\n\n".join(info),
            **self._ratings(view.rows, view.pairs, None, lang),
            self.unrated: unrated_markdown(narrowed, lang),
        }

    def render_style(self, board: Board, lang: str) -> dict:
        """The style-controlled view (``board.styled``): what style control does and the
        length coefficient, the table with rank changes, the charts of its ratings."""
        run, styled = board.run, board.styled
        assert run is not None and styled is not None
        zone = run.created_at.astimezone(self.zone).strftime("%Z")
        scope = t("lb_style_all", lang)
        if styled.category != ALL:
            scope = t("lb_style_scope", lang, category=t(f"bc_{styled.category}", lang))
        info = [t("lb_style_run", lang, scope=scope, votes=f"{styled.votes:,}",
                  time=self._when(run.created_at), zone=zone)]  # fmt: skip
        length = styled.coefficient("length")
        if length is not None and length.points is not None:
            level = f"{run.level:.0%}"
            info.append(t("lb_style_explain", lang, points=f"{length.points:+.0f}", level=level,
                          lower=f"{length.lower:+.0f}", upper=f"{length.upper:+.0f}"))  # fmt: skip
        elif styled.rows:
            info.append(t("lb_style_explain_flat", lang))
        if styled.error:
            info.append(f"**{t('lb_style_failed', lang, reason=styled.error)}**")
        elif styled.too_few:
            name = t(f"bc_{styled.category}", lang)
            n, votes = styled.min_votes or 1, f"{styled.votes:,}"
            info.append(f"**{t('lb_cat_too_few', lang, category=name, votes=votes, n=n)}**")
        if styled.from_messages:
            info.append(t("lb_style_from_messages", lang, n=f"{styled.from_messages:,}"))
        info += [t("lb_style_screen", lang), self.schedule_line(lang)]
        narrowed = Board(run, styled.rows, styled.pairs, [], styled.unrated)
        return {
            self.info: "\n\n".join(info),
            **self._ratings(styled.rows, styled.pairs, None, lang),
            self.table: gr.update(value=None, visible=False),
            self.style_table: style_table_view(styled, lang),
            self.unrated: unrated_markdown(narrowed, lang),
        }

    def _ratings(
        self,
        rows: list[stats.BoardRow],
        pairs: stats.PairTable | None,
        separate: dict[str, int | None] | None,
        lang: str,
    ) -> dict:
        """The table, the overlap note, the interval chart and the pair heatmaps."""
        groups = overlap_groups(rows)
        top = _top(pairs, HEATMAP_MODELS) if pairs is not None and rows else None
        return {
            self.table: gr.update(
                value=table_frame(rows, lang, separate) if rows else None, visible=bool(rows)
            ),
            self.note: t("lb_overlap", lang, groups="; ".join(", ".join(g) for g in groups))
            if groups
            else "",
            self.chart: interval_plot(rows, lang),
            self.winfrac: heatmap(top, "winfrac", lang, len(rows), "winfrac") if top else "",
            self.counts: heatmap(top, "counts", lang, len(rows), "counts") if top else "",
        }

    def render_views(self, board: Board, lang: str) -> dict:
        """The reasons and then-and-now views of a board with a run."""
        run = board.run
        zone = run.created_at.astimezone(self.zone).strftime("%Z")
        when = t("lb_when", lang, time=self._when(run.created_at), zone=zone)
        today = [Today(r.model, r.rating, r.ci_lower, r.ci_upper) for r in board.rows]
        order = [r.model for r in board.rows]
        return {
            self.reasons: reasons_view(board.feedback, order, when, lang),
            self.then_now: then_now_view(
                then_and_now(today), when, run.anchor, run.votes_used, lang
            ),
        }
