"""Export paths an attacker or a slip of the keyboard could choose, and the command lines'
user errors.

The export writes under a random name created exclusively in the target's folder and
renames it onto the target: planted symbolic links (``FILE.partial`` as older versions
used, or names like its own temporary files) are never followed; an existing file is
replaced only with ``--force``, and never a FIFO, folder or symbolic link; a missing
folder is an error. Every user error of ``python -m arena``, ``python -m ratings`` and
``python app.py`` is one line on stderr with the documented exit code, never a
traceback; an unreachable database names its URL with the password hidden.

Everything happens in ``tmp_path``, on SQLite files there, and on loopback ports.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from arena import export as ex
from arena import export_files
from arena.export import TEMP_PREFIX, ExportError, ExportOptions, export, manifest_path
from tests.conftest import free_port, python

ROOT = Path(__file__).resolve().parents[1]
SALT = "test-export-salt-0123456789abcdef"
PASSWORD = "hunter2-not-shown"
KEEP = b"the victim's own bytes\n"
EXIT_DATABASE, EXIT_REFUSED = 1, 2
CSV_HEADER = "question_id,model_a,model_b,winner,judge,conversation_a,conversation_b"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file of its own (no votes: an export is just the header)."""
    from arena.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'arena.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file that a planted link points at: it must never change."""
    path = tmp_path / "victim.txt"
    path.write_bytes(KEEP)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The folder exports go to."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    config = tmp_path / "arena.toml"
    config.touch()
    env = {**os.environ, "DATABASE_URL": url, "ARENA_EXPORT_SALT": SALT, "USER": "tester"}
    env.update(ARENA_CONFIG=str(config), PYTHONPATH=str(ROOT), ARENA_SECRET="s" * 32)
    return {**env, **extra}


def _run(tmp_path: Path, url: str, *args: str, **extra: str) -> subprocess.CompletedProcess:
    """``python ARGS`` in ``tmp_path`` (so nothing lands in the repository)."""
    return python(args, cwd=tmp_path, env=_env(tmp_path, url, **extra))


def _export_cli(tmp_path: Path, db: Engine, out: Path, *flags: str) -> subprocess.CompletedProcess:
    url = db.url.render_as_string(hide_password=False)
    return _run(
        tmp_path, url, "-m", "arena", "export", "--format", "csv", "--out", str(out), *flags
    )


def _one_error(r: subprocess.CompletedProcess, code: int) -> str:
    """The run failed with ``code`` and said why in exactly one line; return that line."""
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = r.stderr.splitlines()
    assert r.returncode == code, r.stderr
    assert len(lines) == 1, r.stderr
    return lines[0]


def _no_temporary_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


# -- planted links ------------------------------------------------------------------


def test_planted_links_are_never_followed(
    tmp_path: Path, db: Engine, folder: Path, victim: Path
) -> None:
    out = folder / "x.csv"
    planted = [
        folder / "x.csv.partial",
        folder / "x.csv.manifest.json.partial",
        *(folder / f"{TEMP_PREFIX}{k:016x}.partial" for k in range(8)),
        *(folder / f"{TEMP_PREFIX}{k}" for k in ("", "0", "partial")),
    ]
    for link in planted:
        link.symlink_to(victim)
    r = _export_cli(tmp_path, db, out)
    assert r.returncode == 0, r.stderr
    assert victim.read_bytes() == KEEP
    for link in planted:
        assert link.is_symlink() and link.readlink() == victim
    card = folder / "README.md"  # the dataset card the command line writes beside it
    for path in (out, manifest_path(out), card):
        mode = os.lstat(path).st_mode
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600
    assert out.read_text().startswith(CSV_HEADER)
    assert set(folder.iterdir()) == {out, manifest_path(out), card, *planted}


def test_taken_temporary_names_are_skipped(
    db: Engine, folder: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a link planted under the very name drawn is not opened: another is drawn."""
    names = iter(
        [f"{TEMP_PREFIX}taken{k}.partial" for k in range(3)]
        + [f"{TEMP_PREFIX}free{k}.partial" for k in range(2)]
    )
    monkeypatch.setattr(export_files, "_temp_name", lambda: next(names))
    planted = [folder / f"{TEMP_PREFIX}taken{k}.partial" for k in range(3)]
    for link in planted:
        link.symlink_to(victim)
    out = folder / "x.jsonl"
    export(db, out, "jsonl", ExportOptions(), SALT)
    assert victim.read_bytes() == KEEP
    assert all(link.is_symlink() for link in planted)
    assert set(folder.iterdir()) == {out, manifest_path(out), *planted}


# -- existing files and what is not a regular file ----------------------------------


def test_existing_file_is_replaced_only_with_force(
    tmp_path: Path, db: Engine, folder: Path
) -> None:
    out = folder / "x.csv"
    out.write_bytes(b"an earlier export\n")
    line = _one_error(_export_cli(tmp_path, db, out), EXIT_REFUSED)
    assert line == f"error: {out} already exists; not replacing it without --force"
    assert out.read_bytes() == b"an earlier export\n"
    assert set(folder.iterdir()) == {out}
    r = _export_cli(tmp_path, db, out, "--force")
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith(CSV_HEADER) and manifest_path(out).is_file()
    # A manifest alone is an existing file too.
    out.unlink()
    line = _one_error(_export_cli(tmp_path, db, out), EXIT_REFUSED)
    assert "x.csv.manifest.json already exists" in line and not out.exists()
    assert _export_cli(tmp_path, db, out, "--force").returncode == 0
    _no_temporary_files(folder)


@pytest.mark.parametrize("force", [False, True])
def test_fifo_is_refused(tmp_path: Path, db: Engine, folder: Path, force: bool) -> None:
    fifo = folder / "pipe.csv"
    os.mkfifo(fifo)
    r = _export_cli(tmp_path, db, fifo, *(["--force"] if force else []))
    assert _one_error(r, EXIT_REFUSED) == f"error: {fifo} is a FIFO; refusing to replace it"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert set(folder.iterdir()) == {fifo}


@pytest.mark.parametrize("force", [False, True])
def test_folder_is_refused(tmp_path: Path, db: Engine, folder: Path, force: bool) -> None:
    target = folder / "sub"
    target.mkdir()
    r = _export_cli(tmp_path, db, target, *(["--force"] if force else []))
    assert _one_error(r, EXIT_REFUSED) == f"error: {target} is a folder; refusing to replace it"
    assert target.is_dir() and not list(target.iterdir())
    assert set(folder.iterdir()) == {target}


@pytest.mark.parametrize("points_to", ["file", "fifo", "folder", "nothing"])
@pytest.mark.parametrize("force", [False, True])
def test_symbolic_link_is_refused(
    tmp_path: Path, db: Engine, folder: Path, victim: Path, points_to: str, force: bool
) -> None:
    """A link as the target is neither written through nor replaced, even with --force."""
    target = {"file": victim, "fifo": tmp_path / "fifo", "folder": tmp_path / "dir"}.get(
        points_to, tmp_path / "nothing"
    )
    if points_to == "fifo":
        os.mkfifo(target)
    elif points_to == "folder":
        target.mkdir()
    link = folder / "x.csv"
    link.symlink_to(target)
    r = _export_cli(tmp_path, db, link, *(["--force"] if force else []))
    line = _one_error(r, EXIT_REFUSED)
    assert line == (
        f"error: {link} is a symbolic link; not replacing it nor writing through it "
        "(name the file itself)"
    )
    assert link.is_symlink() and link.readlink() == target
    assert victim.read_bytes() == KEEP and not (tmp_path / "nothing").exists()
    assert set(folder.iterdir()) == {link}


def test_missing_folder_is_an_error(tmp_path: Path, db: Engine, folder: Path) -> None:
    out = folder / "missing" / "x.csv"
    line = _one_error(_export_cli(tmp_path, db, out), EXIT_REFUSED)
    assert line == f"error: cannot write {out}: the folder {out.parent} does not exist"
    assert not out.parent.exists()
    (folder / "file").write_text("")
    out = folder / "file" / "x.csv"
    line = _one_error(_export_cli(tmp_path, db, out), EXIT_REFUSED)
    assert line.endswith(f"the folder {out.parent} is not a folder")


# -- failures leave nothing behind ----------------------------------------------------


def test_failure_leaves_no_file(db: Engine, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = folder / "x.parquet"
    with pytest.raises(ExportError, match="unknown model"):
        export(db, out, "parquet", ExportOptions(models=("nope",)), SALT)
    assert not list(folder.iterdir())

    def full(*args: object, **kwargs: object) -> Iterator[tuple]:
        raise OSError(28, "No space left on device")
        yield ()

    monkeypatch.setattr(ex, "iter_rows", full)
    with pytest.raises(ExportError, match=r"cannot write .*x\.parquet: No space left on device"):
        export(db, out, "parquet", ExportOptions(), SALT)
    assert not list(folder.iterdir())


def test_a_manifest_appearing_meanwhile_undoes_the_export(
    db: Engine, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without force nothing is replaced, even a file that appeared while the export ran:
    the export already in place is taken back, the newcomer is left alone."""
    out = folder / "x.jsonl"
    real = ex._manifest

    def meanwhile(*args: object) -> dict:
        manifest_path(out).write_bytes(KEEP)
        return real(*args)

    monkeypatch.setattr(ex, "_manifest", meanwhile)
    with pytest.raises(ExportError, match="already exists"):
        export(db, out, "jsonl", ExportOptions(), SALT)
    assert set(folder.iterdir()) == {manifest_path(out)}
    assert manifest_path(out).read_bytes() == KEEP


def test_admin_console_exports_to_a_fresh_folder(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arena.admin import AdminConsole
    from arena.config import Settings, demo_models

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # mkdtemp inside tmp_path
    url = db.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, export_salt=SALT, models=demo_models())
    out, meta, manifest = AdminConsole(settings, db).export_to_temp("cli:t", "csv", ExportOptions())
    assert out.parent.parent == tmp_path and meta == manifest_path(out)
    assert out.read_text().startswith(CSV_HEADER) and manifest["rows"] == 0
    _no_temporary_files(out.parent)


# -- the database unreachable -------------------------------------------------------


def _unreachable() -> tuple[str, str]:
    """A PostgreSQL URL with a password on a loopback port nobody listens on, and how an
    error line must show it."""
    port = free_port()
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/arena"
    return url, f"postgresql://postgres:***@127.0.0.1:{port}/arena"


COMMANDS = {
    "arena export": ("-m", "arena", "export", "--format", "csv", "--out", "x.csv"),
    "arena today": ("-m", "arena", "today"),
    "arena recompute": ("-m", "arena", "recompute"),
    "app": (str(ROOT / "app.py"), "--port", "0"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unreachable_database_is_one_line(tmp_path: Path, command: str) -> None:
    url, shown = _unreachable()
    r = _run(tmp_path, url, *COMMANDS[command])
    line = _one_error(r, EXIT_DATABASE)
    assert line.startswith(f"error: cannot use the database {shown}: "), line
    assert "Connection refused" in line or "connection" in line.lower()
    assert PASSWORD not in r.stderr + r.stdout
    assert not (tmp_path / "x.csv").exists()
    _no_temporary_files(tmp_path)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_sqlite_file_that_cannot_be_created(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(KEEP)
    url = f"sqlite:///{blocker / 'arena.db'}"
    line = _one_error(_run(tmp_path, url, *COMMANDS[command]), EXIT_DATABASE)
    assert line.startswith(f"error: cannot use the database {url}: "), line
    assert blocker.read_bytes() == KEEP


# -- other user errors --------------------------------------------------------------


def test_user_errors_are_one_line(tmp_path: Path, db: Engine) -> None:
    url = db.url.render_as_string(hide_password=False)
    out = str(tmp_path / "x.csv")
    cases = [
        (("-m", "arena", "export", "--format", "xml", "--out", out), {}, "invalid choice: 'xml'"),
        (("-m", "arena", "export", "--format", "csv"), {}, "required: --out"),
        (("-m", "arena", "export", "--format", "csv", "--out", out),
         {"ARENA_EXPORT_SALT": "too-short"}, "ARENA_EXPORT_SALT must be a secret of at least"),
        (("-m", "arena", "export", "--format", "csv", "--out", out, "--since", "soon"),
         {}, "not a date: 'soon'"),
        (("-m", "arena", "import", str(tmp_path / "missing.jsonl")), {}, "cannot read"),
        (("-m", "arena", "show", "nope"), {}, "no battle 'nope'"),
        (("-m", "arena", "nonsense"), {}, "invalid choice: 'nonsense'"),
        (("-m", "arena", "today"), {"DATABASE_URL": "not a url"}, "not a valid database URL"),
        (("-m", "ratings", "fit", str(tmp_path / "missing.jsonl")), {}, "cannot read"),
        (("-m", "ratings", "fit", str(tmp_path / "db" / "arena.db")), {}, "unknown format"),
        (("-m", "arena", "recompute", "--ci", "nope"), {}, "invalid choice: 'nope'"),
        (("-m", "ratings"), {}, "required: COMMAND"),
    ]  # fmt: skip
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    cases.append((("-m", "ratings", "fit", str(tmp_path / "broken.parquet")), {}, "cannot read"))
    for args, env, says in cases:
        r = _run(tmp_path, url, *args, **env)
        line = _one_error(r, EXIT_REFUSED)
        assert says in line, (args, line)
    assert not (tmp_path / "x.csv").exists()
    _no_temporary_files(tmp_path)
