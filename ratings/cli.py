"""Command line: ``python -m ratings fit FILE`` and ``python -m ratings recompute``.

``fit`` reads a battle file of any published layout (:mod:`ratings.io`, through the
shared reader :mod:`ratings.battlefile`), leaves out non-anonymous and flagged rows like
FastChat unless asked to keep them, builds the leaderboard
(:mod:`ratings.leaderboard`) and prints it as a table, or as JSON with
exactly the keys of :data:`ratings.leaderboard.JSON_KEYS` (``ties`` is both
kinds together; an interval end the data cannot bound is ``null``). Notes
(fallbacks, exclusions) go below the table, or to stderr with ``--json``.

``--style-control`` fits with style control instead (:mod:`ratings.style`, the answers'
style counts from ``conv_metadata`` or the conversations, :mod:`ratings.style_features`)
and prints the coefficients too; ``--ties davidson`` fits the Davidson tie model
(:mod:`ratings.ties`) and prints its likelihood against the half-win coding. Both print
each model's plain rating and rank beside (:mod:`ratings.report`).

``recompute`` belongs to the arena (it reads the database): ``python -m ratings
recompute ARGS`` is only an alias of ``python -m arena recompute ARGS``, run as the module
``arena.recompute`` looked up when the command runs; nothing in ``ratings`` imports
``arena``.

Exit codes: 0 success, 2 bad arguments, an unreadable file, bad input or a refused fit
(one line on stderr, never a traceback); ``recompute`` adds 1 (database unreachable) and 3
(another run holds the lock), see ``arena.recompute``.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import NoReturn, TextIO

from ratings.battlefile import SCHEMAS
from ratings.errors import DisconnectedGraphError, RatingsError
from ratings.io import Reading

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
    fit.add_argument(
        "--style-control",
        action="store_true",
        help="hold answer length, headers, lists and bold equal (LMArena's style control; "
        "counts from conv_metadata, else from the conversations) and print the style "
        "coefficients; sandwich intervals only",
    )
    fit.add_argument(
        "--ties",
        choices=("half-win", "davidson"),
        default="half-win",
        help="a tie counts half a win (%(default)s), or is its own outcome (davidson: "
        "prints its likelihood against the half-win coding); sandwich intervals only",
    )
    fit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    commands.add_parser(
        "recompute",
        help="recompute the arena's ratings from its database: an alias of `python -m "
        "arena recompute` (--config and --database-url may stand before or after it)",
        usage="%(prog)s [the options of python -m arena recompute]",
        description="An alias of `python -m arena recompute`: the same options, report and "
        "exit codes (see its --help).",
        add_help=False,
    )
    return parser


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
    notes = []
    if battles.non_anonymous:
        done = "kept" if battles.named_kept else "left out (--include-named keeps them)"
        notes.append(f"{battles.non_anonymous} row(s) with anony=false {done}")
    if battles.flagged:
        done = "kept" if battles.flagged_kept else "left out (--include-flagged keeps them)"
        notes.append(f"{battles.flagged} flagged row(s) (moderation, toxic chat) {done}")
    joint = args.style_control or args.ties == "davidson"
    board = leaderboard_from_counts(
        battles.names,
        battles.a_idx,
        battles.b_idx,
        battles.outcome,
        anchor=args.anchor,
        ci="sandwich" if joint else args.ci,
        level=args.level,
        rounds=args.rounds,
        rng=np.random.default_rng(args.seed),
        prior=args.prior,
        on_disconnected=args.on_disconnected,
    )
    if joint:
        from ratings import report

        options = {
            "anchor": args.anchor,
            "level": args.level,
            "prior": args.prior,
            "on_disconnected": args.on_disconnected,
            "notes": notes,
            "out": out,
            "err": err,
            "as_json": args.json,
        }
        if args.style_control:
            return report.style_board(args.file, battles, board, **options)
        return report.davidson_board(battles, board, **options)
    if notes:
        board = replace(board, notes=(*board.notes, *notes))
    if args.json:
        json.dump(board.to_dicts(), out, indent=2, ensure_ascii=False)
        out.write("\n")
        for note in board.notes:
            print(f"note: {note}", file=err)
    else:
        from ratings.report import format_table

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
    """Run ``arena.recompute`` as ``python -m arena.recompute ARGV`` would (found on the
    path when called; ``ratings`` never imports ``arena``)."""
    saved = sys.argv
    sys.argv = ["python -m ratings recompute", *argv]
    try:
        with warnings.catch_warnings():  # arena.recompute imported already (by a test)
            warnings.filterwarnings("ignore", "'arena.recompute' found in sys.modules")
            runpy.run_module("arena.recompute", run_name="__main__", alter_sys=True)
    except ImportError as error:
        print(
            "error: `python -m ratings recompute` is an alias of `python -m arena.recompute`, "
            f"which could not be found: {error}",
            file=err,
        )
        return EXIT_INPUT
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_INPUT)
    finally:
        sys.argv = saved
    return 0


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
    parser = _parser()
    args = parser.parse_args(argv)
    if args.style_control and args.ties == "davidson":
        parser.error("--style-control and --ties davidson are separate fits; choose one")
    if (args.style_control or args.ties == "davidson") and args.ci == "bootstrap":
        parser.error("--style-control and --ties davidson have sandwich intervals only")
    try:
        return _fit(args, out, err, reading)
    except DisconnectedGraphError as error:
        print(f"error: {error}; --on-disconnected largest rates only the anchor's piece (else"
              " the largest)", file=err)  # fmt: skip
        return EXIT_INPUT
    except RatingsError as error:
        print(f"error: {error}", file=err)
        return EXIT_INPUT
