"""Import battle files (JSONL, JSON, CSV, Parquet) of any published arena layout.

Rows are read by the shared reader, :mod:`ratings.battlefile` (FastChat's clean battles
and public release, LMArena's arena-human-preference, compar:IA votes; detected or
forced with ``schema``), the same one ``python -m ratings fit`` uses. Each row becomes a
voted battle: its models (created as needed, provider ``imported``, disabled for
sampling), a voter per ``judge`` (the judge kept as given in ``voters.judge``), the
messages of both conversations (system messages as turn 0, ``num_tokens`` kept) and the
vote. The row's own id is kept in ``battles.source_id``; its moderation or toxic-chat
verdict becomes the stored ``flag_moderation`` (left out of ratings and exports by
default, counted in the report); ``conv_metadata``, ``category_tag`` and its other
columns go to ``battles.meta``. A row whose id is already in the database (or earlier in
the file) is skipped as a duplicate; the id is the battle id when it is 32 hex digits,
else its SHA-256 cut to 32 hex digits (a row without one: a hash of its content), so
re-importing finds it again.

A broken row is refused with its line (or row) number and the reason; the others are
taken, and the report groups the refusals by reason. The whole import is one
transaction: a file that cannot be read as a whole, a file in which every row is refused,
a database failure, or (with ``strict``) any refused row leaves the database as it was.
Rows are inserted a batch at a time, the fastest way each database has (PostgreSQL
COPY, SQLite's executemany).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    any_,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import (
    AddConstraint,
    DropConstraint,
    PrimaryKeyConstraint,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from arena.db.engine import dialect_insert
from arena.db.models import (
    Battle,
    BattleCategory,
    BattleMode,
    BattleStatus,
    Message,
    Model,
    Reaction,
    Vote,
    Voter,
    VoteReason,
    utcnow,
)
from arena.errors import ArenaError, StorageError
from arena.import_columns import (
    Block,
    category_rows,
    check_block,
    check_block_packed,
    joined,
    unpack_block,
)
from arena.import_rows import (
    Row,
    check_chunk,
    check_chunk_packed,
    voter_token,
)
from ratings.battlefile import (
    FORMATS,
    SCHEMAS,
    detect_format,
    detect_schema,
    file_columns,
    record_unit,
    records,
)
from ratings.errors import InvalidInputError

BATCH = 2000
PARALLEL_BYTES = 16 << 20
SQLITE_CACHE_KIB = 64 << 10
PG_SORT_MEMORY = "256MB"
MAX_PROBLEMS = 10_000
IMPORTED_PROVIDER = "imported"
#: Flags a file can carry that become ``battles.flag_moderation``.
MODERATION = frozenset({"moderation", "toxic_chat"})

Progress = Callable[[int], None]


class ImportFailed(ArenaError):
    """The import was rolled back; ``report`` says what was read before it stopped."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message, code="import_failed")
        self.report = report


@dataclass
class ImportReport:
    """What an import did. ``problems`` keeps the first :data:`MAX_PROBLEMS` refusals."""

    file: str
    unit: str = "line"  # how rows are numbered: "line" (JSONL, CSV) or "row"
    schema: str = ""
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    refused: int = 0
    #: Imported rows by flag (``moderation``, ``toxic_chat``): stored as flagged battles.
    flagged: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[int, str]] = field(default_factory=list)
    models_created: list[str] = field(default_factory=list)
    voters_created: int = 0
    bulk: bool = False  # indexes rebuilt after the load (see import_file)
    committed: bool = False

    def refuse(self, where: int, reason: str) -> None:
        self.refused += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((where, reason))

    def summary(self) -> str:
        state = "committed" if self.committed else "nothing written (rolled back)"
        flagged = sum(self.flagged.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.flagged.items()))
        flags = f", {flagged} of them flagged ({kinds}; left out of ratings)" if flagged else ""
        return (
            f"{self.file} ({self.schema or 'unknown'} layout): {self.rows} rows read: "
            f"{self.imported} imported{flags}, {self.duplicates} duplicates skipped, "
            f"{self.refused} refused; {state}"
        )

    def grouped(self, shown: int = 20) -> list[tuple[str, int, list[int]]]:
        """The refusals by reason, most frequent first: ``(reason, count, the first
        ``shown`` line or row numbers)`` (counted among the kept :attr:`problems`)."""
        by_reason: dict[str, list[int]] = {}
        for where, reason in self.problems:
            by_reason.setdefault(reason, []).append(where)
        ordered = sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[1][0]))
        return [(reason, len(where), where[:shown]) for reason, where in ordered]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "schema": self.schema,
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "flagged": dict(self.flagged),
            "refusals": [
                {"reason": reason, "rows": n, f"{self.unit}s": where}
                for reason, n, where in self.grouped()
            ],
            "problems": [{self.unit: w, "reason": r} for w, r in self.problems],
            "models_created": self.models_created,
            "voters_created": self.voters_created,
            "bulk": self.bulk,
            "committed": self.committed,
        }


# -- writing ------------------------------------------------------------------------


BATTLE_COLUMNS = (
    "id", "voter_id", "model_a_id", "model_b_id", "mode", "status", "language", "turns",
    "flag_identity", "flag_moderation", "created_at", "ready_at", "source_id", "meta",
    "prompt_source", "prompt_language",
)  # fmt: skip
CATEGORY_COLUMNS = ("battle_id", "category")
VOTE_COLUMNS = (
    "battle_id", "voter_id", "winner", "seconds_to_vote", "created_at", "voided", "void_reason",
    "comment",
)  # fmt: skip
REASON_COLUMNS = ("battle_id", "side", "tag")
REACTION_COLUMNS = ("battle_id", "turn", "side", "value", "created_at")
ANONY, NAMED, VOTED = BattleMode.ANONY.value, BattleMode.NAMED.value, BattleStatus.VOTED.value
MESSAGE_COLUMNS = (
    "battle_id", "side", "turn", "role", "content", "finish_reason", "num_tokens", "created_at",
)  # fmt: skip


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple] | bytes | memoryview
) -> None:
    """Insert many rows in the connection's transaction, the fastest way the database has.

    PostgreSQL: COPY (``rows`` may be bytes already in COPY's text format); SQLite: the
    driver's ``executemany``; other databases: SQLAlchemy's executemany. Values must
    already be what the column stores (enum values as text, SQLite times as text).
    """
    if not rows:
        return
    try:
        _bulk_insert(conn, table, columns, rows)
    except conn.dialect.loaded_dbapi.Error as exc:  # the raw paths bypass SQLAlchemy's wrapping
        raise StorageError(f"the database refused rows of {table.name}: {exc}") from exc


def insert_table(conn: Connection, table: Table, columns: Sequence[Any]) -> None:
    """Insert Arrow columns, in the order of the importer's column list for ``table``, as
    :func:`bulk_insert`'s rows (SQLite and other databases; PostgreSQL takes COPY text)."""
    names = {"battles": BATTLE_COLUMNS, "votes": VOTE_COLUMNS, "messages": MESSAGE_COLUMNS,
             "battle_categories": CATEGORY_COLUMNS}  # fmt: skip
    rows = list(zip(*(column.to_pylist() for column in columns), strict=True))
    bulk_insert(conn, table, names[table.name], rows)


def _pg_type(kind: Any) -> str:
    # Binary COPY needs each column's PostgreSQL type (enums are stored as VARCHAR).
    if isinstance(kind, TypeDecorator):  # e.g. a DateTime that converts to UTC
        kind = kind.impl
    if isinstance(kind, DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    for sa_type, pg in ((Boolean, "bool"), (Integer, "int4"), (Float, "float8"), (Text, "text")):
        if isinstance(kind, sa_type):
            return pg
    return "varchar"


def _bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple] | bytes | memoryview
) -> None:
    dialect = conn.dialect.name
    names = ", ".join(columns)
    if dialect == "postgresql" and isinstance(rows, bytes | memoryview):
        with (
            conn.connection.dbapi_connection.cursor() as cur,  # type: ignore[union-attr]
            cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            copy.write(rows)
    elif dialect == "postgresql":
        sql = f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)"
        with (
            conn.connection.dbapi_connection.cursor() as cur,  # type: ignore[union-attr]
            cur.copy(sql) as copy,
        ):
            copy.set_types([_pg_type(table.c[c].type) for c in columns])
            for row in rows:
                copy.write_row(row)
    elif dialect == "sqlite":
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            marks = ", ".join("?" * len(columns))
            cur.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        finally:
            cur.close()
    else:
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


class _Loader:
    """Inserts validated rows batch by batch on one connection (one transaction)."""

    def __init__(
        self, conn: Connection, report: ImportReport, source: str, *, empty: bool = False
    ) -> None:
        self.conn, self.report, self.source = conn, report, source
        # Into an empty database, the battle ids taken so far (as integers: 32 hex digits)
        # answer the duplicate check without a query per batch.
        self.seen: set[int] | None = set() if empty else None
        self.models: dict[str, int] = dict(conn.execute(select(Model.name, Model.id)).all())
        self.voters: dict[str, int] = {}

    def _among(self, column: Any, values: Iterable[str]) -> Any:
        """``column IN values``; on PostgreSQL one array parameter instead of thousands."""
        if self.conn.dialect.name == "postgresql":
            return column == any_(literal(list(values), ARRAY(String)))
        return column.in_(list(values))

    def _model_ids(self, names: set[str]) -> None:
        new = sorted(names - set(self.models))
        if not new:
            return
        now, note = utcnow(), f"imported from {self.source}"
        self.conn.execute(
            insert(Model),
            [
                dict(name=n, provider=IMPORTED_PROVIDER, weights="closed", description=note,
                     enabled=False, demo=False, created_at=now)
                for n in new
            ],
        )  # fmt: skip
        self.models.update(
            self.conn.execute(select(Model.name, Model.id).where(Model.name.in_(new))).all()
        )
        self.report.models_created += new

    def _voter_ids(self, judges: set[str]) -> None:
        want = {voter_token(j): j for j in judges if j not in self.voters}
        if not want:
            return
        # New voters come back with their ids; tokens already in the database (a judge
        # imported before) are skipped by the insert and looked up.
        insert_new = dialect_insert(self.conn.dialect.name)(Voter).on_conflict_do_nothing(
            index_elements=[Voter.token]
        )
        now = utcnow()
        created = self.conn.execute(
            insert_new.returning(Voter.token, Voter.id),
            [
                {"token": t, "ip_hash": None, "judge": j or None, "created_at": now}
                for t, j in want.items()
            ],
        ).all()
        for token, vid in created:
            self.voters[want.pop(token)] = vid
        self.report.voters_created += len(created)
        if want:
            found = self.conn.execute(
                select(Voter.token, Voter.id).where(self._among(Voter.token, want))
            )
            for token, vid in found:
                self.voters[want[token]] = vid

    def _taken(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` (distinct) are already stored, counted as duplicates; the
        others are taken from now on."""
        if self.seen is None:
            existing = set(self.conn.scalars(select(Battle.id).where(self._among(Battle.id, ids))))
        else:  # the database had no battles: only this import's own ids can repeat
            existing = {i for i in ids if int(i, 16) in self.seen}
            self.seen.update(int(i, 16) for i in ids if i not in existing)
        self.report.duplicates += len(existing)
        return existing

    def load(self, batch: list[Row]) -> None:
        if not batch:
            return
        fresh: dict[str, Row] = {}
        for row in batch:
            if row.id in fresh:
                self.report.duplicates += 1
            else:
                fresh[row.id] = row
        existing = self._taken(fresh)
        rows = [r for r in fresh.values() if r.id not in existing]
        if not rows:
            return
        self._model_ids({r.model_a for r in rows} | {r.model_b for r in rows})
        self._voter_ids({r.judge for r in rows})
        battles, votes, messages, reasons, reactions, tags = [], [], [], [], [], []
        copy_text = self.conn.dialect.name == "postgresql"
        for r in rows:
            voter, at = self.voters[r.judge], r.at
            mode = ANONY if r.anony else NAMED
            ids = (self.models[r.model_a], self.models[r.model_b])
            identity, moderation = "identity" in r.flags, bool(MODERATION.intersection(r.flags))
            battles.append(
                (r.id, voter, *ids, mode, VOTED, r.language, r.turns, identity, moderation,
                 at, at, r.source_id, r.meta, r.feedback.prompt_source,
                 r.feedback.prompt_language)
            )  # fmt: skip
            self.report.flagged.update(r.flags)
            votes.append((r.id, voter, r.winner, None, at, False, None, r.feedback.comment))
            if r.feedback.reasons or r.feedback.reactions:  # (an export's rows, some of them)
                reasons += [(r.id, side, tag) for side, tag in r.feedback.reasons]
                reactions += [(r.id, *reaction, at) for reaction in r.feedback.reactions]
            tags += [(r.id, category) for category in r.feedback.categories]
            if copy_text:
                messages.append(r.messages)
            else:
                messages += r.messages
        bulk_insert(self.conn, Battle.__table__, BATTLE_COLUMNS, battles)
        bulk_insert(self.conn, Vote.__table__, VOTE_COLUMNS, votes)
        bulk_insert(
            self.conn,
            Message.__table__,
            MESSAGE_COLUMNS,
            b"".join(messages) if copy_text else messages,
        )
        bulk_insert(self.conn, VoteReason.__table__, REASON_COLUMNS, reasons)
        bulk_insert(self.conn, Reaction.__table__, REACTION_COLUMNS, reactions)
        bulk_insert(self.conn, BattleCategory.__table__, CATEGORY_COLUMNS, tags)
        self.report.imported += len(rows)

    def load_block(self, block: Block) -> None:
        """A block's plain rows, as :mod:`arena.import_columns` made them (distinct ids;
        no flags, reasons or reactions). On PostgreSQL the worker wrote their COPY text
        but for the voter and model ids, put in here; elsewhere they are Arrow tables."""
        battles, messages = block.battles, block.messages
        if battles is None:
            return
        existing = self._taken(battles.column("id").to_pylist())
        if existing:
            taken = pa.array(sorted(existing))
            battles = battles.filter(pc.invert(pc.is_in(battles["id"], taken)))
            if messages is not None:
                messages = messages.filter(pc.invert(pc.is_in(messages["battle_id"], taken)))
        if not battles.num_rows:
            return
        names = pa.chunked_array([*battles["model_a"].chunks, *battles["model_b"].chunks])
        self._model_ids(set(pc.unique(names).to_pylist()))
        judges = battles["judge"].to_pylist()
        self._voter_ids(set(judges))
        voter = pa.array([self.voters[j] for j in judges], pa.int64())
        a, b = (
            pa.array([self.models[m] for m in battles[side].to_pylist()], pa.int64())
            for side in ("model_a", "model_b")
        )
        if messages is None:
            self._copy_lines(battles, voter, a, b)
        else:
            self._insert_tables(battles, messages, voter, a, b)
        self.report.imported += battles.num_rows

    def _copy_lines(self, battles: pa.Table, voter: pa.Array, a: pa.Array, b: pa.Array) -> None:
        ids, voter_text = battles["id"].combine_chunks(), pc.cast(voter, pa.string())
        tails = (battles["battle_tail"].combine_chunks(), battles["vote_tail"].combine_chunks())
        lines = pc.binary_join_element_wise(
            ids, voter_text, pc.cast(a, pa.string()), pc.cast(b, pa.string()), tails[0], "\t"
        )
        bulk_insert(self.conn, Battle.__table__, BATTLE_COLUMNS, joined(lines))
        lines = pc.binary_join_element_wise(ids, voter_text, tails[1], "\t")
        bulk_insert(self.conn, Vote.__table__, VOTE_COLUMNS, joined(lines))
        bulk_insert(self.conn, Message.__table__, MESSAGE_COLUMNS, joined(battles["messages"]))
        tags = joined(battles["category_lines"])
        bulk_insert(self.conn, BattleCategory.__table__, CATEGORY_COLUMNS, tags)

    def _insert_tables(
        self, battles: pa.Table, messages: pa.Table, voter: pa.Array, a: pa.Array, b: pa.Array
    ) -> None:
        n = battles.num_rows
        at, no, nothing = battles["at"], pa.repeat(False, n), pa.nulls(n, pa.string())
        columns = {
            "id": battles["id"], "voter_id": voter, "model_a_id": a, "model_b_id": b,
            "mode": battles["mode"], "status": pa.repeat(VOTED, n),
            "language": battles["language"], "turns": battles["turns"], "flag_identity": no,
            "flag_moderation": no, "created_at": at, "ready_at": at,
            "source_id": battles["source_id"], "meta": battles["meta"],
            "prompt_source": battles["prompt_source"],
            "prompt_language": battles["prompt_language"],
        }  # fmt: skip
        insert_table(self.conn, Battle.__table__, [columns[c] for c in BATTLE_COLUMNS])
        columns = {
            "battle_id": battles["id"], "voter_id": voter, "winner": battles["winner"],
            "seconds_to_vote": pa.nulls(n, pa.float64()), "created_at": at, "voided": no,
            "void_reason": nothing, "comment": battles["comment"],
        }  # fmt: skip
        insert_table(self.conn, Vote.__table__, [columns[c] for c in VOTE_COLUMNS])
        insert_table(self.conn, Message.__table__, [messages[c] for c in MESSAGE_COLUMNS])
        insert_table(self.conn, BattleCategory.__table__, category_rows(battles))


#: INSERT constructs that know ON CONFLICT, by dialect.

#: The tables an import fills: a bulk import rebuilds their secondary indexes.
BULK_TABLES = (Battle.__table__, Vote.__table__, Message.__table__)


def _all_keys(conn: Connection) -> list[Any]:
    """Every foreign key of the arena's tables."""
    return [fk for table in Battle.metadata.tables.values() for fk in table.foreign_keys]


def _drop_for_bulk(conn: Connection) -> Callable[[], None]:
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
    for fk in keys:
        conn.execute(DropConstraint(fk))
    for constraint in unique:
        conn.execute(DropConstraint(constraint))
    for ix in indexes:
        ix.drop(conn)

    def rebuild() -> None:
        for constraint in unique:
            conn.execute(AddConstraint(constraint))
        for ix in indexes:
            ix.create(conn)
        for fk in keys:
            conn.execute(AddConstraint(fk))

    return rebuild


@contextmanager
def _import_connection(
    engine: Engine, bulk: bool | None
) -> Iterator[tuple[Connection, bool, bool]]:
    """A connection for one import, whether the database has no battles yet, and whether
    the import loads in bulk (``bulk=None``: exactly when it has none).

    On SQLite the connection's page cache grows to :data:`SQLITE_CACHE_KIB` for the import
    (with the default 2 MB, a million battles' unique indexes no longer fit and each
    insert spills pages to the WAL and reads them back), and a bulk load turns
    foreign-key enforcement off: the loader inserts only references it has just looked up
    or created. CHECK constraints are not evaluated on SQLite: the loader writes only
    values of the enums they list, and SQLite would build each ``IN (...)`` list anew for
    every row (half the time of a battle's or a vote's insert). On PostgreSQL no statement
    is prepared (see below).
    """
    with engine.connect() as conn:
        empty = conn.scalar(select(Battle.id).limit(1)) is None
        conn.rollback()
        bulk = empty if bulk is None else bulk
        dbapi: Any = conn.connection.dbapi_connection
        dialect = conn.dialect.name
        pragmas: dict[str, int] = {}
        if dialect == "sqlite":
            pragmas = {"cache_size": -SQLITE_CACHE_KIB, "ignore_check_constraints": 1}
            if bulk:
                pragmas["foreign_keys"] = 0
        before = {name: dbapi.execute(f"PRAGMA {name}").fetchone()[0] for name in pragmas}
        for name, value in pragmas.items():
            dbapi.execute(f"PRAGMA {name}={value}")
        prepare = getattr(dbapi, "prepare_threshold", None)
        if dialect == "postgresql":
            # psycopg prepares a statement run five times; the generic plan PostgreSQL
            # keeps was made while the tables were small (a sequential scan), and they
            # grow during the import, so each later duplicate or voter lookup would
            # scan more.
            dbapi.prepare_threshold = None
        try:
            yield conn, empty, bulk
        finally:
            for name, value in before.items():  # the connection goes back to the pool
                dbapi.execute(f"PRAGMA {name}={value}")
            if dialect == "postgresql":
                dbapi.prepare_threshold = prepare


def _chunks(path: Path, fmt: str, size: int) -> Iterator[Any]:
    """The file's raw rows, ``size`` at a time."""
    chunk: list[tuple[int, Any]] = []
    for record in records(path, fmt):
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked(
    chunks: Iterator[Any], dialect: str, schema: str, workers: int, columnar: bool
) -> Iterator[Block]:
    """Each chunk checked, in order: with ``columnar`` (JSON lines) by
    :func:`arena.import_columns.check_block`, its plain rows as arrays; else row by row
    (:func:`check_chunk`). With ``workers``, worker processes check a few chunks ahead
    while this process writes: decoding and validating are about half of an import's
    work, and the database's half stays here."""
    if not workers:
        for chunk in chunks:
            if columnar:
                yield check_block(chunk, dialect, schema)
            else:
                yield Block(None, None, check_chunk(chunk, dialect, schema))
        return
    check = check_block_packed if columnar else check_chunk_packed
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[Future] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(check, chunk, dialect, schema))
            if len(pending) > 2 * workers:
                yield _unpacked(pending.popleft().result(), columnar)
        while pending:
            yield _unpacked(pending.popleft().result(), columnar)
    finally:
        pool.shutdown(cancel_futures=True)


def _unpacked(data: bytes, columnar: bool) -> Block:
    """A chunk a worker checked. The cyclic garbage collector is held off while it is
    unpickled: the chunk's tens of thousands of new tuples would start many collections
    over objects that cannot form cycles (about half the unpickling time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return unpack_block(data) if columnar else Block(None, None, pickle.loads(data))
    finally:
        if collecting:
            gc.enable()


#: Validating worker processes for a big file on a machine with more than one CPU. Two on
#: two cores beat one by 10-15 % (100,000 votes: PostgreSQL 15,100 -> 16,900 rows/s,
#: SQLite 13,600 -> 15,300): validating is the slowest part, and a worker waits while the
#: importing process or the database takes the CPU.
MAX_WORKERS = 2


def _workers(path: Path) -> int:
    """Worker processes for a file big enough to repay starting them, given a spare CPU."""
    cpus = os.cpu_count() or 1
    return min(MAX_WORKERS, cpus) if cpus > 1 and path.stat().st_size >= PARALLEL_BYTES else 0


def import_file(
    engine: Engine,
    path: str | Path,
    *,
    fmt: str | None = None,
    schema: str | None = None,
    strict: bool = False,
    dry_run: bool = False,
    bulk: bool | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    on_commit: Callable[[Connection, ImportReport], None] | None = None,
    batch_size: int = BATCH,
    columnar: bool | None = None,
) -> ImportReport:
    """Import ``path`` in one transaction and return the report.

    ``schema`` (one of :data:`ratings.battlefile.SCHEMAS`) is detected from the file's
    columns when not given. Raises :class:`ImportFailed` (after rolling back) when the
    file cannot be read as a whole, every row of it is refused, the database fails, or
    ``strict`` is set and a row was refused.
    ``on_commit`` runs inside the transaction just before it commits (e.g. an audit row).
    ``dry_run`` validates and inserts, then rolls back. ``bulk`` (default: when the
    database has no battles) drops and rebuilds indexes around the load; on PostgreSQL
    it locks the tables until the commit. ``workers``: processes that validate (default:
    :data:`MAX_WORKERS` for a file of 16 MB or more, given more than one CPU).
    ``columnar`` (default: for JSON lines of FastChat's layout) checks blocks of JSON
    lines as arrays (:mod:`arena.import_columns`); the stored rows are the same.
    """
    path = Path(path)
    report = ImportReport(file=path.name)
    try:
        fmt = fmt or detect_format(path)
        if fmt not in FORMATS:
            raise ArenaError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
        if schema is not None and schema not in SCHEMAS:
            raise ArenaError(f"unknown schema {schema!r} (use {', '.join(SCHEMAS)})")
        report.unit = record_unit(fmt)
        report.schema = schema = schema or detect_schema(file_columns(path, fmt))
        workers = _workers(path) if workers is None else workers
        with _import_connection(engine, bulk) as (conn, empty, report.bulk):
            trans = conn.begin()
            try:
                dialect = conn.dialect.name
                if dialect == "sqlite":  # the driver would run the bulk DDL outside it
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                rebuild = _drop_for_bulk(conn) if report.bulk else None
                # Should a battle arrive between the check and here, its id is a primary
                # key violation on insert: the import rolls back, nothing is lost.
                loader = _Loader(conn, report, path.name, empty=empty)
                batch: list[Row] = []
                if columnar is None:
                    columnar = fmt == "jsonl" and schema == "fastchat"
                columnar = columnar and fmt == "jsonl"
                chunks = _chunks(path, fmt, batch_size)
                for block in _checked(chunks, dialect, schema, workers, columnar):
                    for item in block.others:
                        report.rows += 1
                        if isinstance(item, Row):
                            batch.append(item)
                        else:
                            report.refuse(*item)
                    if block.battles is not None:
                        # The rows before these first: the first of a repeated id wins.
                        loader.load(batch)
                        batch = []
                        report.rows += block.battles.num_rows
                        loader.load_block(block)
                    if len(batch) >= batch_size:
                        loader.load(batch)
                        batch = []
                    if progress:
                        progress(report.rows)
                if batch:
                    loader.load(batch)
                if rebuild:
                    rebuild()
                if report.rows and report.refused == report.rows:
                    raise ArenaError(
                        f"every row ({report.rows}) was refused: nothing to import",
                        code="import_refused",
                    )
                if strict and report.refused:
                    raise ArenaError(
                        f"{report.refused} row(s) refused and --strict is set",
                        code="import_strict",
                    )
                if dry_run:
                    trans.rollback()
                    return report
                if on_commit:
                    on_commit(conn, report)
                trans.commit()
            except BaseException:
                trans.rollback()
                raise
        report.committed = True
        return report
    except StorageError as exc:
        raise ImportFailed(f"database error, import rolled back: {exc}", report) from exc
    except ArenaError as exc:
        raise ImportFailed(f"import refused: {exc}", report) from exc
    except InvalidInputError as exc:  # the shared reader: unknown layout, unreadable file
        raise ImportFailed(f"cannot read {path}: {exc}", report) from exc
    except SQLAlchemyError as exc:
        raise ImportFailed(f"database error, import rolled back: {exc}", report) from exc
    except BrokenProcessPool as exc:
        raise ImportFailed(
            "the validating worker process stopped, import rolled back (a script that "
            'calls import_file needs an `if __name__ == "__main__":` guard)',
            report,
        ) from exc
    except (OSError, ValueError) as exc:
        # pyarrow's errors for a truncated or corrupt Parquet file are OSError/ValueError.
        raise ImportFailed(f"cannot read {path}: {exc}", report) from exc
