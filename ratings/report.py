"""What ``python -m ratings fit`` prints: the board as a text table, and the
style-controlled and Davidson boards, as text or JSON.

``--style-control`` and ``--ties davidson`` print the board of their fit
(:mod:`ratings.style`, :mod:`ratings.ties`) with each model's plain rating and rank
beside it, then what only that fit has: the style coefficients with their intervals, or
the tie parameter and the likelihood comparison with the half-win coding. With ``--json``
the same numbers come as one object (the rows with the keys of
:data:`ratings.leaderboard.JSON_KEYS` plus ``plain_rating`` and ``plain_rank``); the notes
go to stderr, as for the plain board.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ratings.counts import aggregate
from ratings.io import BattleArrays
from ratings.leaderboard import Leaderboard, build_leaderboard
from ratings.rate import RatingFit


def _number(value: float, digits: int = 1) -> str:
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def format_table(board: Leaderboard) -> str:
    """Render a leaderboard as a fixed-width text table with its notes.

    Parameters
    ----------
    board : Leaderboard
        The table to render.

    Returns
    -------
    str
        Lines of text, ending with a newline.
    """
    headers = ["Rank", "Model", "Rating", f"{board.level:.0%} CI", "Battles", "Wins"]
    headers += ["Ties", "(both bad)", "Losses", "Win rate", *board.external_columns]
    body = [
        [
            str(row.rank),
            row.model,
            _number(row.rating),
            f"{_number(row.ci_lower)} .. {_number(row.ci_upper)}",
            str(row.battles),
            str(row.wins),
            str(row.ties),
            str(row.ties_bothbad),
            str(row.losses),
            f"{row.win_rate:.3f}",
            *(str(row.external.get(column, "")) for column in board.external_columns),
        ]
        for row in board.rows
    ]
    widths = [max(len(line[k]) for line in [headers, *body]) for k in range(len(headers))]
    lines = []
    for line in [headers, *body]:
        cells = [
            cell.ljust(width) if k == 1 else cell.rjust(width)
            for k, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    notes = [f"note: {note}" for note in board.notes]
    notes += [f"note: {row.model}: {row.note}" for row in board.rows if row.note]
    return "\n".join([*lines, *(["", *notes] if notes else [])]) + "\n"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _board(
    battles: BattleArrays,
    result: RatingFit,
    plain: Leaderboard,
    anchor: str | None,
    notes: Sequence[str],
) -> Leaderboard:
    counts = aggregate(battles.a_idx, battles.b_idx, battles.outcome, len(battles.names))
    if anchor is not None and anchor not in battles.names and result.rating.size:
        result = replace(result, anchor_fallback="no-votes")  # as leaderboard_from_counts
    beside = {
        row.model: {"plain rating": f"{row.rating:.1f}", "plain rank": row.rank}
        for row in plain.rows
    }
    board = build_leaderboard(
        battles.names,
        counts,
        result,
        anchor=anchor,
        anchor_rating=plain.anchor_rating,
        external=beside,
    )
    return replace(board, notes=(*board.notes, *notes))


def _rows(board: Leaderboard, plain: Leaderboard) -> list[dict[str, object]]:
    by_model = {row.model: row for row in plain.rows}
    out = []
    for row in board.rows:
        item = row.to_dict()
        other = by_model.get(row.model)
        item["plain_rating"] = None if other is None else other.rating
        item["plain_rank"] = None if other is None else other.rank
        out.append(item)
    return out


def write_json(document: object, board: Leaderboard, *, out: TextIO, err: TextIO) -> int:
    """What ``--json`` prints: ``document`` as indented JSON to ``out``, the board's notes
    to ``err``.

    Parameters
    ----------
    document : object
        The JSON value (the rows, and what only that fit has).
    board : Leaderboard
        The board whose notes go to ``err``.
    out, err : text streams
        Where the document and the notes go.

    Returns
    -------
    int
        Exit status 0.
    """
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")
    for note in board.notes:
        print(f"note: {note}", file=err)
    return 0


def style_board(
    path: str | Path,
    battles: BattleArrays,
    plain: Leaderboard,
    *,
    anchor: str | None,
    level: float,
    prior: float,
    on_disconnected: str,
    notes: Sequence[str],
    out: TextIO,
    err: TextIO,
    as_json: bool,
) -> int:
    """Fit with style control and print the board and the coefficients.

    Parameters
    ----------
    path : str or Path
        The battle file (read again for the answers' style counts).
    battles : BattleArrays
        Its kept rows.
    plain : Leaderboard
        The plain board of the same rows (its ratings and ranks go beside).
    anchor, level, prior, on_disconnected
        As for :func:`ratings.style.fit_style` (``anchor`` by name).
    notes : sequence of str
        Notes to add (rows left out of the file).
    out, err : text streams
        Where the board and the notes go.
    as_json : bool
        JSON instead of a table.

    Returns
    -------
    int
        Exit status 0.
    """
    from ratings.style import STYLE_FEATURES, fit_style, normalised_differences
    from ratings.style_features import read_style_counts

    counts = read_style_counts(path, battles)
    names = battles.names
    fit = fit_style(
        battles.a_idx,
        battles.b_idx,
        battles.outcome,
        normalised_differences(counts.a, counts.b),
        n_models=len(names),
        anchor=names.index(anchor) if anchor in names else None,
        feature_names=STYLE_FEATURES,
        level=level,
        prior=prior,
        on_disconnected=on_disconnected,  # type: ignore[arg-type]
    )
    source = (
        f"style counts: {counts.from_metadata} row(s) from conv_metadata, "
        f"{counts.from_text} from the conversations (tokens estimated as ceil(bytes / 3) "
        "where a message has no num_tokens)"
    )
    held = (
        "style control: ratings with answer length, headers, lists and bold held equal "
        "(normalised differences (a - b) / (a + b + 1), standardised)"
    )
    board = _board(battles, fit.ratings, plain, anchor, [*notes, held, source])
    if as_json:
        document = {
            "ratings": _rows(board, plain),
            "style": {
                "level": fit.ratings.level,
                "battles": fit.battles,
                "coefficients": [
                    {
                        "feature": name,
                        "coef": _finite(float(fit.coef[k])),
                        "ci_lower": _finite(float(fit.coef_lower[k])),
                        "ci_upper": _finite(float(fit.coef_upper[k])),
                        "se": _finite(float(fit.coef_se[k])),
                        "rating_points": _finite(float(fit.coef_elo[k])),
                        "feature_mean": float(fit.feature_mean[k]),
                        "feature_std": float(fit.feature_std[k]),
                    }
                    for k, name in enumerate(fit.features)
                ],
                "from_conv_metadata": counts.from_metadata,
                "from_conversations": counts.from_text,
            },
        }
        return write_json(document, board, out=out, err=err)
    out.write(format_table(board))
    out.write(
        f"\nstyle coefficients (log-odds of winning per standard deviation of the feature, "
        f"{fit.ratings.level:.0%} sandwich interval; in rating points):\n"
    )
    width = max(len(name) for name in fit.features)
    for k, name in enumerate(fit.features):
        if math.isnan(fit.coef[k]):
            out.write(f"  {name:<{width}}  not estimated: the feature never varied\n")
            continue
        out.write(
            f"  {name:<{width}}  {fit.coef[k]:+.4f}  ({fit.coef_lower[k]:+.4f} .. "
            f"{fit.coef_upper[k]:+.4f})  {fit.coef_elo[k]:+.1f} points\n"
        )
    return 0


def davidson_board(
    battles: BattleArrays,
    plain: Leaderboard,
    *,
    anchor: str | None,
    level: float,
    prior: float,
    on_disconnected: str,
    notes: Sequence[str],
    out: TextIO,
    err: TextIO,
    as_json: bool,
) -> int:
    """Fit the Davidson tie model and print its board, ``nu`` and the comparison.

    Parameters are those of :func:`style_board` without the file.

    Returns
    -------
    int
        Exit status 0.
    """
    from ratings.ties import fit_davidson

    names = battles.names
    fit = fit_davidson(
        battles.a_idx,
        battles.b_idx,
        battles.outcome,
        n_models=len(names),
        anchor=names.index(anchor) if anchor in names else None,
        level=level,
        prior=prior,
        on_disconnected=on_disconnected,  # type: ignore[arg-type]
    )
    held = (
        "ties: Davidson model (a tie is its own outcome, most likely between equals; both "
        "kinds of tie are ties)"
    )
    board = _board(battles, fit.ratings, plain, anchor, [*notes, held])
    c = fit.comparison
    if as_json:
        document = {
            "ratings": _rows(board, plain),
            "ties": {
                "model": "davidson",
                "nu": fit.nu,
                "ci_lower": fit.nu_lower,
                "ci_upper": fit.nu_upper,
                "tie_between_equals": fit.tie_between_equals,
            },
            "comparison": {
                "votes": c.votes,
                "tie_share": c.tie_share,
                "parameters": c.parameters,
                "log_likelihood_davidson": c.davidson,
                "log_likelihood_half_win": c.half_win,
                "aic_davidson": c.aic_davidson,
                "aic_half_win": c.aic_half_win,
                "better": c.better,
            },
        }
        return write_json(document, board, out=out, err=err)
    out.write(format_table(board))
    out.write(
        f"\ntie parameter nu = {fit.nu:.4f} ({fit.nu_lower:.4f} .. {fit.nu_upper:.4f}, "
        f"{fit.ratings.level:.0%}); a tie between equals: {fit.tie_between_equals:.1%}\n\n"
    )
    out.write("\n".join(c.lines()) + "\n")
    return 0
