"""What a bulk import does around its rows: the secondary indexes, the primary and unique
keys and (on PostgreSQL) the foreign keys of the tables it fills are dropped in its
transaction and rebuilt after the load, and on PostgreSQL the ids of the votes and
messages it copies are taken from their sequences a block at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import (
    AddConstraint,
    DropConstraint,
    PrimaryKeyConstraint,
    UniqueConstraint,
)

from arena.db.models import Battle, Message, Vote
from arena.errors import ArenaError

PG_SORT_MEMORY = "256MB"

#: How long a bulk load on PostgreSQL waits for its tables (another session reading or
#: writing them: the running arena, a console) before it gives up with a clear message.
PG_LOCK_WAIT_S = 10


def reserve_ids(conn: Connection, table: Table, n: int) -> int:
    """The first of ``n`` ids taken at once from ``table``'s id sequence (PostgreSQL).

    Only while the transaction holds ``table`` exclusively: another session's insert
    could otherwise take an id of the range between the two sequence calls."""
    if n < 1:
        raise ValueError(f"reserve_ids needs at least one id, not {n}")
    last = conn.exec_driver_sql(
        "SELECT setval(pg_get_serial_sequence(%(t)s, 'id'),"
        " nextval(pg_get_serial_sequence(%(t)s, 'id')) + %(n)s - 1)",
        {"t": table.name, "n": n},
    ).scalar_one()
    return last - n + 1


#: The tables an import fills: a bulk import rebuilds their secondary indexes.
BULK_TABLES = (Battle.__table__, Vote.__table__, Message.__table__)


def _all_keys(conn: Connection) -> list[Any]:
    """Every foreign key of the arena's tables."""
    return [fk for table in Battle.metadata.tables.values() for fk in table.foreign_keys]


def drop_for_bulk(conn: Connection) -> Callable[[], None]:
    """Drop the secondary indexes (and on PostgreSQL the foreign keys) of the tables an
    import fills, in the import's transaction; return what rebuilds them.

    Building an index once from all its rows, and checking a foreign key with one join,
    cost far less than keeping them up row by row. Other connections see nothing of it
    until the commit, and a rollback restores them.
    """
    pg = conn.dialect.name == "postgresql"
    if pg:  # room to sort the index entries and hash the key checks' joins in memory
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_SORT_MEMORY}'")
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_SORT_MEMORY}'")
    indexes = [ix for t in BULK_TABLES for ix in t.indexes if not ix.unique]
    keys = [fk.constraint for t in BULK_TABLES for fk in t.foreign_keys] if pg else []
    # On PostgreSQL the primary and unique keys of the tables no foreign key points to
    # (messages, votes) go too: a unique index built from the sorted rows at the end costs
    # a fraction of one kept up row by row (about 1.3 us a message); the loader makes the
    # ids and checks the battle ids itself, and the rebuild checks them again.
    unique = [
        c for t in BULK_TABLES if t not in {fk.column.table for fk in _all_keys(conn)}
        for c in t.constraints if isinstance(c, PrimaryKeyConstraint | UniqueConstraint)
    ] if pg else []  # fmt: skip
    try:
        if pg:
            # The tables (and those their keys point to) are taken alone until the commit:
            # the loader takes its rows' ids from the sequences in blocks. Wait for them a
            # bounded time, never for ever behind another session's open transaction.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{PG_LOCK_WAIT_S}s'")
            names = ", ".join(t.name for t in BULK_TABLES)
            conn.exec_driver_sql(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
        for fk in keys:
            conn.execute(DropConstraint(fk))
        for constraint in unique:
            conn.execute(DropConstraint(constraint))
        for ix in indexes:
            ix.drop(conn)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise ArenaError(
            f"a bulk load needs the tables {', '.join(t.name for t in BULK_TABLES)} to "
            f"itself, and another session kept them for more than {PG_LOCK_WAIT_S} s (a "
            "running arena or an open transaction): stop it and try again, or import with "
            "--no-bulk, which shares the tables",
            code="import_locked",
        ) from None
    if pg:
        conn.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")

    def rebuild() -> None:
        for constraint in unique:
            conn.execute(AddConstraint(constraint))
        for ix in indexes:
            ix.create(conn)
        for fk in keys:
            conn.execute(AddConstraint(fk))

    return rebuild
