"""``python -m arena ...``: the admin's command line.

export, import, gallery (battles side by side for publication), hash-password, doctor
(is every model usable?), categorise (tag battles with their prompt language and
categories: arena.categories), and the console
actions (battles, show, void, unvoid, enable-model, disable-model, today, delete-voter)
for operators who prefer a terminal to the admin page. Every console action is audited as
``cli:USER``. Settings come from arena.toml / ARENA_* / DATABASE_URL, as for the app.

``recompute`` is the ratings' own command line, :func:`arena.recompute.main` (the nightly
job's command): its options are parsed by that one parser, so ``python -m arena
recompute``, ``python -m arena.recompute`` and ``python -m ratings recompute`` take the
same options, print the same report and exit with the same codes (3: busy).

``--config`` and ``--database-url`` may stand before or after the command. Every command
but ``import`` only reads an existing database: a SQLite URL whose file does not exist is
refused (exit 1) instead of creating an empty database.

Every error is one line on stderr, never a traceback. Exit codes (docs/admin.md lists
each case): 0 done; 1 the database cannot be reached, opened or failed (the line names its
URL, password hidden); 2 refused (bad arguments, configuration, an ARENA_EXPORT_SALT shorter
than 16 characters, an export target that exists or is not a regular file, a file that cannot
be read or written, an unknown battle/model/voter, an import rolled back, a model doctor found
unusable).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from arena.cli_commands import (
    run_console_command,
    run_doctor,
    run_export,
    run_gallery,
    run_hash_password,
    run_import,
)
from arena.cli_common import (
    EXIT_DATABASE,
    EXIT_OK,
    EXIT_REFUSED,
    OneLineParser,
    database_failure,
    fail,
    missing_sqlite_file,
    one_line_error,
    positive,
)
from arena.errors import ArenaError

__all__ = [  # the shared parts live in arena.cli_common; app.py and recompute name them here
    "EXIT_DATABASE",
    "EXIT_OK",
    "EXIT_REFUSED",
    "OneLineParser",
    "database_failure",
    "main",
    "missing_sqlite_file",
    "one_line_error",
]


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m arena", description="Tanuki Arena admin commands.")
    _global_options(p, None)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("export", help="export votes (public Chatbot Arena schema)")
    e.add_argument(
        "--format",
        choices=("jsonl", "json", "csv", "parquet"),
        required=True,
        help="jsonl: one object a line; json: one array (FastChat's command line); csv: "
        "lists and objects as JSON text; parquet",
    )
    e.add_argument("--out", required=True, help="output file; FILE.manifest.json goes next to it")
    e.add_argument(
        "--card",
        metavar="PATH",
        help="where the dataset card goes (default: README.md beside the output file)",
    )
    e.add_argument("--no-card", action="store_true", help="write no dataset card")
    e.add_argument(
        "--force",
        action="store_true",
        help="replace FILE and its manifest if they exist (regular files only, never a "
        "symbolic link or device)",
    )
    e.add_argument("--since", help="votes from this date/time (UTC, YYYY-MM-DD or ISO)")
    e.add_argument("--until", help="votes before this time; a bare date includes that day")
    e.add_argument("--models", help="comma-separated: battles between these models only")
    e.add_argument("--include-named", action="store_true", help="also named-mode battles")
    e.add_argument("--include-flagged", action="store_true", help="also flagged battles")
    e.add_argument("--include-voided", action="store_true", help="also voided votes")
    e.add_argument(
        "--no-conversations",
        action="store_true",
        help="leave conversations out (and the volunteers' comments with them)",
    )
    bar = e.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", default=None, help="always show progress")
    bar.add_argument("--no-progress", dest="progress", action="store_false")

    i = sub.add_parser(
        "import",
        help="import a battle file (JSONL, JSON, CSV, Parquet; FastChat, LMArena or compar:IA "
        "layout)",
    )
    i.add_argument("file")
    i.add_argument("--format", choices=("jsonl", "json", "csv", "parquet"))
    i.add_argument(
        "--schema",
        choices=("fastchat", "lmarena", "comparia"),
        help="the file's layout (default: detected from its columns)",
    )
    i.add_argument("--strict", action="store_true", help="refuse the file if any row is broken")
    i.add_argument("--dry-run", action="store_true", help="check and roll back")
    i.add_argument(
        "--bulk",
        action=argparse.BooleanOptionalAction,
        help="drop and rebuild the indexes around the load (default: when the database has "
        "no battles; on PostgreSQL it locks the tables until the commit)",
    )
    i.add_argument(
        "--columnar",
        action=argparse.BooleanOptionalAction,
        help="check blocks of JSON lines as arrays (default: for JSON lines of FastChat's "
        "layout; --no-columnar checks every row one by one, slower, the same rows stored)",
    )
    i.add_argument("--json", action="store_true", help="print the report as JSON")

    g = sub.add_parser(
        "gallery",
        help="write chosen battles side by side for publication: OUT.html and OUT.md",
    )
    g.add_argument("--out", required=True, help="OUT.html and OUT.md are written")
    g.add_argument("--battles", help="comma-separated battle ids (default: at random per pair)")
    g.add_argument("--per-pair", type=positive, default=1, help="battles per model pair")
    g.add_argument("--models", help="comma-separated: battles between these models only")
    g.add_argument("--seed", type=int, default=0, help="for the random choice (%(default)s)")
    g.add_argument("--lang", choices=("ja", "en"), default="ja", help="labels' language")
    g.add_argument("--force", action="store_true", help="replace OUT.html and OUT.md")

    h = sub.add_parser("hash-password", help="hash an admin password for ARENA_ADMIN_USERS")
    h.add_argument("--user", help="print USER:HASH, ready for ARENA_ADMIN_USERS")
    h.add_argument("--iterations", type=positive, default=600_000)

    b = sub.add_parser("battles", help="list battles (JSON)")
    b.add_argument("--model")
    b.add_argument("--since")
    b.add_argument("--until")
    for flag in ("flagged", "failed", "voted"):
        b.add_argument(f"--{flag}", choices=("yes", "no"))
    b.add_argument("--limit", type=positive, default=50)
    sub.add_parser("show", help="one battle with its conversation (JSON)").add_argument("battle")
    v = sub.add_parser("void", help="leave a vote out of the ratings")
    v.add_argument("battle")
    v.add_argument("--reason", required=True)
    sub.add_parser("unvoid", help="count a voided vote again").add_argument("battle")
    sub.add_parser("enable-model", help="let a model into new battles").add_argument("model")
    sub.add_parser("disable-model", help="keep a model out of new battles").add_argument("model")
    sub.add_parser("today", help="today's figures (JSON)")
    d = sub.add_parser("delete-voter", help="delete a voter's data (judge id or token)")
    d.add_argument("voter")
    sub.add_parser(  # its options are arena.recompute's: parsed there (see main)
        "recompute",
        add_help=False,
        help="recompute the ratings now and store a rating run (the nightly job; options: "
        "python -m arena recompute --help)",
    )
    sub.add_parser(
        "rotate-export-salt",
        help="replace the export salt stored in the database: later exports give every voter "
        "a new judge id (prints the previous salt)",
    )
    c = sub.add_parser(
        "categorise",
        help="tag the battles not tagged yet (e.g. imported ones) with their prompt language "
        "and categories (arena/categories.py); prints how many",
    )
    c.add_argument("--all", action="store_true", help="tag every battle again (new rules)")
    dr = sub.add_parser("doctor", help="check each enabled model: its API key, and that it answers")
    dr.add_argument("--probe", action="store_true", help="ask each model for a one-token answer")
    for name, command in sub.choices.items():
        if name != "hash-password":  # the only command that reads neither file nor database
            _global_options(command, argparse.SUPPRESS)
    return p


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """``--config`` and ``--database-url``, accepted before or after the command: on the
    commands' parsers with ``SUPPRESS`` as default, so a value given after the command
    replaces one given before it, and their absence keeps it."""
    parser.add_argument(
        "--config",
        default=default,
        metavar="FILE",
        help="arena.toml (default: $ARENA_CONFIG or ./arena.toml)",
    )
    parser.add_argument(
        "--database-url",
        default=default,
        metavar="URL",
        help="SQLAlchemy URL (default: DATABASE_URL, else arena.toml, else sqlite:///arena.db)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit code. Errors are one line on stderr."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "recompute":
        return _recompute(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "hash-password":
        try:
            return run_hash_password(args)
        except ArenaError as exc:
            return fail(str(exc), EXIT_REFUSED)
    from arena.admin import AdminConsole
    from arena.config import load_settings
    from arena.db import make_engine, migrate

    try:
        settings = load_settings(args.config)
    except ArenaError as exc:
        return fail(f"configuration: {exc}", EXIT_REFUSED)
    if args.command == "doctor":  # needs no database
        return run_doctor(args, settings)
    url = args.database_url or os.environ.get("DATABASE_URL") or settings.database_url
    if args.command != "import" and (missing := missing_sqlite_file(url)):
        return fail(missing, EXIT_DATABASE)  # only an import may start a new database
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError) as exc:  # not a URL, or its driver is not installed
        return fail(database_failure(url, exc), EXIT_REFUSED)
    except OSError as exc:  # the SQLite file's folder cannot be made
        return fail(database_failure(url, exc), EXIT_DATABASE)
    # The export reads PostgreSQL through the driver's own cursor: its errors come unwrapped.
    database_errors = (SQLAlchemyError, engine.dialect.loaded_dbapi.Error)
    try:
        migrate(engine)
        console = AdminConsole(settings, engine)
        if args.command in ("export", "import"):
            # A batch run whose many rows hold no reference cycles (reference counting
            # frees them): run the cyclic collector rarely, and never over start-up objects.
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
        if args.command == "export":
            return run_export(args, console)
        if args.command == "import":
            return run_import(args, console)
        if args.command == "gallery":
            return run_gallery(args, console)
        if args.command == "categorise":
            from arena.categories import tag_untagged

            with engine.begin() as conn:
                print(json.dumps({"tagged": tag_untagged(conn, retag=args.all)}))
            return EXIT_OK
        result = run_console_command(args, console)
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return EXIT_OK
    except ArenaError as exc:
        return fail(str(exc), EXIT_REFUSED)
    except database_errors as exc:
        return fail(database_failure(url, exc), EXIT_DATABASE)
    except OSError as exc:  # a file named on the command line
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"{where}{exc.strerror or exc}", EXIT_REFUSED)
    finally:
        engine.dispose()


def _recompute(args: argparse.Namespace, rest: list[str]) -> int:
    """``python -m arena recompute``: :func:`arena.recompute.main` on the options after the
    command, with ``--config`` and ``--database-url`` wherever they stood."""
    from arena.recompute import main as recompute_main

    given = [
        *(("--config", args.config) if args.config is not None else ()),
        *(("--database-url", args.database_url) if args.database_url is not None else ()),
    ]
    return recompute_main([*given, *rest])
