"""The leaderboard's charts as plain HTML: an interval plot and two heatmaps.

Gradio's native plots have neither error bars nor heatmaps, and matplotlib/plotly are
not dependencies; HTML built here needs no plotting library, renders at once, stays
readable on a phone (text keeps its size, wide tables scroll inside their box), and is
readable by screen readers (every mark has its figures as text). Every name is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, tzinfo

import numpy as np

from arena.db.stats import BoardRow, PairTable
from arena.ui.i18n import t

#: Heatmaps show at most this many models (the best-rated), so they stay legible.
HEATMAP_MODELS = 20


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _nice_range(lo: float, hi: float) -> tuple[float, float, float]:
    """An axis range enclosing [lo, hi] (finite) with a round tick step."""
    span = max(hi - lo, 1.0)
    raw = span / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step


def _ends(r: BoardRow, lang: str) -> str:
    """``lo–hi`` with an open end in words (a model that never lost has no upper bound)."""
    lo = f"{r.ci_lower:.0f}" if math.isfinite(r.ci_lower) else t("ci_open_low", lang)
    hi = f"{r.ci_upper:.0f}" if math.isfinite(r.ci_upper) else t("ci_open_high", lang)
    return f"{lo}–{hi}"


def interval_plot(rows: Sequence[BoardRow], lang: str) -> str:
    """Ratings with their confidence intervals, one line per model (the seed's figure).

    An interval end the data cannot bound (a model that never lost, or never won) runs
    to the edge of the axis and ends in an arrow.
    """
    if not rows:
        return ""
    finite = [v for r in rows for v in (r.rating, r.ci_lower, r.ci_upper) if math.isfinite(v)]
    lo, hi, step = _nice_range(min(finite), max(finite))
    open_lo = any(not math.isfinite(r.ci_lower) for r in rows)
    open_hi = any(not math.isfinite(r.ci_upper) for r in rows)
    lo, hi = lo - step * open_lo, hi + step * open_hi  # room for the arrows

    def pct(x: float) -> float:
        return round(100 * (min(max(x, lo), hi) - lo) / (hi - lo), 2)

    ticks = []
    x = lo
    while x <= hi + 1e-9:
        ticks.append(f'<span class="ta-tick" style="left:{pct(x)}%">{x:g}</span>')
        x += step
    lines = []
    for r in rows:
        label = f"{r.model}: {r.rating:.0f} ({_ends(r, lang)})"
        arrows = ""
        if not math.isfinite(r.ci_lower):
            arrows += '<span class="ta-iv-open ta-iv-open-low">◀</span>'
        if not math.isfinite(r.ci_upper):
            arrows += '<span class="ta-iv-open ta-iv-open-high">▶</span>'
        lines.append(
            f'<li class="ta-iv-row" aria-label="{_e(label)}">'
            f'<span class="ta-iv-name">{_e(r.model)}</span>'
            f'<span class="ta-iv-track" aria-hidden="true">'
            f'<span class="ta-iv-bar" style="left:{pct(r.ci_lower)}%;'
            f'width:{max(pct(r.ci_upper) - pct(r.ci_lower), 0.3)}%"></span>{arrows}'
            f'<span class="ta-iv-dot" style="left:{pct(r.rating)}%"></span></span>'
            f'<span class="ta-iv-value">{r.rating:.0f}</span></li>'
        )
    title = t("chart_ratings", lang)
    note = f'<p class="ta-note">{_e(t("chart_open_end", lang))}</p>' if open_lo or open_hi else ""
    return (
        f'<figure class="ta-chart" id="chart-ratings" aria-label="{_e(title)}">'
        f"<figcaption>{_e(title)}</figcaption>"
        f'<ol class="ta-iv">{"".join(lines)}</ol>'
        f'<div class="ta-iv-axis" aria-hidden="true"><span class="ta-iv-name"></span>'
        f'<span class="ta-iv-track">{"".join(ticks)}</span>'
        f'<span class="ta-iv-value"></span></div>'
        f'<div class="ta-axis-title">{_e(t("axis_rating", lang))}</div>{note}</figure>'
    )


#: Line colours of the history chart (colour-blind safe, Okabe-Ito, then greys).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
           "#000000", "#F0E442", "#777777", "#999933")  # fmt: skip


def history_chart(points: Sequence[tuple[datetime, str, float]], lang: str, zone: tzinfo) -> str:
    """Each model's rating over past runs as an SVG line chart.

    Times are shown in ``zone`` (JST by default) as month/day and 24-hour clock.
    """
    times = sorted({at for at, *_ in points})
    if len(times) < 2:
        return ""
    models = list(dict.fromkeys(m for _, m, _ in points))
    values = [v for *_, v in points if math.isfinite(v)]
    lo, hi, step = _nice_range(min(values), max(values))
    width, height, left, right, top, bottom = 720, 300, 56, 16, 12, 56
    t0, t1 = times[0].timestamp(), times[-1].timestamp()

    def px(at: datetime) -> float:
        return left + (width - left - right) * (at.timestamp() - t0) / (t1 - t0)

    def py(v: float) -> float:
        return top + (height - top - bottom) * (hi - v) / (hi - lo)

    parts = []
    y = lo
    while y <= hi + 1e-9:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" '
            f'class="ta-grid"/><text x="{left - 6}" y="{py(y) + 4:.1f}" '
            f'text-anchor="end">{y:g}</text>'
        )
        y += step
    shown = times if len(times) <= 6 else [times[round(k * (len(times) - 1) / 5)] for k in range(6)]
    for at in shown:
        local = at.astimezone(zone)
        parts.append(
            f'<text x="{px(at):.1f}" y="{height - bottom + 18}" text-anchor="middle">'
            f'{local:%m/%d}</text><text x="{px(at):.1f}" y="{height - bottom + 34}" '
            f'text-anchor="middle">{local:%H:%M}</text>'
        )
    zone_name = times[-1].astimezone(zone).strftime("%Z")
    axis = t("axis_run_zone", lang, zone=zone_name)
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 4}" text-anchor="middle">'
        f"{_e(axis)}</text>"
    )
    legend = []
    for k, model in enumerate(models):
        color = PALETTE[k % len(PALETTE)]
        mine = sorted((at, v) for at, m, v in points if m == model and math.isfinite(v))
        path = " ".join(f"{px(at):.1f},{py(v):.1f}" for at, v in mine)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.extend(
            f'<circle cx="{px(at):.1f}" cy="{py(v):.1f}" r="3" fill="{color}">'
            f"<title>{_e(model)} {at.astimezone(zone):%m/%d %H:%M} {v:.0f}</title></circle>"
            for at, v in mine
        )
        legend.append(
            f'<li><span class="ta-swatch" style="background:{color}"></span>{_e(model)}</li>'
        )
    title = t("chart_history", lang)
    return (
        f'<figure class="ta-chart" id="chart-history" aria-label="{_e(title)}">'
        f"<figcaption>{_e(title)}</figcaption>"
        f'<svg class="ta-history" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(title)}">{"".join(parts)}</svg>'
        f'<ul class="ta-legend">{"".join(legend)}</ul>'
        f'<div class="ta-axis-title">{_e(t("axis_rating", lang))}</div></figure>'
    )


def _diverging(v: float) -> str:
    """Blue (0) - white (0.5) - red (1) for a win fraction."""
    d = max(-1.0, min(1.0, (v - 0.5) * 2))
    if d >= 0:
        r, g, b = 255, round(255 - 150 * d), round(255 - 170 * d)
    else:
        r, g, b = round(255 + 170 * d), round(255 + 110 * d), 255
    return f"rgb({r},{g},{b})"


def _sequential(v: float, top: float) -> str:
    """White to deep green for a count."""
    d = 0.0 if top <= 0 else math.sqrt(v / top)
    return f"rgb({round(255 - 150 * d)},{round(255 - 70 * d)},{round(255 - 140 * d)})"


def heatmap(table: PairTable, kind: str, lang: str, total_models: int, elem_id: str) -> str:
    """A models x models table coloured by win fraction (``kind="winfrac"``) or count."""
    models = table.models
    if not models:
        return ""
    values = table.fraction if kind == "winfrac" else table.battles
    top = float(np.nanmax(table.battles)) if table.battles.size else 0.0
    head = "".join(f'<th scope="col"><span>{_e(m)}</span></th>' for m in models)
    body = []
    for i, row_model in enumerate(models):
        cells = []
        for j, col_model in enumerate(models):
            v = float(values[i, j])
            if i == j:
                cells.append('<td class="ta-diag" aria-label="—"></td>')
            elif kind == "winfrac" and math.isnan(v):
                cells.append(f'<td class="ta-none">{_e(t("no_battles", lang))}</td>')
            else:
                color = _diverging(v) if kind == "winfrac" else _sequential(v, top)
                text = f"{v:.2f}" if kind == "winfrac" else f"{v:.0f}"
                tip = f"{row_model} / {col_model}: {text}"
                cells.append(f'<td style="background:{color}" title="{_e(tip)}">{text}</td>')
        body.append(f'<tr><th scope="row">{_e(row_model)}</th>{"".join(cells)}</tr>')
    title = t("chart_winfrac" if kind == "winfrac" else "chart_counts", lang)
    note = ""
    if total_models > len(models):
        note = (
            f'<p class="ta-note">{_e(t("chart_top", lang, n=len(models), total=total_models))}</p>'
        )
    corner = f"{_e(t('heat_row', lang))} / {_e(t('heat_col', lang))}"
    return (
        f'<figure class="ta-chart" id="{elem_id}-figure">'
        f"<figcaption>{_e(title)}</figcaption>{note}"
        f'<div class="ta-heat-wrap"><table class="ta-heat">'
        f'<thead><tr><th scope="col" class="ta-corner">{corner}</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div></figure>"
    )


def overlap_groups(rows: Sequence[BoardRow], min_size: int = 3) -> list[list[str]]:
    """Runs of consecutive models (by rating) whose intervals all overlap each other.

    A group of ``min_size`` or more says those ranks cannot be told apart.
    """
    groups: list[list[str]] = []
    ordered = sorted(rows, key=lambda r: -r.rating)
    start = 0
    for end in range(1, len(ordered) + 1):
        if end == len(ordered) or ordered[end].ci_upper < ordered[start].ci_lower:
            if end - start >= min_size:
                groups.append([r.model for r in ordered[start:end]])
            start = end
    return groups
