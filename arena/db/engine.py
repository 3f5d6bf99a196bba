"""Engine and session factory, and the start-up migration to the newest schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
#: The PostgreSQL advisory lock a migration holds until its transaction ends ("tanuki").
MIGRATION_LOCK = 0x74616E756B69


def make_engine(url: str, **kwargs: object) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.drivername.startswith("postgresql") and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at ``migrations/`` and bound to ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (run at start-up; idempotent).

    A database already at head is only read: no lock is taken, so a start is not held up
    by another process writing (on SQLite, a long import holds the write lock).
    """
    if revision == "head" and _at_head(engine):
        return
    _run(engine, command.upgrade, revision)


def _at_head(engine: Engine) -> bool:
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == set(heads)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Downgrade the database to ``revision``."""
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """One Alembic step in one transaction, one process at a time (see :func:`_one_at_a_time`).

    On SQLite, foreign keys are off while it runs: a revision that rebuilds a table
    (copy, drop, rename) would otherwise cascade the drop to every row referring to it.
    They are checked before the commit and turned on again afterwards.
    """
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # outside a transaction, or SQLite ignores it
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                _one_at_a_time(conn)
                cfg.attributes["connection"] = conn  # Alembic runs in this transaction
                step(cfg, revision)
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError(f"migration to {revision} broke foreign keys")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def _one_at_a_time(conn: Connection) -> None:
    """Make app processes that start together on one database migrate one after another.

    The first statement of the migration's transaction takes a lock held until it ends;
    the others wait for it, then read the schema the first left (at head: nothing to do).
    Without it two starts on an empty database both create the first tables, and one
    dies. PostgreSQL: a transaction-level advisory lock. SQLite: ``BEGIN IMMEDIATE``, the
    database's write lock (waited for up to the busy timeout); it also makes the
    migration one transaction, as the driver would otherwise run each DDL statement on
    its own.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded rows usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


#: The dialects whose INSERT has ON CONFLICT (upserts, insert-if-absent).
UPSERT_DIALECTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def dialect_insert(dialect: str) -> Callable:
    """The ``insert`` of ``dialect`` (PostgreSQL or SQLite), the one with ON CONFLICT."""
    return UPSERT_DIALECTS[dialect]
