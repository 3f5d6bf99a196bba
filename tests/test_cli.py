"""The command lines as an operator meets them: ``python -m arena`` and ``python -m ratings``
run as real subprocesses.

Every user error is one line on stderr with its documented exit code (docs/admin.md,
"Errors and exit codes"), never a traceback; ``--config`` and ``--database-url`` work
before and after the command; commands that read the database refuse a SQLite URL whose
file does not exist instead of creating an empty database. Everything happens in
``tmp_path`` on SQLite files there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import python

ROOT = Path(__file__).resolve().parents[1]
EXIT_OK, EXIT_DATABASE, EXIT_REFUSED = 0, 1, 2
BATTLES = [
    {"question_id": f"q{k}", "model_a": "A-7B", "model_b": "B-8B", "winner": w, "judge": j,
     "tstamp": 1_764_000_000 + k}
    for k, (w, j) in enumerate([("model_a", "u1"), ("model_b", "u2"), ("tie", "u1")])
]  # fmt: skip


def run(
    tmp_path: Path, *args: str, stdin: str = "", fresh: bool = False, **env: str
) -> subprocess.CompletedProcess:
    """``python ARGS`` in ``tmp_path`` with an empty arena.toml and no DATABASE_URL set
    (``fresh``: in a new interpreter, see conftest.python)."""
    config = tmp_path / "arena.toml"
    config.touch()
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ARENA_EXPORT_SALT")}
    base.update(ARENA_CONFIG=str(config), PYTHONPATH=str(ROOT), USER="tester")
    return python(args, cwd=tmp_path, env={**base, **env}, stdin=stdin, fresh=fresh)


def one_error(r: subprocess.CompletedProcess, code: int) -> str:
    """The run failed with ``code``, saying why in exactly one line, without a traceback."""
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    """The URL of a migrated SQLite file holding three imported votes."""
    battles = tmp_path / "battles.jsonl"
    battles.write_text("".join(json.dumps(b) + "\n" for b in BATTLES), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'data' / 'arena.db'}"
    r = run(tmp_path, "-m", "arena", "import", str(battles), "--database-url", url)
    assert r.returncode == 0, r.stderr
    yield url


# -- hash-password -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        ((), "\n", "an empty password cannot be hashed"),
        (("--iterations", "0"), "secret\n", "not a positive integer: '0'"),
        (("--iterations", "many"), "secret\n", "not a positive integer: 'many'"),
        (("--iterations", "-3"), "secret\n", "not a positive integer: '-3'"),
    ],
)
def test_hash_password_errors(tmp_path: Path, args: tuple[str, ...], stdin: str, says: str) -> None:
    r = run(tmp_path, "-m", "arena", "hash-password", *args, stdin=stdin)
    assert says in one_error(r, EXIT_REFUSED)
    assert r.stdout == ""


# -- the entry points, as real processes ------------------------------------------------


def test_the_entry_points_run_as_processes(tmp_path: Path, db: str) -> None:
    """The one real launch of each command line (the other tests call ``main(argv)`` in
    this process, see conftest.python): ``python -m arena`` and ``python -m ratings``
    start, answer and exit with their codes, errors on one line without a traceback."""
    today = run(tmp_path, "-m", "arena", "today", "--database-url", db, fresh=True)
    assert today.returncode == EXIT_OK, today.stderr
    assert set(json.loads(today.stdout)) >= {"battles", "votes", "per_model"}
    missing = run(tmp_path, "-m", "arena", "today", fresh=True)
    assert "no such SQLite file" in one_error(missing, EXIT_DATABASE)
    recompute = run(
        tmp_path, "-m", "ratings", "recompute", "--database-url", db, "--anchor", "A-7B", fresh=True
    )
    assert recompute.returncode == EXIT_OK, recompute.stderr


# -- global options before or after the command ---------------------------------------------


def test_database_url_before_or_after_the_command(tmp_path: Path, db: str) -> None:
    before = run(tmp_path, "-m", "arena", "--database-url", db, "today")
    after = run(tmp_path, "-m", "arena", "today", "--database-url", db)
    for r in (before, after):
        assert r.returncode == EXIT_OK, r.stderr
        assert set(json.loads(r.stdout)) >= {"battles", "votes", "per_model"}
    battles = run(tmp_path, "-m", "arena", "battles", "--limit", "5", f"--database-url={db}")
    assert battles.returncode == EXIT_OK, battles.stderr
    assert {b["model_a"] for b in json.loads(battles.stdout)} == {"A-7B"}
    # Given twice, the value after the command wins.
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    r = run(tmp_path, "-m", "arena", "--database-url", missing, "today", "--database-url", db)
    assert r.returncode == EXIT_OK, r.stderr


def test_config_before_or_after_the_command(tmp_path: Path, db: str) -> None:
    absent = str(tmp_path / "absent.toml")
    for args in (("--config", absent, "today"), ("today", "--config", absent)):
        r = run(tmp_path, "-m", "arena", *args, "--database-url", db)
        assert "configuration file not found" in one_error(r, EXIT_REFUSED)
    r = run(
        tmp_path, "-m", "arena", "today", "--config", str(tmp_path / "arena.toml"), DATABASE_URL=db
    )
    assert r.returncode == EXIT_OK, r.stderr


def test_ratings_recompute_takes_global_options_before_or_after(tmp_path: Path, db: str) -> None:
    for args in (("--database-url", db, "recompute"), ("recompute", "--database-url", db)):
        r = run(tmp_path, "-m", "ratings", *args)
        assert r.returncode == EXIT_OK, r.stderr
        assert "rating run #" in r.stdout
    absent = str(tmp_path / "absent.toml")
    for args in (("--config", absent, "recompute"), ("recompute", f"--config={absent}")):
        r = run(tmp_path, "-m", "ratings", *args, DATABASE_URL=db)
        assert "configuration file not found" in one_error(r, EXIT_REFUSED)


def test_arena_recompute_takes_every_option_of_the_recompute_command(
    tmp_path: Path, db: str
) -> None:
    """``python -m arena recompute`` is the recompute command: arena.recompute's options
    (global ones before or after it), its report, its one-line errors."""
    r = run(tmp_path, "-m", "arena", "--database-url", db, "recompute", "--anchor", "B-8B",
            "--ci", "bootstrap", "--rounds", "7", "--seed", "3", "--level", "0.8",
            "--include-named", "--min-votes", "1")  # fmt: skip
    assert r.returncode == EXIT_OK, r.stderr
    assert "rating run #1: 3 votes used" in r.stdout
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        run_row = conn.execute(
            "SELECT method, anchor, level, rounds, seed, note FROM rating_runs"
        ).fetchall()
        ratings = dict(conn.execute("SELECT model, rating FROM model_ratings").fetchall())
    assert len(run_row) == 1
    method, anchor, level, rounds, seed, note = run_row[0]
    assert (method, anchor, level, rounds, seed) == ("bootstrap", "B-8B", 0.8, 7, 3)
    assert "min votes per rated model: 1" in note.splitlines()
    assert ratings["B-8B"] == 1000.0
    bad = run(tmp_path, "-m", "arena", "recompute", "--ci", "nope", "--database-url", db)
    line = one_error(bad, EXIT_REFUSED)
    assert line.startswith("python -m arena recompute: error: argument --ci: invalid choice")


# -- read commands never create a database ------------------------------------------------

READERS = {
    "export": ("-m", "arena", "export", "--format", "jsonl", "--out", "out.jsonl"),
    "today": ("-m", "arena", "today"),
    "battles": ("-m", "arena", "battles"),
    "show": ("-m", "arena", "show", "0" * 32),
    "arena recompute": ("-m", "arena", "recompute"),
    "delete-voter": ("-m", "arena", "delete-voter", "arena_user_0"),
    "ratings recompute": ("-m", "ratings", "recompute"),
}


@pytest.mark.parametrize("command", list(READERS))
def test_read_commands_refuse_a_missing_sqlite_file(tmp_path: Path, command: str) -> None:
    path = tmp_path / "typo" / "arena.db"
    url = f"sqlite:///{path}"
    line = one_error(run(tmp_path, *READERS[command], "--database-url", url), EXIT_DATABASE)
    assert line == (
        f"error: cannot use the database {url}: no such SQLite file {path} "
        "(check the URL, or run python app.py once to create a new database)"
    )
    assert not path.parent.exists()  # neither the file nor its folder was made
    assert not (tmp_path / "out.jsonl").exists()


def test_a_relative_path_meant_to_be_absolute_gets_a_hint(tmp_path: Path, db: str) -> None:
    absolute = db.removeprefix("sqlite:///")
    three_slashes = "sqlite://" + absolute  # sqlite:///tmp/... names tmp/... under the cwd
    line = one_error(run(tmp_path, "-m", "arena", "today", "--database-url", three_slashes), 1)
    assert f"write four slashes: sqlite:///{absolute}" in line
    line = one_error(
        run(tmp_path, "-m", "ratings", "recompute", "--database-url", three_slashes), 1
    )
    assert f"write four slashes: sqlite:///{absolute}" in line
    assert not (tmp_path / absolute.lstrip("/")).exists()


def test_the_default_database_is_not_created_by_a_read(tmp_path: Path) -> None:
    """No DATABASE_URL, no setting: the embedded default sqlite:///arena.db in the cwd."""
    line = one_error(run(tmp_path, "-m", "arena", "today"), EXIT_DATABASE)
    assert "no such SQLite file" in line and "arena.db" in line
    assert not (tmp_path / "arena.db").exists()


def test_import_may_start_a_new_database(tmp_path: Path) -> None:
    battles = tmp_path / "b.jsonl"
    battles.write_text(json.dumps(BATTLES[0]) + "\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'new' / 'arena.db'}"
    r = run(tmp_path, "-m", "arena", "import", str(battles), "--database-url", url)
    assert r.returncode == EXIT_OK, r.stderr
    assert "1 imported" in r.stdout
    assert (tmp_path / "new" / "arena.db").is_file()


# -- other user errors --------------------------------------------------------------------


def test_export_into_a_missing_folder(tmp_path: Path, db: str) -> None:
    out = tmp_path / "no-such-folder" / "votes.jsonl"
    r = run(
        tmp_path,
        "-m",
        "arena",
        "export",
        "--format",
        "jsonl",
        "--out",
        str(out),
        "--database-url",
        db,
    )
    line = one_error(r, EXIT_REFUSED)
    assert line == f"error: cannot write {out}: the folder {out.parent} does not exist"
    assert not out.parent.exists()


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("sqlite:/arena.db", EXIT_REFUSED, "not a valid database URL"),
        ("sqllite:///arena.db", EXIT_REFUSED, "cannot use the database"),
        ("arena.db", EXIT_REFUSED, "not a valid database URL"),
    ],
)
def test_mistyped_database_urls(tmp_path: Path, url: str, code: int, says: str) -> None:
    for args in (("-m", "arena", "today"), ("-m", "ratings", "recompute")):
        assert says in one_error(run(tmp_path, *args, "--database-url", url), code)
    assert list(tmp_path.iterdir()) == [tmp_path / "arena.toml"]


def test_rotating_a_salt_set_in_the_environment_is_refused(tmp_path: Path, db: str) -> None:
    r = run(tmp_path, "-m", "arena", "rotate-export-salt", "--database-url", db,
            ARENA_EXPORT_SALT="0123456789abcdef0123")  # fmt: skip
    assert "ARENA_EXPORT_SALT is set and takes precedence" in one_error(r, EXIT_REFUSED)


def test_unknown_option_after_the_command_is_one_line(tmp_path: Path) -> None:
    r = run(tmp_path, "-m", "arena", "today", "--datbase-url", "x")
    assert "unrecognized arguments: --datbase-url x" in one_error(r, EXIT_REFUSED)
