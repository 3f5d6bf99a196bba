"""What the command lines share: exit codes, one-line errors, a progress bar.

``python -m arena``, ``python -m arena.recompute`` and ``python app.py`` all print an
error as one line (never a traceback) with the same exit codes: :class:`OneLineParser`
for bad arguments, :func:`database_failure` for a database that cannot be reached
(its URL named, password hidden), :func:`missing_sqlite_file` for a SQLite file that is
not there. Apart from :mod:`arena.cli` so that those entry points need none of its
commands.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import NoReturn, TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

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


def fail(message: str, code: int) -> int:
    """Print ``error: message`` as one line on stderr; return ``code``."""
    print("error: " + " ".join(message.split("\n")), file=sys.stderr)
    return code


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {value!r}")
    return number


class ProgressBar:
    """A one-line progress bar on a terminal stream, redrawn at most 10 times a second."""

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        # sys.stderr as it is now, not as it was when this module was imported.
        self.label, self.stream, self.enabled = label, stream or sys.stderr, enabled
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
