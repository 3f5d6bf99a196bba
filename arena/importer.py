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
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from arena.db.models import (
    Battle,
)
from arena.errors import ArenaError, StorageError
from arena.import_blocks import Block, check_block, check_block_packed, unpack_block
from arena.import_bulk import drop_for_bulk
from arena.import_load import Loader
from arena.import_report import ImportFailed, ImportReport
from arena.import_rows import (
    Row,
    check_chunk,
    check_chunk_packed,
)
from ratings.battlefile import (
    FORMATS,
    SCHEMAS,
    detect_format,
    detect_schema,
    file_columns,
    jsonl_span,
    jsonl_spans,
    record_unit,
    records,
)
from ratings.errors import InvalidInputError

BATCH = 2000
PARALLEL_BYTES = 16 << 20
SQLITE_CACHE_KIB = 64 << 10

Progress = Callable[[int], None]


@contextmanager
def import_connection(engine: Engine, bulk: bool | None) -> Iterator[tuple[Connection, bool, bool]]:
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
    path: Path, fmt: str, size: int, dialect: str, schema: str, workers: int, columnar: bool
) -> Iterator[Block]:
    """The file's rows, ``size`` at a time, each chunk checked, in order: with ``columnar``
    (JSON lines) by :func:`arena.import_columns.check_block`, its plain rows as arrays;
    else row by row (:func:`check_chunk`). With ``workers``, worker processes check a few
    chunks ahead while this process writes: decoding and validating are about half of an
    import's work, and the database's half stays here. A worker reads its own JSON lines
    (this process only finds where each chunk starts), so they never cross a pipe."""
    if not workers:
        for chunk in _chunks(path, fmt, size):
            if columnar:
                yield check_block(chunk, dialect, schema)
            else:
                yield Block(None, None, check_chunk(chunk, dialect, schema))
        return
    check = check_block_packed if columnar else check_chunk_packed
    if fmt == "jsonl":
        jobs: Iterator[tuple] = (
            (_check_span, path, span, check, dialect, schema) for span in jsonl_spans(path, size)
        )
    else:
        jobs = ((check, chunk, dialect, schema) for chunk in _chunks(path, fmt, size))
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[Future] = deque()
    try:
        for job in jobs:
            pending.append(pool.submit(*job))
            if len(pending) > 2 * workers:
                yield _unpacked(pending.popleft().result(), columnar)
        while pending:
            yield _unpacked(pending.popleft().result(), columnar)
    finally:
        pool.shutdown(cancel_futures=True)


def _check_span(
    path: Path, span: tuple[int, int, int], check: Callable[..., bytes], dialect: str, schema: str
) -> bytes:
    """In a worker process: ``check`` one of :func:`ratings.battlefile.jsonl_spans`."""
    return check(jsonl_span(path, *span), dialect, schema)


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
        with import_connection(engine, bulk) as (conn, empty, report.bulk):
            trans = conn.begin()
            try:
                dialect = conn.dialect.name
                if dialect == "sqlite":  # the driver would run the bulk DDL outside it
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                rebuild = drop_for_bulk(conn) if report.bulk else None
                # Should a battle arrive between the check and here, its id is a primary
                # key violation on insert: the import rolls back, nothing is lost.
                loader = Loader(conn, report, path.name, empty=empty, bulk=report.bulk)
                batch: list[Row] = []
                if columnar is None:
                    columnar = fmt == "jsonl" and schema == "fastchat"
                columnar = columnar and fmt == "jsonl"
                blocks = _checked(path, fmt, batch_size, dialect, schema, workers, columnar)
                for block in blocks:
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
