"""Start-up migrations at the same moment: app processes started together on one empty
database (SQLite file or PostgreSQL) all come up, and the schema is brought to head once.

Each start is its own process (Alembic keeps its migration context in module globals, so
threads of one process cannot run it at once), connected and waiting until all are
ready; then they are released together.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from arena.db import make_engine, migrate
from arena.db.engine import alembic_config
from arena.db.models import Base

#: Launches app or helper processes: scheduled early in a parallel run (conftest).
pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]
STARTS = 4
ROUNDS = 3  # fresh databases per run: a race that is lost only sometimes still shows
START = """
import sys
from arena.db import make_engine, migrate
engine = make_engine(sys.argv[1])
with engine.connect():
    pass
print("ready", flush=True)
sys.stdin.readline()
migrate(engine)
print("migrated", flush=True)
"""


def _spawn(url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", START, url], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _start_together(url: str) -> list[str]:
    """Start STARTS migrations at once; return the failures (each one's stderr)."""
    procs = [_spawn(url) for _ in range(STARTS)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in procs:  # the go signal, to all within a millisecond or so
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
        results = [(proc.wait(120), *proc.communicate()) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [err for code, out, err in results if code != 0 or out != "migrated\n"]


def _assert_at_head_once(url: str) -> None:
    engine = make_engine(url)
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [tuple(v) for v in versions] == [(head,)]
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
        tables = set(inspect(engine).get_table_names())
        assert tables == set(Base.metadata.tables) | {"alembic_version"}
        migrate(engine)  # a later start finds nothing to do
    finally:
        engine.dispose()


def test_concurrent_starts_on_an_empty_postgresql_database(pg_admin: str) -> None:
    from tests.conftest import _create_pg_database, _drop_pg_database

    for _ in range(ROUNDS):
        url = _create_pg_database(pg_admin)
        try:
            failures = _start_together(url)
            assert not failures, [f[-600:] for f in failures]
            _assert_at_head_once(url)
        finally:
            _drop_pg_database(pg_admin, url)


def test_concurrent_starts_on_a_new_sqlite_file(tmp_path) -> None:
    for k in range(ROUNDS):
        url = f"sqlite:///{tmp_path / f'arena{k}.db'}"
        failures = _start_together(url)
        assert not failures, [f[-600:] for f in failures]
        _assert_at_head_once(url)


def test_a_start_at_head_does_not_wait_for_a_writer(tmp_path) -> None:
    import sqlite3
    import time

    url = f"sqlite:///{tmp_path / 'arena.db'}"
    engine = make_engine(url)
    migrate(engine)
    writer = sqlite3.connect(tmp_path / "arena.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # as a long import holds it
        began = time.monotonic()
        migrate(engine)  # the busy timeout is 30 s: waiting would show
        assert time.monotonic() - began < 5
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        engine.dispose()
