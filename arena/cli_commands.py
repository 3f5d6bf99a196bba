"""What each ``python -m arena`` command does, once its arguments are parsed.

export, import, gallery, hash-password, doctor and the console actions, each a function
of the parsed arguments and the settings returning an exit code; :mod:`arena.cli` parses
the command line and hands over. Every console action is audited as ``cli:USER``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from arena.cli_common import EXIT_OK, EXIT_REFUSED, ProgressBar


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def run_doctor(args: argparse.Namespace, settings: Any) -> int:
    """One line per model; 0 when all are fine, 2 when a problem was found."""
    from arena.doctor import check

    results = check(settings, probe=args.probe)
    for result in results:
        print(result.line())
    return EXIT_OK if all(r.ok for r in results) else EXIT_REFUSED


def run_hash_password(args: argparse.Namespace) -> int:
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


def run_export(args: argparse.Namespace, console: Any) -> int:
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
    console.audit(cli_actor(), "export", manifest["file"], json.dumps(detail))
    print(
        f"{manifest['rows']} rows -> {args.out} (sha256 {manifest['sha256']}); "
        f"manifest {args.out}.manifest.json" + (f"; dataset card {card}" if card else ""),
        file=sys.stderr,
    )
    return EXIT_OK


def run_import(args: argparse.Namespace, console: Any) -> int:
    from arena.db import repo
    from arena.importer import ImportFailed, import_file

    actor = cli_actor()

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
            columnar=args.columnar,
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


def run_gallery(args: argparse.Namespace, console: Any) -> int:
    from arena.gallery import check_targets, write_gallery

    check_targets(args.out, force=args.force)  # before choosing (and auditing) anything

    def names(value: str | None) -> tuple[str, ...]:
        return tuple(x.strip() for x in (value or "").split(",") if x.strip())

    shown, _, _ = console.gallery(
        cli_actor(), battle_ids=names(args.battles), per_pair=args.per_pair,
        models=names(args.models), seed=args.seed, lang=args.lang,
    )  # fmt: skip
    page, text = write_gallery(shown, args.out, args.lang, force=args.force)
    print(f"{len(shown)} battles -> {page} and {text}", file=sys.stderr)
    return EXIT_OK


def run_console_command(args: argparse.Namespace, console: Any) -> Any:
    from arena.admin import BattleFilter
    from arena.export import parse_moment

    actor, c = cli_actor(), args.command
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
    assert c == "rotate-export-salt", c
    return console.rotate_export_salt(actor)
