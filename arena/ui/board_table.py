"""The leaderboard's ratings table and its lines of text, in the page's language: the
table's rows (ratings, intervals, votes until separated), the models not rated and the
votes a run left out.
"""

from __future__ import annotations

import math

import pandas as pd

from arena.db import stats
from arena.render import literal
from arena.ui.board_data import Board
from arena.ui.i18n import t


def _score(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def ci_text(r: stats.BoardRow) -> str:
    """``+up/-down`` from the rating; an end the data cannot bound is "—"."""
    up = f"{r.ci_upper - r.rating:.0f}" if math.isfinite(r.ci_upper) else "—"
    down = f"{r.rating - r.ci_lower:.0f}" if math.isfinite(r.ci_lower) else "—"
    return f"+{up}/-{down}"


def separate_text(votes: int | None, lang: str) -> str:
    """Votes until a model separates from the next: a count, "separated" or "not in sight"."""
    if votes is None:
        return t("sep_not_in_sight", lang)
    return t("sep_done", lang) if votes == 0 else f"{votes:,}"


def table_frame(
    rows: list[stats.BoardRow], lang: str, separate: dict[str, int | None] | None = None
) -> pd.DataFrame:
    """The seed's columns, translated, one row per model, and with ``separate`` the votes
    until each model separates from the next one down (the last model: empty)."""
    weights = {"open": t("weights_open", lang), "closed": t("weights_closed", lang)}
    missing = t("not_reported", lang)
    data = [
        {
            t("col_rank", lang): r.rank,
            t("col_model", lang): r.model,
            t("col_rating", lang): round(r.rating),
            t("col_ci", lang): ci_text(r),
            t("col_win_rate", lang): f"{r.win_rate:.2f}",
            t("col_battles", lang): r.battles,
            t("col_weights", lang): weights.get(r.weights or "", r.weights or ""),
            t("col_mt_bench", lang): _score(r.japanese_mt_bench, 1) or missing,
            t("col_nejumi", lang): _score(r.nejumi_lb3, 2) or missing,
        }
        for r in rows
    ]
    if separate is not None:
        for r, row in zip(rows, data, strict=True):
            known = r.model in separate
            row[t("col_separate", lang)] = separate_text(separate[r.model], lang) if known else ""
    return pd.DataFrame(data)


def unrated_markdown(board: Board, lang: str) -> str:
    """The models with votes but no rating, with their battles and why."""
    if not board.unrated or board.run is None:
        return ""
    lines = [
        f"### {t('lb_unrated_title', lang)}",
        t("lb_unrated_intro", lang, n=board.run.min_votes or 1),
        "",
        f"| {t('col_model', lang)} | {t('col_battles', lang)} | {t('lb_reason', lang)} |",
        "| --- | ---: | --- |",
    ]
    for u in board.unrated:
        why = t("lb_few_votes" if u.reason == "few_votes" else "lb_not_connected", lang)
        lines.append(f"| {literal(u.model)} | {u.battles:,} | {why} |")
    return "\n".join(lines)


def excluded_line(excluded: dict[str, int], lang: str) -> str:
    """The votes a run left out, per reason (only the reasons that left some out)."""
    items = [t(f"ex_{why}", lang, n=f"{n:,}") for why, n in excluded.items() if n]
    sep = "、" if lang == "ja" else ", "
    return "\n\n" + t("lb_excluded", lang, items=sep.join(items)) if items else ""
