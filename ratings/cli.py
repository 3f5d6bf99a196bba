"""Command line: ``python -m ratings fit FILE`` and ``python -m ratings recompute``.

``fit`` reads a battle file of any published layout (:mod:`ratings.io`, through the
shared reader :mod:`ratings.battlefile`), leaves out non-anonymous and flagged rows like
FastChat unless asked to keep them, builds the leaderboard
(:mod:`ratings.leaderboard`) and prints it as a table, or as JSON with
exactly the keys of :data:`ratings.leaderboard.JSON_KEYS` (``ties`` is both
kinds together; an interval end the data cannot bound is ``null``). Notes
(fallbacks, exclusions) go below the table, or to stderr with ``--json``.

``recompute`` belongs to the arena (it reads the database); this module only
hands its arguments to ``arena.recompute.main``.

Exit codes: 0 success, 2 bad arguments, an unreadable file, bad input or a refused fit
(one line on stderr, never a traceback); ``recompute`` adds 1 (database unreachable) and 3
(another run holds the lock), see :func:`arena.recompute.main`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn, TextIO

from ratings.battlefile import SCHEMAS
from ratings.errors import RatingsError
from ratings.io import Reading

if TYPE_CHECKING:
    from ratings.leaderboard import Leaderboard

#: Exit status for bad input or a refused fit.
EXIT_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line as one line on stderr, not the whole usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    from ratings.bt import DEFAULT_PRIOR
    from ratings.leaderboard import DEFAULT_ANCHOR
    from ratings.rate import DEFAULT_LEVEL, DEFAULT_ROUNDS

    parser = _Parser(prog="python -m ratings", description="Bradley-Terry ratings for the arena.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fit = commands.add_parser(
        "fit",
        help="fit ratings to a battle file and print the leaderboard",
        description="Fit Bradley-Terry ratings to the battles of FILE and print the "
        "leaderboard. Rows with anony=false and rows flagged by moderation or toxic-chat "
        "tags are left out and counted, as FastChat does, unless kept with the options below.",
    )
    fit.add_argument("file", metavar="FILE", help="battles: .jsonl, .json, .csv or .parquet")
    fit.add_argument(
        "--schema",
        choices=SCHEMAS,
        help="the file's layout (default: detected from its columns)",
    )
    fit.add_argument("--include-named", action="store_true", help="keep rows with anony=false")
    fit.add_argument(
        "--include-flagged",
        action="store_true",
        help="keep rows flagged by moderation or toxic-chat tags",
    )
    fit.add_argument(
        "--anchor",
        default=DEFAULT_ANCHOR,
        help=f"model pinned at 1000 (default: {DEFAULT_ANCHOR}); if it has no votes the "
        "field mean is put at 1000 instead, with a note",
    )
    fit.add_argument("--ci", choices=("sandwich", "bootstrap"), default="sandwich")
    fit.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="bootstrap rounds (%(default)s)"
    )
    fit.add_argument("--seed", type=int, default=0, help="bootstrap seed (%(default)s)")
    fit.add_argument(
        "--level", type=float, default=DEFAULT_LEVEL, help="interval coverage (%(default)s)"
    )
    fit.add_argument(
        "--prior",
        type=float,
        default=DEFAULT_PRIOR,
        help="virtual ties per model; 0 for the plain MLE (%(default)s)",
    )
    fit.add_argument(
        "--on-disconnected",
        choices=("error", "largest"),
        default="error",
        help="if the models fall into never-compared groups: refuse, or keep the "
        "anchor's (else the largest) group",
    )
    fit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    commands.add_parser(
        "recompute",
        help="recompute the arena's ratings from its database (runs arena.recompute; "
        "--config and --database-url may stand before or after it)",
        add_help=False,
    )
    return parser


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


def _start_reading(argv: list[str]) -> Reading | None:
    """Start reading the file of a ``fit`` command line before the numerics (scipy) are
    imported: the read runs in pyarrow, off the GIL, while they load. The arguments are
    only guessed here; :func:`_fit` reads again if the full parse names another file."""
    if not argv or argv[0] != "fit":
        return None
    guess = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    guess.add_argument("file", nargs="?")
    guess.add_argument("--schema")
    try:
        known, _ = guess.parse_known_args(argv[1:])
    except argparse.ArgumentError:
        return None
    if not known.file:
        return None
    return Reading(known.file, known.schema)


def _fit(args: argparse.Namespace, out: TextIO, err: TextIO, reading: Reading | None = None) -> int:
    import numpy as np

    from ratings.leaderboard import leaderboard_from_counts

    if reading is None or reading.source != (args.file, args.schema):
        reading = Reading(args.file, args.schema)
    try:
        battles = reading.result(
            include_named=args.include_named, include_flagged=args.include_flagged
        )
    except RatingsError:
        raise
    except (OSError, ValueError) as error:  # also a corrupt Parquet file (pyarrow)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise RatingsError(f"cannot read {args.file}: {reason}") from error
    board = leaderboard_from_counts(
        battles.names,
        battles.a_idx,
        battles.b_idx,
        battles.outcome,
        anchor=args.anchor,
        ci=args.ci,
        level=args.level,
        rounds=args.rounds,
        rng=np.random.default_rng(args.seed),
        prior=args.prior,
        on_disconnected=args.on_disconnected,
    )
    notes = []
    if battles.non_anonymous:
        done = "kept" if battles.named_kept else "left out (--include-named keeps them)"
        notes.append(f"{battles.non_anonymous} row(s) with anony=false {done}")
    if battles.flagged:
        done = "kept" if battles.flagged_kept else "left out (--include-flagged keeps them)"
        notes.append(f"{battles.flagged} flagged row(s) (moderation, toxic chat) {done}")
    if notes:
        board = replace(board, notes=(*board.notes, *notes))
    if args.json:
        json.dump(board.to_dicts(), out, indent=2, ensure_ascii=False)
        out.write("\n")
        for note in board.notes:
            print(f"note: {note}", file=err)
    else:
        out.write(format_table(board))
    return 0


#: ``recompute``'s options that may also stand before it, as global options.
GLOBAL_OPTIONS = ("--config", "--database-url")


def _recompute_at(argv: list[str]) -> int | None:
    """The index of ``recompute`` when only global options (with values) stand before it."""
    k = 0
    while k < len(argv):
        if argv[k] == "recompute":
            return k
        if argv[k] in GLOBAL_OPTIONS:
            k += 2
        elif argv[k].partition("=")[0] in GLOBAL_OPTIONS:
            k += 1
        else:
            return None
    return None


def _recompute(argv: Sequence[str], err: TextIO) -> int:
    try:
        module = importlib.import_module("arena.recompute")
    except ImportError as error:
        print(
            "error: `python -m ratings recompute` runs arena.recompute, which could not "
            f"be imported: {error}",
            file=err,
        )
        return EXIT_INPUT
    return int(module.main(list(argv)) or 0)


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.
    out, err : text streams, optional
        Where to write results and errors; stdout and stderr by default.

    Returns
    -------
    int
        Exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    err = err or sys.stderr
    if (split := _recompute_at(argv)) is not None:
        return _recompute(argv[:split] + argv[split + 1 :], err)
    reading = _start_reading(argv)
    args = _parser().parse_args(argv)
    try:
        return _fit(args, out, err, reading)
    except RatingsError as error:
        print(f"error: {error}", file=err)
        return EXIT_INPUT
