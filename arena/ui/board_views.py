"""The leaderboard's extra views as plain HTML: reasons per model, then and now, and the
style-controlled table with each model's rank change against the plain board.

Like :mod:`arena.ui.charts`: tables built here need no component of their own, keep
their figures as text (and in each cell's title), scroll sideways inside their box on a
phone, and escape every name. The numbers come from :mod:`arena.db.feedback_stats` and
:mod:`arena.seed_report`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from arena.db.feedback_stats import ModelFeedback
from arena.feedback import BAD, GOOD
from arena.seed_report import REPORT_ANCHOR, REPORT_VOTES, ThenNow
from arena.style_board import StyleBoard
from arena.ui.i18n import t

#: Cell colours at a share of 1 (white at 0): green for strengths, red for weaknesses.
GOOD_RGB, BAD_RGB = (0, 158, 115), (213, 94, 0)
#: Header cells: horizontal text that wraps (the heatmap's vertical names are for Latin).
_HEAD = (
    ' style="height:auto;white-space:normal;min-width:4.5em;vertical-align:bottom;'
    'word-break:normal;overflow-wrap:normal"'
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _shade(share: float, rgb: tuple[int, int, int]) -> str:
    d = math.sqrt(max(0.0, min(1.0, share)))  # small shares stay visible
    r, g, b = (round(255 - (255 - c) * 0.75 * d) for c in rgb)
    return f"rgb({r},{g},{b})"


def _ordered(items: Sequence[ModelFeedback], order: Sequence[str]) -> list[ModelFeedback]:
    """Models in the leaderboard's order, then the others by name."""
    place = {m: k for k, m in enumerate(order)}
    return sorted(items, key=lambda f: (place.get(f.model, len(place)), f.model))


def _tag_table(items: Sequence[ModelFeedback], tags: Sequence[str], good: bool, lang: str) -> str:
    thumbs_label, rgb = ("rs_thumbs_up", GOOD_RGB) if good else ("rs_thumbs_down", BAD_RGB)
    kind = "good" if good else "bad"
    head = [
        f'<th scope="col" class="ta-corner"{_HEAD}>{_e(t("col_model", lang))}</th>',
        f'<th scope="col"{_HEAD}>{_e(t("rs_with_reasons", lang))}</th>',
        f'<th scope="col"{_HEAD}>{_e(t(thumbs_label, lang))}</th>',
    ]
    head += [f'<th scope="col"{_HEAD}>{_e(t(f"tag_{tag}", lang))}</th>' for tag in tags]
    body = []
    for f in items:
        thumbs = f.up if good else f.down
        cells = [
            f'<th scope="row">{_e(f.model)}</th>',
            f'<td class="rs-n">{f.with_reasons:,}</td>',
            f'<td class="rs-thumbs">{thumbs:,}</td>',
        ]
        for tag in tags:
            share, n = f.share(tag), f.tags.get(tag, 0)
            label = t(f"tag_{tag}", lang)
            if share is None:
                cells.append(f'<td class="ta-none" title="{_e(f.model)} / {_e(label)}">—</td>')
                continue
            tip = f"{f.model} / {label}: {share:.0%} ({n:,}/{f.with_reasons:,})"
            look = f"background:{_shade(share, rgb)}" if n else "color:#999"
            cells.append(
                f'<td style="{look}" title="{_e(tip)}" '
                f'data-tag="{tag}" data-count="{n}">{share:.0%}<br><small>{n:,}</small></td>'
            )
        body.append(f'<tr data-model="{_e(f.model)}">{"".join(cells)}</tr>')
    title = t("rs_good" if good else "rs_bad", lang)
    return (
        f'<figure class="ta-chart" id="reasons-{kind}">'
        f"<figcaption>{_e(title)}</figcaption>"
        f'<div class="ta-heat-wrap"><table class="ta-heat">'
        f"<thead><tr>{''.join(head)}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div></figure>"
    )


def reasons_view(
    items: Sequence[ModelFeedback] | None, order: Sequence[str], when: str | None, lang: str
) -> str:
    """Reasons per model (strengths and weaknesses), thumbs and votes with reasons.

    ``items`` None means still being counted; ``when`` is the rating run's time (None
    before the first run); ``order`` is the leaderboard's order of models.
    """
    if when is None:
        return f"**{_e(t('rs_no_run', lang))}**"
    if items is None:
        return f'<p class="rs-pending">{_e(t("rs_pending", lang))}</p>'
    items = [f for f in items if f.with_reasons or f.up or f.down]
    intro = f'<p class="ta-note">{_e(t("rs_intro", lang, time=when))}</p>'
    if not items:
        return intro + f"<p><strong>{_e(t('rs_none', lang))}</strong></p>"
    items = _ordered(items, order)
    return intro + _tag_table(items, GOOD, True, lang) + _tag_table(items, BAD, False, lang)


def _ci(row: ThenNow) -> str:
    now = row.now
    if now is None:
        return "—"
    up = f"{now.ci_upper - now.rating:.0f}" if math.isfinite(now.ci_upper) else "—"
    down = f"{now.rating - now.ci_lower:.0f}" if math.isfinite(now.ci_lower) else "—"
    return f"+{up}/-{down}"


def _change(row: ThenNow, lang: str) -> str:
    if row.then_rank is None:
        return f'<span class="tn-new">{_e(t("tn_new", lang))}</span>'
    if row.now_rank is None:
        return f'<span class="tn-gone">{_e(t("tn_not_rated", lang))}</span>'
    n = row.change
    if n == 0:
        return f'<span aria-label="{_e(t("tn_same", lang))}">±0</span>'
    word, arrow, color = ("tn_up", "↑", "#007a55") if n > 0 else ("tn_down", "↓", "#b34700")
    label = t(word, lang, n=abs(n))
    return f'<span style="color:{color}" aria-label="{_e(label)}">{arrow}{abs(n)}</span>'


def then_now_view(
    rows: Sequence[ThenNow],
    when: str | None,
    anchor: str | None,
    votes: int | None,
    lang: str,
) -> str:
    """The report's ranking beside today's: place, rating, interval, and the change.

    ``when``, ``anchor`` and ``votes`` describe the latest run (None before the first).
    """
    lines = [t("tn_intro", lang, votes=f"{REPORT_VOTES:,}")]
    if when is None:
        lines.append(t("tn_no_run", lang))
    else:
        lines.append(t("tn_now_run", lang, time=when, votes=f"{votes or 0:,}"))
        if anchor != REPORT_ANCHOR:
            lines.append(t("tn_scale_differs", lang, report=REPORT_ANCHOR, anchor=anchor))
    then, now = t("tn_then", lang), t("tn_now", lang)
    cols = [(t("col_model", lang), "")]
    for when_word in (then, now):
        cols += [(when_word, t(k, lang)) for k in ("tn_place", "col_rating", "col_ci")]
    cols.append((t("tn_change", lang), ""))
    head = "".join(
        f'<th scope="col"{_HEAD}>{_e(top)}{"<br>" + _e(sub) if sub else ""}</th>'
        for top, sub in cols
    )
    unpublished = _e(t("tn_not_published", lang))
    body = []
    for r in rows:
        cells = [
            f'<th scope="row">{_e(r.model)}</th>',
            f"<td>{r.then_rank if r.then_rank is not None else '—'}</td>",
            f"<td>{f'{r.then_rating:.0f}' if r.then_rating is not None else '—'}</td>",
            f'<td class="ta-none">{unpublished if r.then_rank is not None else "—"}</td>',
            f"<td>{r.now_rank if r.now_rank is not None else '—'}</td>",
            f"<td>{f'{r.now.rating:.0f}' if r.now is not None else '—'}</td>",
            f"<td>{_ci(r)}</td>",
            f"<td>{_change(r, lang)}</td>",
        ]
        body.append(f'<tr data-model="{_e(r.model)}">{"".join(cells)}</tr>')
    notes = "".join(f'<p class="ta-note">{_e(line)}</p>' for line in lines)
    title = t("tn_title", lang)
    return (
        f'<figure class="ta-chart" id="then-now-figure">'
        f"<figcaption>{_e(title)}</figcaption>{notes}"
        f'<div class="ta-heat-wrap"><table class="ta-heat">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div></figure>"
    )


def rank_change(n: int | None, lang: str) -> str:
    """▲n (moved up under style control), ▼n (down) or – (same), with the words for
    screen readers; the arrow itself is hidden from them."""
    if n is None:
        return "—"
    if n == 0:
        shown, words, colour = "–", t("style_same", lang), "#555"
    elif n > 0:
        shown, words, colour = f"▲{n}", t("style_up", lang, n=n), "#007a55"
    else:
        shown, words, colour = f"▼{-n}", t("style_down", lang, n=-n), "#b34700"
    return (
        f'<span aria-hidden="true" style="color:{colour}">{shown}</span>'
        f'<span class="sr-only">{_e(words)}</span>'
    )


def _interval(rating: float, lower: float, upper: float) -> str:
    up = f"{upper - rating:.0f}" if math.isfinite(upper) else "—"
    down = f"{rating - lower:.0f}" if math.isfinite(lower) else "—"
    return f"+{up}/-{down}"


def style_table_view(board: StyleBoard, lang: str) -> str:
    """The style-controlled board as a table: rank (UB), its change against the plain rank
    on the same votes, the style-controlled rating and interval, the plain rank and rating,
    win rate and battles; one row per model, best first (``tr[data-change]`` for tests)."""
    if not board.rows:
        return ""
    keys = ("col_rank", "col_style_change", "col_model", "col_rating", "col_ci",
            "col_plain_rank", "col_plain_rating", "col_win_rate", "col_battles")  # fmt: skip
    head = "".join(f'<th scope="col"{_HEAD}>{_e(t(k, lang))}</th>' for k in keys)
    body = []
    for r in board.rows:
        plain = board.plain.get(r.model)
        change = board.change(r.model)
        cells = [
            f"<td>{r.rank}</td>",
            f'<td class="st-change">{rank_change(change, lang)}</td>',
            f'<th scope="row">{_e(r.model)}</th>',
            f"<td>{r.rating:.0f}</td>",
            f"<td>{_interval(r.rating, r.ci_lower, r.ci_upper)}</td>",
            f"<td>{plain.rank if plain else '—'}</td>",
            f"<td>{f'{plain.rating:.0f}' if plain else '—'}</td>",
            f"<td>{r.win_rate:.2f}</td>",
            f"<td>{r.battles:,}</td>",
        ]
        mark = "" if change is None else f' data-change="{change}"'
        body.append(f'<tr data-model="{_e(r.model)}"{mark}>{"".join(cells)}</tr>')
    return (
        f'<figure class="ta-chart" id="style-table-figure">'
        f"<figcaption>{_e(t('style_table_title', lang))}</figcaption>"
        f'<div class="ta-heat-wrap"><table class="ta-heat">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div></figure>"
    )
