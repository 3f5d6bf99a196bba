"""``python -m arena ...``: the admin's command line.

export, import, gallery (battles side by side for publication), hash-password, doctor
(is every model usable?), and the console
actions (battles, show, void, unvoid, enable-model, disable-model, today, delete-voter,
recompute) for operators who prefer a terminal to the admin page. Every action is
audited as ``cli:USER``. Settings come from arena.toml / ARENA_* / DATABASE_URL, as for the app.

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
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from arena.errors import ArenaError

EXIT_OK, EXIT_DATABASE, EXIT_REFUSED = 0, 1, 2


def one_line_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """Report a bad command line as one line on stderr (not the whole usage); exit 2."""
    parser.exit(EXIT_REFUSED, f"{parser.prog}: error: {message} (see --help)\n")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser (and subcommand parsers) whose errors are one line."""

    def error(self, message: str) -> NoReturn:
        one_line_error(self, message)


def database_failure(url: str, exc: BaseException) -> str:
    """One line for a database that cannot be reached or used: its URL, password hidden,
    and the first line of the driver's reason (with the password, should it be there,
    hidden too)."""
    try:
        parsed = make_url(url)
        shown, password = parsed.render_as_string(hide_password=True), parsed.password
    except ArgumentError:
        shown, password = "(not a valid database URL)", None
    cause = getattr(exc, "orig", None) or exc  # a DBAPIError keeps the driver's error
    if isinstance(cause, OSError) and cause.strerror:
        text = f"{cause.strerror}: {cause.filename}" if cause.filename else cause.strerror
    else:
        text = str(cause)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[0] if lines else type(cause).__name__
    if password:
        reason = reason.replace(str(password), "***")
    return f"cannot use the database {shown}: {reason}"


def _fail(message: str, code: int) -> int:
    """Print ``error: message`` as one line on stderr; return ``code``."""
    print("error: " + " ".join(message.split("\n")), file=sys.stderr)
    return code


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {value!r}")
    return number


class ProgressBar:
    """A one-line progress bar on a terminal stream, redrawn at most 10 times a second."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.label, self.stream, self.enabled = label, stream, enabled
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.1 and done != total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if total:
            frac = min(done / total, 1.0)
            bar = "#" * int(frac * 30)
            eta = (total - done) / rate if rate else 0
            text = (
                f"{self.label} {frac:4.0%} |{bar:<30}| {done}/{total} rows "
                f"{rate:,.0f} rows/s ETA {eta:,.0f}s"
            )
        else:
            text = f"{self.label} {done} rows {rate:,.0f} rows/s"
        self.stream.write("\r" + text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.last:  # something was drawn
            self.stream.write("\n")
            self.stream.flush()


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


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
    i.add_argument("--json", action="store_true", help="print the report as JSON")

    g = sub.add_parser(
        "gallery",
        help="write chosen battles side by side for publication: OUT.html and OUT.md",
    )
    g.add_argument("--out", required=True, help="OUT.html and OUT.md are written")
    g.add_argument("--battles", help="comma-separated battle ids (default: at random per pair)")
    g.add_argument("--per-pair", type=_positive, default=1, help="battles per model pair")
    g.add_argument("--models", help="comma-separated: battles between these models only")
    g.add_argument("--seed", type=int, default=0, help="for the random choice (%(default)s)")
    g.add_argument("--lang", choices=("ja", "en"), default="ja", help="labels' language")
    g.add_argument("--force", action="store_true", help="replace OUT.html and OUT.md")

    h = sub.add_parser("hash-password", help="hash an admin password for ARENA_ADMIN_USERS")
    h.add_argument("--user", help="print USER:HASH, ready for ARENA_ADMIN_USERS")
    h.add_argument("--iterations", type=_positive, default=600_000)

    b = sub.add_parser("battles", help="list battles (JSON)")
    b.add_argument("--model")
    b.add_argument("--since")
    b.add_argument("--until")
    for flag in ("flagged", "failed", "voted"):
        b.add_argument(f"--{flag}", choices=("yes", "no"))
    b.add_argument("--limit", type=_positive, default=50)
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
    sub.add_parser("recompute", help="recompute the ratings now")
    sub.add_parser(
        "rotate-export-salt",
        help="replace the export salt stored in the database: later exports give every voter "
        "a new judge id (prints the previous salt)",
    )
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


def missing_sqlite_file(url: str) -> str | None:
    """Why a command that only reads the database refuses ``url``, or None if it may go on.

    A SQLite URL naming a file that does not exist (a typo, a relative path meant to be
    absolute) would otherwise create a new, empty database and report nothing in it.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # reported as not a URL when the engine is made
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:") or "uri" in parsed.query:  # SQLite URI filenames
        return None
    path = Path(database)
    if path.is_file():
        return None
    if not path.is_absolute() and Path("/", database).is_file():
        hint = f"for the absolute path /{database} write four slashes: sqlite:////{database}"
    else:
        hint = "check the URL, or run python app.py once to create a new database"
    shown = parsed.render_as_string(hide_password=True)
    return f"cannot use the database {shown}: no such SQLite file {path.absolute()} ({hint})"


def _doctor(args: argparse.Namespace, settings: Any) -> int:
    """One line per model; 0 when all are fine, 2 when a problem was found."""
    from arena.doctor import check

    results = check(settings, probe=args.probe)
    for result in results:
        print(result.line())
    return EXIT_OK if all(r.ok for r in results) else EXIT_REFUSED


def _hash_password(args: argparse.Namespace) -> int:
    from arena.admin import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return EXIT_REFUSED
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    hashed = hash_password(password, iterations=args.iterations)
    print(f"{args.user}:{hashed}" if args.user else hashed)
    return EXIT_OK


def _export(args: argparse.Namespace, console: Any) -> int:
    from arena.export import ExportOptions, export, export_salt, parse_moment

    options = ExportOptions(
        since=parse_moment(args.since),
        until=parse_moment(args.until, end=True),
        models=tuple(m.strip() for m in (args.models or "").split(",") if m.strip()),
        include_named=args.include_named,
        include_flagged=args.include_flagged,
        include_voided=args.include_voided,
        conversations=not args.no_conversations,
    )
    salt = export_salt(console.engine, console.settings.export_salt)  # made on the first export
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar("export", enabled=show)
    try:
        card = None if args.no_card else args.card or Path(args.out).parent / "README.md"
        manifest = export(
            console.engine,
            args.out,
            args.format,
            options,
            salt,
            progress=bar,
            force=args.force,
            card=card,
            license_id=console.settings.export_license,
        )
    finally:
        bar.close()
    detail = {k: manifest[k] for k in ("format", "rows", "sha256", "filters")}
    console.audit(_actor(), "export", manifest["file"], json.dumps(detail))
    print(
        f"{manifest['rows']} rows -> {args.out} (sha256 {manifest['sha256']}); "
        f"manifest {args.out}.manifest.json" + (f"; dataset card {card}" if card else ""),
        file=sys.stderr,
    )
    return EXIT_OK


def _import(args: argparse.Namespace, console: Any) -> int:
    from arena.db import repo
    from arena.importer import ImportFailed, import_file

    actor = _actor()

    def audit(conn: Any, report: Any) -> None:
        from sqlalchemy.orm import Session

        with Session(bind=conn) as s:
            detail = {k: v for k, v in report.as_dict().items() if k != "problems"}
            repo.audit(s, actor, "import", report.file, json.dumps(detail))
            s.flush()

    bar = ProgressBar("import", enabled=sys.stderr.isatty())
    try:
        report = import_file(
            console.engine,
            args.file,
            fmt=args.format,
            schema=args.schema,
            strict=args.strict,
            dry_run=args.dry_run,
            bulk=args.bulk,
            progress=bar,
            on_commit=audit,
        )
        failure = None
    except ImportFailed as exc:
        report, failure = exc.report, str(exc)
        console.audit(actor, "import_failed", report.file, failure)
    finally:
        bar.close()
    if args.json:
        print(json.dumps({**report.as_dict(), "error": failure}, ensure_ascii=False, indent=2))
    else:
        print(report.summary())
        for reason, count, where in report.grouped():
            lines = ", ".join(map(str, where)) + (", ..." if count > len(where) else "")
            print(f"refused {count}x: {reason} ({report.unit}s {lines})", file=sys.stderr)
        if report.refused > len(report.problems):
            print(
                f"... and {report.refused - len(report.problems)} more refusals not kept",
                file=sys.stderr,
            )
    if failure:
        print(f"error: {failure}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def _gallery(args: argparse.Namespace, console: Any) -> int:
    from arena.gallery import check_targets, write_gallery

    check_targets(args.out, force=args.force)  # before choosing (and auditing) anything

    def names(value: str | None) -> tuple[str, ...]:
        return tuple(x.strip() for x in (value or "").split(",") if x.strip())

    shown, _, _ = console.gallery(
        _actor(), battle_ids=names(args.battles), per_pair=args.per_pair,
        models=names(args.models), seed=args.seed, lang=args.lang,
    )  # fmt: skip
    page, text = write_gallery(shown, args.out, args.lang, force=args.force)
    print(f"{len(shown)} battles -> {page} and {text}", file=sys.stderr)
    return EXIT_OK


def _console_command(args: argparse.Namespace, console: Any) -> Any:
    from arena.admin import BattleFilter
    from arena.export import parse_moment

    actor, c = _actor(), args.command
    if c == "battles":
        yn = {"yes": True, "no": False, None: None}
        return console.battles(
            BattleFilter(
                model=args.model, since=parse_moment(args.since),
                until=parse_moment(args.until, end=True), flagged=yn[args.flagged],
                failed=yn[args.failed], voted=yn[args.voted], limit=args.limit,
            )
        )  # fmt: skip
    if c == "show":
        return console.battle(actor, args.battle)
    if c == "void":
        return console.void_vote(actor, args.battle, args.reason)
    if c == "unvoid":
        return console.unvoid_vote(actor, args.battle)
    if c in ("enable-model", "disable-model"):
        return console.set_model_enabled(actor, args.model, c == "enable-model")
    if c == "today":
        return console.today()
    if c == "delete-voter":
        return console.delete_voter(actor, args.voter)
    if c == "rotate-export-salt":
        return console.rotate_export_salt(actor)
    return console.recompute(actor)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit code. Errors are one line on stderr."""
    args = _parser().parse_args(argv)
    if args.command == "hash-password":
        try:
            return _hash_password(args)
        except ArenaError as exc:
            return _fail(str(exc), EXIT_REFUSED)
    from arena.admin import AdminConsole
    from arena.config import load_settings
    from arena.db import make_engine, migrate

    try:
        settings = load_settings(args.config)
    except ArenaError as exc:
        return _fail(f"configuration: {exc}", EXIT_REFUSED)
    if args.command == "doctor":  # needs no database
        return _doctor(args, settings)
    url = args.database_url or os.environ.get("DATABASE_URL") or settings.database_url
    if args.command != "import" and (missing := missing_sqlite_file(url)):
        return _fail(missing, EXIT_DATABASE)  # only an import may start a new database
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError) as exc:  # not a URL, or its driver is not installed
        return _fail(database_failure(url, exc), EXIT_REFUSED)
    except OSError as exc:  # the SQLite file's folder cannot be made
        return _fail(database_failure(url, exc), EXIT_DATABASE)
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
            return _export(args, console)
        if args.command == "import":
            return _import(args, console)
        if args.command == "gallery":
            return _gallery(args, console)
        result = _console_command(args, console)
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return EXIT_OK
    except ArenaError as exc:
        return _fail(str(exc), EXIT_REFUSED)
    except database_errors as exc:
        return _fail(database_failure(url, exc), EXIT_DATABASE)
    except OSError as exc:  # a file named on the command line
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}", EXIT_REFUSED)
    finally:
        engine.dispose()
